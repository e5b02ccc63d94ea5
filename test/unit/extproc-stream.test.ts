// Scripted ext_proc streams: ProcessingRequests in, ProcessingResponses out,
// through the real gRPC server (adapter + core), without Envoy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { externalProcessorService } from '../../src/extproc/proto.js';
import { EXCHANGE_MODE } from '../../src/extproc/builders.js';
import { startExtProcServer, type ExtProcServer } from '../../src/extproc/server.js';
import { GatewayRuntime } from '../../src/gateway/runtime.js';
import { MemoryAuditSink } from '../../src/audit/sink.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/telemetry/log.js';
import type { ProcessingRequest, ProcessingResponse } from '../../src/extproc/messages.js';

const audit = new MemoryAuditSink();
let server: ExtProcServer;
let client: grpc.Client & { Process: () => grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse> };

before(async () => {
  const config = parseConfig(`servers:\n  - name: s\n    url: http://127.0.0.1:1/mcp\n    tools:\n      deny: [secret-*]\n  - name: open\n    url: http://127.0.0.1:1/mcp\n`);
  const rt = new GatewayRuntime(config, audit, undefined);
  server = await startExtProcServer({ kind: 'tcp', host: '127.0.0.1', port: 0 }, () => rt, createLogger('silent'));
  const Ctor = grpc.makeGenericClientConstructor(externalProcessorService(), 'ExternalProcessor');
  client = new Ctor(server.address, grpc.credentials.createInsecure()) as never;
});
after(async () => {
  client.close();
  await server.shutdown(100);
});

const hdrs = (h: Record<string, string>) => ({ headers: { headers: Object.entries(h).map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) } });
const reqHeaders = (extra: Record<string, string> = {}) =>
  ({ request_headers: { ...hdrs({ ':method': 'POST', ':path': '/mcp/s', ':authority': 'localhost:10000', 'x-request-id': 'rid-1', ...extra }), end_of_stream: false } }) as ProcessingRequest;
const reqBody = (json: unknown) => ({ request_body: { body: Buffer.from(JSON.stringify(json)), end_of_stream: true } }) as ProcessingRequest;
const respHeaders = (ct: string) => ({ response_headers: { ...hdrs({ ':status': '200', 'content-type': ct }), end_of_stream: false } }) as ProcessingRequest;
const respBody = (s: string | Buffer, eos: boolean) => ({ response_body: { body: Buffer.isBuffer(s) ? s : Buffer.from(s), end_of_stream: eos } }) as ProcessingRequest;

/** Sends each request after the previous reply; returns the replies (and the final status). */
async function script(reqs: ProcessingRequest[]): Promise<{ replies: ProcessingResponse[]; error?: grpc.ServiceError }> {
  const call = client.Process();
  const replies: ProcessingResponse[] = [];
  const done = new Promise<grpc.ServiceError | undefined>((resolve) => {
    call.on('error', (e: grpc.ServiceError) => resolve(e));
    call.on('end', () => resolve(undefined));
  });
  let next: (r: ProcessingResponse) => void = () => undefined;
  call.on('data', (r: ProcessingResponse) => {
    replies.push(r);
    next(r);
  });
  for (const r of reqs) {
    const got = new Promise<ProcessingResponse | undefined>((resolve) => {
      next = resolve;
      void done.then(() => resolve(undefined));
    });
    call.write(r);
    if (!(await got)) break;
  }
  call.end();
  const error = await done;
  return error ? { replies, error } : { replies };
}

test('a tools/list answered over SSE is streamed, and an event split across chunks is re-emitted whole and filtered', async () => {
  const list = JSON.stringify({ jsonrpc: '2.0', id: 7, result: { tools: [{ name: 'echo' }, { name: 'secret-key' }], nextCursor: 'n' } });
  const sse = `event: message\nid: e1\ndata: ${list}\n\n`;
  const cut = sse.indexOf('secret') + 3;
  const { replies } = await script([reqHeaders(), reqBody({ jsonrpc: '2.0', id: 7, method: 'tools/list' }), respHeaders('text/event-stream'), respBody(sse.slice(0, cut), false), respBody(sse.slice(cut), true)]);
  assert.equal(replies.length, 5);
  assert.equal(replies[2]!.mode_override?.response_body_mode, 'STREAMED');
  const first = replies[3]!.response_body!.response!.body_mutation!;
  assert.ok('clear_body' in first && first.clear_body, 'the partial event is held back');
  const second = replies[4]!.response_body!.response!.body_mutation!;
  assert.ok('body' in second);
  const text = Buffer.from(second.body).toString();
  assert.match(text, /^event: message\nid: e1\ndata: /);
  const data = JSON.parse(text.split('\n').find((l) => l.startsWith('data: '))!.slice(6));
  assert.deepEqual(data.result, { tools: [{ name: 'echo' }], nextCursor: 'n' });
  const ev = audit.events.find((e) => e.request_id === 'rid-1' && e.rpc?.id === 7)!;
  assert.deepEqual(ev.filtered, { returned: 2, visible: 1 });
});

test('a JSON tools/list is buffered and replaced with a correct content-length', async () => {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 8, result: { tools: [{ name: 'secret-a' }, { name: 'b' }] } });
  const { replies } = await script([reqHeaders(), reqBody({ jsonrpc: '2.0', id: 8, method: 'tools/list' }), respHeaders('application/json'), respBody(body, true)]);
  assert.equal(replies[2]!.mode_override?.response_body_mode, 'BUFFERED');
  const common = replies[3]!.response_body!.response!;
  const out = Buffer.from((common.body_mutation as { body: Buffer }).body);
  assert.deepEqual(JSON.parse(out.toString()).result.tools, [{ name: 'b' }]);
  const cl = common.header_mutation!.set_headers!.find((h) => h.header.key === 'content-length')!;
  assert.equal(Buffer.from(cl.header.raw_value).toString(), String(out.length));
});


test('on an open server an exchange costs one plain reply per phase; the request-headers reply asks for response headers', async () => {
  const { replies } = await script([reqHeaders({ ':path': '/mcp/open' }), reqBody({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'echo' } }), respHeaders('text/event-stream')]);
  // (the decoded replies also name their oneof case in `response`)
  assert.deepEqual(replies, [
    { request_headers: {}, response: 'request_headers', mode_override: EXCHANGE_MODE },
    { request_body: {}, response: 'request_body' },
    { response_headers: {}, response: 'response_headers' },
  ]);
});

test('on a curated server every SSE answer is inspected (streamed), not only list answers', async () => {
  const { replies } = await script([reqHeaders(), reqBody({ jsonrpc: '2.0', id: 19, method: 'tools/call', params: { name: 'echo' } }), respHeaders('text/event-stream')]);
  assert.deepEqual(replies[2]!.mode_override, { ...EXCHANGE_MODE, response_body_mode: 'STREAMED' });
});

test('request trailers are removed, whatever they are called', async () => {
  const { replies } = await script([
    reqHeaders(),
    { request_body: { body: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 20, method: 'ping' })), end_of_stream: false } } as ProcessingRequest,
    { request_trailers: { trailers: { headers: [{ key: 'authorization', raw_value: Buffer.from('Bearer x') }, { key: 'x-any', raw_value: Buffer.from('1') }] } } } as ProcessingRequest,
  ]);
  assert.equal(replies[1]!.immediate_response, undefined, 'a buffered body followed by trailers is complete, not "too large"');
  assert.deepEqual(replies[2]!.request_trailers!.header_mutation!.remove_headers, ['authorization', 'x-any']);
});

test('Envoy answering before the request was decided (a local reply) passes through and is audited as such', async () => {
  const before = audit.events.length;
  const { replies, error } = await script([{ response_headers: { ...hdrs({ ':status': '426' }), end_of_stream: false } } as ProcessingRequest]);
  assert.equal(error, undefined);
  assert.deepEqual(replies, [{ response_headers: {}, response: 'response_headers' }]);
  const ev = audit.events.slice(before);
  assert.equal(ev.length, 1);
  assert.equal(ev[0]!.type, 'http.local_reply');
  assert.equal(ev[0]!.http.status, 426);
  assert.equal(ev[0]!.decision, 'deny');
});

test('a hidden tool gets an immediate JSON-RPC error with the request id', async () => {
  const { replies } = await script([reqHeaders(), reqBody({ jsonrpc: '2.0', id: 'abc', method: 'tools/call', params: { name: 'secret-key', arguments: { token: 'x' } } })]);
  const ir = replies[1]!.immediate_response!;
  assert.equal(ir.status.code, 200);
  const body = JSON.parse(Buffer.from(ir.body!).toString());
  assert.equal(body.id, 'abc');
  assert.equal(body.error.code, -32602);
  const ev = audit.events.find((e) => e.rpc?.id === 'abc')!;
  assert.deepEqual(ev.arguments, { token: '[REDACTED]' });
  assert.equal(ev.reason, 'not_curated');
});

test('internal headers sent by a caller are stripped', async () => {
  const { replies } = await script([reqHeaders({ 'x-mcp-gateway-identity': 'admin' })]);
  assert.deepEqual(replies[0]!.request_headers!.response!.header_mutation!.remove_headers, ['x-mcp-gateway-identity']);
});

test('the caller\'s cookie is stripped even without authentication', async () => {
  const { replies } = await script([reqHeaders({ cookie: 'session=abc' })]);
  assert.deepEqual(replies[0]!.request_headers!.response!.header_mutation!.remove_headers, ['cookie']);
});

test('an out-of-order phase fails the stream closed, and the exchange is still audited once', async () => {
  const before = audit.events.length;
  const { error } = await script([respBody('x', true)]);
  assert.equal(error?.code, grpc.status.INTERNAL);
  assert.equal(audit.events.length, before + 1);
});

test('a stream that ends before the upstream answers is audited once', async () => {
  const before = audit.events.length;
  await script([reqHeaders({ 'x-request-id': 'rid-cut' }), reqBody({ jsonrpc: '2.0', id: 10, method: 'ping' })]);
  await new Promise((r) => setTimeout(r, 50));
  const evs = audit.events.slice(before).filter((e) => e.request_id === 'rid-cut');
  assert.equal(evs.length, 1);
  assert.equal(evs[0]!.upstream_status, undefined);
});
