// How Envoy treats a server's replicas, from the gateway config: the MCP-aware active
// health check ejects a dead replica (and one that answers something other than
// JSON-RPC), so new sessions go to the healthy one; retries of requests no replica
// received move them to another replica; a POST is bounded by max_call_duration_ms.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startUpstream, everythingServerFactory, type RunningUpstream } from '../../examples/upstream.js';
import { startGateway, freePort, type RunningGateway } from '../support/gateway.js';
import { HEALTH_PING } from '../../src/envoy/upstream-cluster.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { envoyBootstrapYaml } from '../../src/envoy/bootstrap.js';
import { findEnvoy } from '../../src/envoy/binary.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function upstream(): Promise<RunningUpstream> {
  const u = await startUpstream({ createServer: await everythingServerFactory() });
  cleanups.push(() => u.close());
  return u;
}

async function gateway(server: Record<string, unknown>): Promise<RunningGateway> {
  const gw = await startGateway({ config: { servers: [{ name: 'tools', ...server }], audit: { sink: 'stdout' } } });
  cleanups.push(() => gw.stop());
  return gw;
}

/** A new session that calls echo; resolves with the error message, or undefined when it worked. */
async function sessionCall(gw: RunningGateway, message: string): Promise<string | undefined> {
  const client = new Client({ name: 'upstream-traffic', version: '1' });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.url('tools'))));
    const r = await client.callTool({ name: 'echo', arguments: { message } });
    assert.match(JSON.stringify(r.content), new RegExp(message));
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** Envoy's view of the cluster's hosts: `127.0.0.1:port` → its health flags ("healthy" when none). */
async function hostHealth(gw: RunningGateway): Promise<Map<string, string>> {
  const text = await (await fetch(`${gw.launched.envoy.adminUrl}/clusters`)).text();
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^mcp_upstream_tools::([\d.]+:\d+)::health_flags::(.+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const initializes = (u: RunningUpstream) => u.received.filter((r) => (r.body as { method?: string } | undefined)?.method === 'initialize').length;

test('mcp health check: a JSON-RPC ping to each replica; a killed replica and one answering HTML are ejected, new sessions go to the healthy one', async () => {
  const a = await upstream();
  const b = await upstream();
  // Up, answers 200, but not MCP (a misrouted proxy's page): must not count as healthy.
  const html: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>'));
  await new Promise<void>((r) => html.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => html.close(r)));
  const htmlPort = (html.address() as { port: number }).port;
  const gw = await gateway({ url: [a.url, b.url, `http://127.0.0.1:${htmlPort}/mcp`], health_check: { interval_ms: 300, timeout_ms: 200, unhealthy_threshold: 2, panic_threshold_percent: 0 } });

  const ping = await until('a health check at replica a', async () => a.received.find((r) => r.method === 'POST' && JSON.stringify(r.body) === HEALTH_PING));
  assert.equal(ping.headers['content-type'], 'application/json');
  const before = await until('a and b healthy, the HTML replica not', async () => {
    const h = await hostHealth(gw);
    return h.get(`127.0.0.1:${a.port}`) === 'healthy' && h.get(`127.0.0.1:${b.port}`) === 'healthy' && h.get(`127.0.0.1:${htmlPort}`)?.includes('failed_active_hc') ? h : undefined;
  });
  assert.equal(before.size, 3);
  for (let i = 0; i < 6; i++) assert.equal(await sessionCall(gw, `before-${i}`), undefined, 'no session lands on the HTML replica');
  assert.ok(initializes(a) > 0 && initializes(b) > 0, `both healthy replicas got sessions (a=${initializes(a)}, b=${initializes(b)})`);

  await b.close();
  await until('b ejected', async () => ((await hostHealth(gw)).get(`127.0.0.1:${b.port}`)?.includes('failed_active_hc') ? true : undefined));
  const onA = initializes(a);
  const failures = [];
  for (let i = 0; i < 10; i++) failures.push(await sessionCall(gw, `after-${i}`));
  assert.deepEqual(failures.filter((f) => f !== undefined), [], 'every new session works while one replica is down');
  assert.equal(initializes(a) - onA, 10, 'all of them on the healthy replica');
});

test('retries: a request no replica received (connection refused) goes to another replica; without retries it fails', async () => {
  const a = await upstream();
  const dead = `http://127.0.0.1:${await freePort()}/mcp`;
  const without = await gateway({ url: [a.url, dead] });
  const failedWithout = [];
  for (let i = 0; i < 6; i++) failedWithout.push(await sessionCall(without, `without-${i}`));
  assert.ok(failedWithout.some((f) => f !== undefined), 'round robin sends some sessions to the dead replica');

  const withRetries = await gateway({ url: [a.url, dead], retries: 2 });
  const failed = [];
  for (let i = 0; i < 10; i++) failed.push(await sessionCall(withRetries, `with-${i}`));
  assert.deepEqual(failed.filter((f) => f !== undefined), []);
  const stats = await (await fetch(`${withRetries.launched.envoy.adminUrl}/stats?filter=cluster.mcp_upstream_tools.upstream_rq_retry$`)).text();
  assert.ok(Number(/upstream_rq_retry: (\d+)/.exec(stats)?.[1]) > 0, `Envoy retried: ${stats}`);
});

test('max_call_duration_ms: a JSON answer not started in time is a 504; an SSE answer is cut at the limit (a resumable server hands the rest over a GET)', async () => {
  const json = await startUpstream({ createServer: await everythingServerFactory(), jsonResponse: true });
  cleanups.push(() => json.close());
  const gw = await gateway({ url: json.url, max_call_duration_ms: 800 });
  const client = new Client({ name: 'upstream-traffic', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.url('tools'))));
  cleanups.push(() => client.close());
  const started = Date.now();
  await assert.rejects(client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 4, steps: 2 } }, undefined, { timeout: 10_000 }), /504|timeout/i);
  const took = Date.now() - started;
  assert.ok(took >= 700 && took < 3500, `cut at the limit, not at the tool's 4 s (took ${took} ms)`);
  const r = await client.callTool({ name: 'echo', arguments: { message: 'still here' } });
  assert.match(JSON.stringify(r.content), /still here/, 'the session carries on');
  const quick = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.2, steps: 2 } });
  assert.match(JSON.stringify(quick.content), /completed/, 'a call inside the limit is untouched');

  // SSE: the POST's stream is reset at the limit; the example upstream keeps an event store,
  // so the SDK client resumes on a GET (Last-Event-ID) and still gets the result.
  const sse = await upstream();
  const gw2 = await gateway({ url: sse.url, max_call_duration_ms: 800 });
  const client2 = new Client({ name: 'upstream-traffic', version: '1' });
  await client2.connect(new StreamableHTTPClientTransport(new URL(gw2.url('tools'))));
  cleanups.push(() => client2.close());
  const resumed = await client2.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 2, steps: 2 } }, undefined, { timeout: 10_000 });
  assert.match(JSON.stringify(resumed.content), /completed/);
  const stats = await (await fetch(`${gw2.launched.envoy.adminUrl}/stats?filter=http.mcp_gateway.downstream_rq_max_duration_reached`)).text();
  assert.equal(/: (\d+)/.exec(stats)?.[1], '1', `the POST was cut once: ${stats}`);
  assert.ok(sse.received.some((r) => r.method === 'GET' && r.headers['last-event-id'] !== undefined), 'the client resumed with Last-Event-ID');
});

test('every traffic setting at once passes envoy --mode validate', async () => {
  const config = parseConfig(
    `servers:
  - name: a
    url: [http://127.0.0.1:3001/mcp, http://127.0.0.1:3002/mcp]
    health_check: { interval_ms: 1000, panic_threshold_percent: 0 }
    outlier_detection: { consecutive_gateway_errors: 3, consecutive_5xx: 10 }
    circuit_breakers: { max_connections: 4096, max_pending_requests: 256, max_requests: 4096, max_retries: 8 }
    retries: 2
    max_call_duration_ms: 60000
  - name: b
    url: https://mcp.example.com/mcp
    health_check: { kind: http, path: /healthz }
    tls: { ca_file: /etc/ssl/certs/ca-certificates.crt, sni: mcp.example.com, subject_alt_names: [mcp.example.com, 10.0.0.1] }
  - name: c
    url: http://127.0.0.1:3003/mcp
    health_check: { kind: tcp }
  - name: d
    versions:
      - { name: stable, url: [http://127.0.0.1:3004/mcp, http://127.0.0.1:3005/mcp], weight: 9 }
      - { name: canary, url: http://127.0.0.1:3006/mcp, weight: 1, match_header: { name: x-canary, value: "1" } }
    health_check: {}
    max_call_duration_ms: 1000
http_routes:
  - { name: open, path_prefix: /api/open, url: http://127.0.0.1:4000/v1 }
  - { name: private, path_prefix: /api/private, url: https://api.example.com/, auth: required, timeout_ms: 0 }
auth:
  api_keys:
    keys: [{ sha256: "${'b'.repeat(64)}", subject: k }]
`,
    'traffic.yaml',
  );
  const dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-traffic-'));
  const file = join(dir, 'envoy.yaml');
  await writeFile(file, envoyBootstrapYaml(config));
  const { stdout } = await promisify(execFile)(findEnvoy(), ['--mode', 'validate', '-c', file]);
  assert.match(stdout, /OK/);
});

test('versions: new sessions split by weight, each stays on its version; a header selects one; the audit names it and the client never sees the header', async () => {
  const stable = await upstream();
  const canary = await upstream();
  const staging = await upstream();
  const gw = await gateway({
    versions: [
      { name: 'stable', url: stable.url, weight: 3 },
      { name: 'canary', url: canary.url, weight: 1 },
      { name: 'staging', url: staging.url, weight: 0, match_header: { name: 'x-mcp-env', value: 'staging' } },
    ],
  });
  const sessions = 24;
  for (let i = 0; i < sessions; i++) {
    const client = new Client({ name: 'versions', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.url('tools'))));
    for (let n = 0; n < 2; n++) await client.callTool({ name: 'echo', arguments: { message: `v-${i}-${n}` } });
    await client.close();
  }
  const [s, c] = [initializes(stable), initializes(canary)];
  assert.equal(s + c, sessions);
  assert.equal(initializes(staging), 0, 'weight 0: only by header');
  assert.ok(s >= 15 && s <= 21, `about 3:1 (stable ${s}, canary ${c})`);
  const served = (u: RunningUpstream) => new Set(u.received.map((r) => /v-(\d+)-/.exec(JSON.stringify(r.body))?.[1]).filter((x) => x !== undefined));
  for (const i of served(stable)) assert.ok(!served(canary).has(i), `session ${i} stayed on one version`);
  const calls = gw.audit.events.filter((e) => e.target?.name === 'echo');
  assert.equal(calls.length, sessions * 2);
  for (const e of calls) {
    const i = /v-(\d+)-/.exec(JSON.stringify(e.arguments))![1]!;
    assert.equal(e.upstream_version, served(stable).has(i) ? 'stable' : 'canary', `the audit names the version that answered session ${i}`);
  }

  const client = new Client({ name: 'versions', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.url('tools')), { requestInit: { headers: { 'x-mcp-env': 'staging' } } }));
  await client.callTool({ name: 'echo', arguments: { message: 'on-staging' } });
  await client.close();
  assert.equal(initializes(staging), 1);
  assert.ok(staging.received.some((r) => String(JSON.stringify(r.body)).includes('on-staging')));
  assert.equal((await gw.waitForAudit((e) => JSON.stringify(e.arguments ?? {}).includes('on-staging'))).upstream_version, 'staging');

  const raw = await fetch(gw.url('tools'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
  });
  assert.equal(raw.status, 200);
  assert.equal(raw.headers.get('x-mcp-gateway-version'), null, 'the version header is the gateway\'s, not the client\'s');
  await raw.body?.cancel();
});

test('versions: an upstream cannot name its own version (Envoy overwrites the header from the replica\'s metadata)', async () => {
  const forger: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'x-mcp-gateway-version': 'forged' }).end('{"jsonrpc":"2.0","id":1,"result":{}}'));
  });
  await new Promise<void>((r) => forger.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => forger.close(r)));
  const gw = await gateway({ versions: [{ name: 'real', url: `http://127.0.0.1:${(forger.address() as { port: number }).port}/mcp` }] });
  const r = await fetch(gw.url('tools'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-mcp-gateway-version'), null);
  await r.text();
  assert.equal((await gw.waitForAudit((e) => e.rpc?.method === 'ping')).upstream_version, 'real');
});
