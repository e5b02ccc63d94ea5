// Secrets through the real Envoy and sidecar: what the audit trail records of secret
// arguments, and whether the caller's cookies reach the upstream.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, everythingServerFactory, type RunningUpstream } from '../../examples/upstream.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';

let upstream: RunningUpstream;
let gw: RunningGateway;

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res;
}

async function initialize(url: string, headers: Record<string, string> = {}): Promise<Record<string, string>> {
  const res = await post(url, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'secrets', version: '1' } } }, headers);
  assert.equal(res.status, 200);
  const session = { 'mcp-session-id': res.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
  await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { ...headers, ...session });
  return session;
}

before(async () => {
  upstream = await startUpstream({ createServer: await everythingServerFactory(), jsonResponse: true });
  gw = await startGateway({
    config: {
      // No auth section: anonymous callers, so no credential headers but the cookie.
      servers: [
        { name: 'plain', url: upstream.url },
        { name: 'cookies', url: upstream.url, forward_cookies: true },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  await upstream?.close();
});

describe('audit redaction', () => {
  test('a tools/call with a disguised secret argument has no clear value in the audit event', async () => {
    const url = gw.url('plain');
    const session = await initialize(url);
    const res = await post(url, { jsonrpc: '2.0', id: 41, method: 'tools/call', params: { name: 'echo', arguments: { message: 'hi', db_password: 'hunter2', 'Client\u200bSecret': 'swordfish', note: 'Bearer abcdefghijklmnopqrstuvwx' } } }, session);
    assert.equal(res.status, 200);
    const ev = await gw.waitForAudit((e) => e.rpc?.id === 41 && e.rpc.method === 'tools/call');
    const json = JSON.stringify(ev);
    for (const secret of ['hunter2', 'swordfish', 'abcdefghijklmnopqrstuvwx']) assert.ok(!json.includes(secret), `${secret} in ${json}`);
    assert.deepEqual(ev.arguments, { message: 'hi', db_password: '[REDACTED]', 'Client\u200bSecret': '[REDACTED]', note: 'Bearer [REDACTED]' });
  });

  test('a completion whose argument is named "password" has its value redacted', async () => {
    const url = gw.url('plain');
    const session = await initialize(url);
    await post(url, { jsonrpc: '2.0', id: 42, method: 'completion/complete', params: { ref: { type: 'ref/prompt', name: 'simple-prompt' }, argument: { name: 'password', value: 'hunter2' } } }, session);
    const ev = await gw.waitForAudit((e) => e.rpc?.id === 42 && e.rpc.method === 'completion/complete');
    assert.ok(!JSON.stringify(ev).includes('hunter2'), JSON.stringify(ev));
    assert.deepEqual(ev.arguments, { name: 'password', value: '[REDACTED]' });
  });
});

describe('cookies', () => {
  const lastInitialize = () => upstream.received.filter((r) => (r.body as { method?: string } | undefined)?.method === 'initialize').at(-1)!;

  test('the caller\'s Cookie does not reach the upstream by default (even with anonymous callers)', async () => {
    await initialize(gw.url('plain'), { cookie: 'session=abc' });
    const got = lastInitialize();
    assert.equal(got.headers.cookie, undefined);
  });

  test('servers[].forward_cookies: true passes it through', async () => {
    await initialize(gw.url('cookies'), { cookie: 'session=abc' });
    assert.equal(lastInitialize().headers.cookie, 'session=abc');
  });
});
