// What the ext_proc codecs cost per tools/call, in-process: @grpc/proto-loader's
// (protobufjs reflection: decode, then toObject with the loader's options; fromObject,
// then encode) against the floor a precompiled codec could reach (protobufjs's decode and
// encode of message instances alone, with no object conversion). One tools/call is four
// messages each way (request headers, request body, response headers, and the replies).
//   node --import tsx bench/codec-cost.ts [--iterations N]
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { externalProcessorService, protoRoot } from '../src/extproc/proto.js';
import { toProcessingResponse } from '../src/extproc/builders.js';
import { CONTINUE } from '../src/gateway/verdict.js';

const { values } = parseArgs({ options: { iterations: { type: 'string' } } });
const N = Number(values.iterations ?? 50_000);

const header = (key: string, value: string) => ({ key, raw_value: Buffer.from(value, 'latin1') });
const headers = [
  header(':authority', '127.0.0.1:10000'), header(':path', '/mcp/json'), header(':method', 'POST'), header(':scheme', 'http'),
  header('content-type', 'application/json'), header('accept', 'application/json, text/event-stream'), header('content-length', '120'),
  header('authorization', `Bearer ${'x'.repeat(600)}`), header('mcp-session-id', 'mgs1.abc.' + 'y'.repeat(60)), header('mcp-protocol-version', '2025-11-25'),
  header('x-forwarded-proto', 'http'), header('x-request-id', '2f0c7f4e-4f9a-4d7e-9d43-0b0e3d0a8c11'),
];
const attributes = { 'envoy.filters.http.ext_proc': { fields: { 'source.address': { stringValue: '127.0.0.1:53412' } } } };
const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello' } } }));
const requests = [
  { request_headers: { headers: { headers }, end_of_stream: false }, attributes },
  { request_body: { body, end_of_stream: true } },
  { response_headers: { headers: { headers: [header(':status', '200'), header('content-type', 'application/json'), header('mcp-session-id', 'upstream-1')] } } },
];
const replies = [toProcessingResponse('request_headers', CONTINUE), toProcessingResponse('request_body', CONTINUE), toProcessingResponse('response_headers', { kind: 'continue', headers: { set: [['mcp-session-id', 'mgs1.sealed']] } })];

const method = externalProcessorService().Process!;
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(protoRoot(), target);
root.loadSync('envoy/service/ext_proc/v3/external_processor.proto', { keepCase: true });
const Req = root.lookupType('envoy.service.ext_proc.v3.ProcessingRequest');
const Res = root.lookupType('envoy.service.ext_proc.v3.ProcessingResponse');

const wireRequests = requests.map((r) => method.requestSerialize(r));
const wireReplies = replies.map((r) => method.responseSerialize(r));
const instances = replies.map((r) => Res.fromObject(r));

function time(label: string, fn: () => void): number {
  for (let i = 0; i < N / 10; i++) fn();
  // CPU time, not wall time: the machine is shared, and a descheduled loop is not slower code.
  const t0 = process.cpuUsage();
  for (let i = 0; i < N; i++) fn();
  const d = process.cpuUsage(t0);
  const us = (d.user + d.system) / N;
  process.stdout.write(`${label.padEnd(64)} ${us.toFixed(2).padStart(7)} µs per tools/call\n`);
  return us;
}

const loader = time('proto-loader: decode 3 requests + encode 3 replies', () => {
  for (const w of wireRequests) method.requestDeserialize(w);
  for (const r of replies) method.responseSerialize(r);
});
const floor = time('protobufjs decode/encode of instances (a precompiled floor)', () => {
  for (const w of wireRequests) Req.decode(w);
  for (const m of instances) Res.encode(m).finish();
});
process.stdout.write(`\nper tools/call: loader ${loader.toFixed(1)} µs, floor ${floor.toFixed(1)} µs: at most ${(loader - floor).toFixed(1)} µs to gain (${wireReplies.reduce((n, b) => n + b.length, 0)} B of replies)\n`);
