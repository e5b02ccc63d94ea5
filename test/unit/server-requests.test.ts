// Requests an upstream sends to the caller, beneath the e2e test: found on SSE streams
// split anywhere and in batches, audited one event each, passed on a server without a
// policy; a client's own messages with those method names are not mistaken for them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { GatewayRuntime } from '../../src/gateway/runtime.js';
import { Exchange } from '../../src/gateway/exchange.js';
import { MemoryAuditSink } from '../../src/audit/sink.js';
import type { Verdict } from '../../src/gateway/verdict.js';
import { createPolicyInputBuilder } from '../../src/policy/input.js';
import { splitAt } from '../support/chunks.js';
import { inputRequestsOf } from '../../src/gateway/server-request-step.js';
import { ANSWER_TICKET_HEADER, issueTicket, listenerBase, redeemTicket } from '../../src/gateway/server-answer.js';

/** Without an external guardrail every verdict is synchronous. */
function syncVerdict(v: Verdict | Promise<Verdict>): Verdict {
  assert.ok(!(v instanceof Promise), 'a synchronous verdict');
  return v as Verdict;
}

const config = parseConfig('servers:\n  - name: s\n    url: http://127.0.0.1:1/mcp\n    tools:\n      deny: ["secret"]\n');
const H = { ':method': 'POST', ':path': '/mcp/s', ':authority': 'localhost:10000', 'content-type': 'application/json' };

async function stream(audit: MemoryAuditSink, chunks: Buffer[], version?: string): Promise<string> {
  const ex = new Exchange(new GatewayRuntime(config, audit, undefined));
  const meta = version === undefined ? {} : { _meta: { 'io.modelcontextprotocol/protocolVersion': version } };
  const headers = version === undefined ? H : { ...H, 'mcp-protocol-version': version, 'mcp-method': 'tools/call', 'mcp-name': 'ask' };
  await ex.requestHeaders(headers, false, { clientAddress: '127.0.0.1' });
  const decided = syncVerdict(ex.requestBody(Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'ask', arguments: {}, ...meta } }))));
  assert.equal(decided.kind, 'continue', JSON.stringify(decided));
  ex.responseHeaders({ ':status': '200', 'content-type': 'text/event-stream' }, false);
  let out = '';
  chunks.forEach((c, i) => {
    const v = syncVerdict(ex.responseBody(c, i === chunks.length - 1));
    if (v.kind === 'continue') out += v.body === undefined ? c.toString() : v.body === 'clear' ? '' : Buffer.from(v.body).toString();
  });
  return out;
}

describe('server-initiated requests', () => {
  const events = Buffer.from(
    [
      `id: 1\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 'srv-1', method: 'sampling/createMessage', params: { messages: [], maxTokens: 5 } })}\n\n`,
      `id: 2\ndata: ${JSON.stringify([{ jsonrpc: '2.0', id: 7, method: 'roots/list' }, { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } }])}\n\n`,
      `id: 3\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'elicitation/create' })}\n\n`,
      `id: 4\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [] } })}\n\n`,
    ].join(''),
  );

  it('without a policy they pass unchanged, split at every byte, and each request is audited once (a notification-shaped one is not a request)', async () => {
    for (let cut = 0; cut <= events.length; cut += 3) {
      const audit = new MemoryAuditSink();
      const out = await stream(audit, splitAt(events, [cut]));
      assert.equal(out, events.toString(), `cut ${cut}`);
      const reqs = audit.events.filter((e) => e.type === 'mcp.server_request');
      assert.deepEqual(reqs.map((e) => [e.rpc?.method, e.rpc?.id, e.decision]), [['sampling/createMessage', 'srv-1', 'allow'], ['roots/list', 7, 'allow']], `cut ${cut}`);
      assert.equal(reqs[0]!.server, 's');
    }
  });

  it('the policy input says who sent the message', () => {
    const build = createPolicyInputBuilder();
    const base = { http: { method: 'POST', path: '/mcp/s', host: 'h', headers: {} }, sourceAddress: undefined, identity: { subject: 'a', issuer: null, groups: [], scopes: [], claims: {}, method: 'jwt' }, server: 's', protocolVersion: undefined, sessionId: undefined };
    const msg = { kind: 'request' as const, id: 1, method: 'sampling/createMessage', params: {}, body: {} };
    assert.equal(build({ ...base, message: msg }).mcp.direction, 'client_to_server');
    assert.equal(build({ ...base, message: msg, direction: 'server_to_client' }).mcp.direction, 'server_to_client');
  });

  it('2026-07-28: the requests of an input_required result pass without a policy, split at every byte, each audited once by its key', async () => {
    const inputRequests = { sample: { method: 'sampling/createMessage', params: { messages: [], maxTokens: 5 } }, where: { method: 'roots/list' } };
    const body = Buffer.from(`id: 1\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 1, result: { resultType: 'input_required', inputRequests, requestState: 'opaque' } })}\n\n`);
    for (let cut = 0; cut <= body.length; cut += 5) {
      const audit = new MemoryAuditSink();
      const out = await stream(audit, splitAt(body, [cut]), '2026-07-28');
      assert.equal(out, body.toString(), `cut ${cut}`);
      const reqs = audit.events.filter((e) => e.type === 'mcp.server_request');
      assert.deepEqual(reqs.map((e) => [e.rpc?.method, e.rpc?.id, e.decision, e.input_request, e.protocol_version]), [['sampling/createMessage', 'sample', 'allow', true, '2026-07-28'], ['roots/list', 'where', 'allow', true, '2026-07-28']], `cut ${cut}`);
    }
  });

  it('2026-07-28: an input_required result whose request has no method is replaced by an error (the client could not fulfil it)', async () => {
    const audit = new MemoryAuditSink();
    const out = await stream(audit, [Buffer.from(`data: ${JSON.stringify({ jsonrpc: '2.0', id: 1, result: { resultType: 'input_required', inputRequests: { x: { params: {} } } } })}\n\n`)], '2026-07-28');
    const msg = JSON.parse(out.replace(/^data: /, '')) as { id: number; error: { message: string; data: { reason: string } } };
    assert.equal(msg.id, 1);
    assert.match(msg.error.message, /input request "x" has no method/);
    const ev = audit.events.find((e) => e.type === 'mcp.request')!;
    assert.equal(ev.reason, 'response_uninspectable');
  });

  it('inputRequestsOf: only input_required results, each request by its key', () => {
    assert.equal(inputRequestsOf({ content: [] }), undefined);
    assert.equal(inputRequestsOf({ resultType: 'complete', inputRequests: { a: { method: 'roots/list' } } }), undefined);
    assert.deepEqual(inputRequestsOf({ resultType: 'input_required', requestState: 's' }), []);
    assert.deepEqual(inputRequestsOf({ resultType: 'input_required', inputRequests: { a: { method: 'roots/list' }, b: { method: 'elicitation/create', params: { message: 'm' } } } }), [
      { id: 'a', method: 'roots/list', params: undefined, via: 'input_required' },
      { id: 'b', method: 'elicitation/create', params: { message: 'm' }, via: 'input_required' },
    ]);
    assert.deepEqual(inputRequestsOf({ resultType: 'input_required', inputRequests: [] }), { problem: 'its inputRequests is not an object' });
    assert.deepEqual(inputRequestsOf({ resultType: 'input_required', inputRequests: { a: 'roots/list' } }), { problem: 'its input request "a" has no method' });
  });

  it('gateway answers: a ticket is good once, for its server, before it expires; anything else is refused with answer_forged', async () => {
    const t0 = Date.now();
    const t = issueTicket('s', '{"a":1}', t0);
    assert.equal(redeemTicket(t, 'other', t0), undefined, 'another server');
    assert.equal(redeemTicket(t, 's', t0), undefined, 'a ticket is spent by any try');
    const u = issueTicket('s', '{"a":1}', t0);
    assert.equal(redeemTicket(u, 's', t0 + 10_001), undefined, 'expired');
    const v = issueTicket('s', '{"a":1}', t0);
    assert.equal(redeemTicket(v, 's', t0 + 100)?.toString(), '{"a":1}');
    // Through an exchange: the body must be the one the ticket was issued for.
    const w = issueTicket('s', '{"jsonrpc":"2.0","id":3,"error":{"code":-32003,"message":"no"}}');
    const audit = new MemoryAuditSink();
    const ex = new Exchange(new GatewayRuntime(config, audit, undefined));
    const h = syncVerdict(await ex.requestHeaders({ ...H, [ANSWER_TICKET_HEADER]: w }, false, { clientAddress: '127.0.0.1' }));
    assert.deepEqual(h, { kind: 'continue', headers: { remove: [ANSWER_TICKET_HEADER] } });
    const b = syncVerdict(ex.requestBody(Buffer.from('{"jsonrpc":"2.0","id":3,"result":{}}')));
    assert.equal(b.kind, 'respond');
    assert.equal((b as { status: number }).status, 403);
    assert.equal(audit.events[0]!.reason, 'answer_forged');
  });

  it('gateway answers go to the listener on loopback, unless it has TLS', () => {
    const at = (listen: string, tls = '') => listenerBase(parseConfig(`gateway:\n  listen: "${listen}"\n${tls}servers:\n  - name: s\n    url: http://127.0.0.1:1/mcp\n`));
    assert.equal(at('0.0.0.0:10000'), 'http://127.0.0.1:10000');
    assert.equal(at('127.0.0.1:8080'), 'http://127.0.0.1:8080');
  });
});
