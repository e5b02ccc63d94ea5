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

/** Without an external guardrail every verdict is synchronous. */
function syncVerdict(v: Verdict | Promise<Verdict>): Verdict {
  assert.ok(!(v instanceof Promise), 'a synchronous verdict');
  return v as Verdict;
}

const config = parseConfig('servers:\n  - name: s\n    url: http://127.0.0.1:1/mcp\n    tools:\n      deny: ["secret"]\n');
const H = { ':method': 'POST', ':path': '/mcp/s', ':authority': 'localhost:10000', 'content-type': 'application/json' };

async function stream(audit: MemoryAuditSink, chunks: Buffer[]): Promise<string> {
  const ex = new Exchange(new GatewayRuntime(config, audit, undefined));
  await ex.requestHeaders(H, false, { clientAddress: '127.0.0.1' });
  ex.requestBody(Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'ask', arguments: {} } })));
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
});
