// Plain HTTP routes beside the MCP servers on the same listener: `auth: none` goes through
// Envoy alone; `auth: required` is authenticated (and audited) by the sidecar, which sees
// only the headers, removes the caller's credentials and the gateway's own headers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startUpstream, everythingServerFactory, type RunningUpstream } from '../../examples/upstream.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';

const KEY = 'rest-key-0123456789abcdef';
let mcp: RunningUpstream;
let rest: Server;
let gw: RunningGateway;
const seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] = [];

before(async () => {
  mcp = await startUpstream({ createServer: await everythingServerFactory() });
  rest = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url }));
    });
  });
  await new Promise<void>((r) => rest.listen(0, '127.0.0.1', r));
  const port = (rest.address() as { port: number }).port;
  gw = await startGateway({
    config: {
      auth: { api_keys: { keys: [{ sha256: createHash('sha256').update(KEY).digest('hex'), subject: 'rest-caller' }] } },
      servers: [{ name: 'everything', url: mcp.url }],
      http_routes: [
        { name: 'open', path_prefix: '/api/open', url: `http://127.0.0.1:${port}/v1` },
        { name: 'private', path_prefix: '/api/private', url: `http://127.0.0.1:${port}/`, auth: 'required' },
      ],
      audit: { sink: 'stdout' },
    },
  });
});
after(async () => {
  await gw?.stop();
  await mcp?.close();
  await new Promise((r) => rest?.close(r));
});

const base = () => new URL(gw.url('everything')).origin;
const lastSeen = () => seen[seen.length - 1]!;

test('auth: none — Envoy alone: prefix rewritten, query kept, body intact, no audit event', async () => {
  const before = gw.audit.events.length;
  const r = await fetch(`${base()}/api/open/items/7?q=a%20b`, { method: 'POST', body: '{"raw": true}', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { url: '/v1/items/7?q=a%20b' });
  assert.equal(lastSeen().body, '{"raw": true}');
  const exact = await fetch(`${base()}/api/open`);
  assert.deepEqual(await exact.json(), { url: '/v1' });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(gw.audit.events.slice(before).filter((e) => e.server === 'open').length, 0, 'the sidecar never saw it');
});

test('a prefix covers its path segments only: /api/openx is not the open route', async () => {
  const n = seen.length;
  const r = await fetch(`${base()}/api/openx/items`);
  assert.equal(r.status, 404);
  assert.equal(seen.length, n, 'nothing reached the REST upstream');
  assert.equal((await gw.waitForAudit((e) => e.http.path === '/api/openx/items')).reason, 'unknown_server');
});

test('auth: required — no key: 401 with a JSON error and a challenge, audited, nothing upstream', async () => {
  const n = seen.length;
  for (const headers of [{}, { 'x-api-key': 'wrong-key-0123456789' }, { authorization: 'Bearer not-a-key' }] as Record<string, string>[]) {
    const r = await fetch(`${base()}/api/private/secret`, { headers });
    assert.equal(r.status, 401);
    const body = (await r.json()) as { error: { reason: string; message: string } };
    assert.ok(body.error.reason && body.error.message, JSON.stringify(body));
    assert.ok(r.headers.get('www-authenticate'));
  }
  assert.equal(seen.length, n);
  const ev = await gw.waitForAudit((e) => e.server === 'private' && e.decision === 'deny');
  assert.equal(ev.type, 'http.route');
});

test('auth: required — with a key: passes with the caller audited, its key and the gateway\'s headers removed, the body untouched', async () => {
  const body = JSON.stringify({ big: 'x'.repeat(100_000) });
  const r = await fetch(`${base()}/api/private/orders?id=3`, {
    method: 'PUT',
    body,
    headers: { 'x-api-key': KEY, 'content-type': 'application/json', 'x-mcp-gateway-subject': 'admin', cookie: 'app=1' },
  });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { url: '/orders?id=3' });
  const got = lastSeen();
  assert.equal(got.method, 'PUT');
  assert.equal(got.body, body, 'a body the sidecar never read');
  assert.equal(got.headers['x-api-key'], undefined, 'the caller\'s credential stays at the gateway');
  assert.equal(got.headers['x-mcp-gateway-subject'], undefined, 'no caller can speak for the gateway');
  assert.equal(got.headers.cookie, 'app=1', 'a route\'s own cookies pass');
  const ev = await gw.waitForAudit((e) => e.server === 'private' && e.decision === 'allow');
  assert.equal(ev.identity?.subject, 'rest-caller');
  assert.equal(ev.http.method, 'PUT');
});

test('the MCP server on the same listener is unaffected', async () => {
  const client = new Client({ name: 'http-routes', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.url('everything')), { requestInit: { headers: { 'x-api-key': KEY } } }));
  const r = await client.callTool({ name: 'echo', arguments: { message: 'beside rest' } });
  assert.match(JSON.stringify(r.content), /beside rest/);
  await client.close();
});
