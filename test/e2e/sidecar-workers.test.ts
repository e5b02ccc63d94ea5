// sidecar.workers: 2 end to end: the real Envoy balancing ext_proc streams over two real
// worker processes, the SDK client in front, an SDK server behind. A session sealed by
// one worker is opened by the other; a limit of N stays N across workers (rates,
// policy-named quotas, concurrency caps); a live reload reaches both; a killed worker is
// started again; and the audit file holds every event exactly once, each line whole.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startUpstream, type RunningUpstream } from '../../examples/upstream.js';
import { createLimitsTestServer, slowCallsRunning } from '../fixtures/limits-server.js';
import { freePort, freePortRange } from '../support/ports.js';
import { parseConfig } from '../../src/config/load.js';
import { launchGateway, type RunningGateway } from '../../src/launcher.js';
import { createLogger } from '../../src/telemetry/log.js';
import { opaBuild } from '../../src/policy/opa-cli.js';
import { SIDECAR_CLUSTER } from '../../src/envoy/bootstrap.js';

const CALLERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
const KEYS = Object.fromEntries(CALLERS.map((c) => [c, `key-${c}-0123456789abcdef`]));
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let dir: string;
let upstream: RunningUpstream;
let gw: RunningGateway;
let raw: Record<string, any>;
let auditFile: string;

function configOf(r: Record<string, unknown>) {
  return parseConfig(stringify(r), join(dir, 'gateway.yaml'));
}

async function connect(server: string, caller: string): Promise<Client> {
  const client = new Client({ name: 'workers-e2e', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.endpoints.get(server)!), { requestInit: { headers: { 'x-api-key': KEYS[caller]! } } }));
  return client;
}

/** "ok", or the HTTP status of the refusal. */
async function call(client: Client, name: string, args: Record<string, unknown>): Promise<'ok' | number> {
  try {
    await client.callTool({ name, arguments: args });
    return 'ok';
  } catch (err) {
    if (err instanceof StreamableHTTPError) return err.code ?? 0;
    return -1;
  }
}

/** ext_proc streams Envoy sent to each worker so far (admin /clusters, per host). */
async function streamsPerWorker(): Promise<Map<string, number>> {
  const text = await (await fetch(`${gw.envoy.adminUrl}/clusters`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${SIDECAR_CLUSTER}::([^:]+:\\d+)::rq_total::(\\d+)$`).exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** The worker processes of the sidecar running in this process (children running worker-main). */
async function workerPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const task of await readdir('/proc/self/task')) {
    const children = readFileSync(`/proc/self/task/${task}/children`, 'utf8').trim();
    for (const pid of children ? children.split(' ').map(Number) : []) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker-main')) pids.push(pid);
      } catch {
        // exited meanwhile
      }
    }
  }
  return pids.sort((a, b) => a - b);
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-workers-'));
  const bundle = join(dir, 'bundle.tar.gz');
  await opaBuild('test/fixtures/limits-policy', bundle);
  upstream = await startUpstream({ createServer: createLimitsTestServer });
  auditFile = join(dir, 'audit.jsonl');
  const sidecarPort = await freePortRange(2);
  raw = {
    gateway: { listen: `127.0.0.1:${await freePort()}`, admin: `127.0.0.1:${await freePort()}` },
    sidecar: { listen: `127.0.0.1:${sidecarPort}`, workers: 2 },
    telemetry: { listen: `127.0.0.1:${await freePort()}` },
    servers: [
      // Curated and under the policy (which names a per-tenant quota for search).
      { name: 'tools', url: upstream.url, tools: { deny: ['report'] }, policy: { bundle } },
      // Nothing limited here: the audit and reload tests.
      { name: 'open', url: upstream.url },
    ],
    auth: { api_keys: { keys: CALLERS.map((subject) => ({ sha256: sha(KEYS[subject]!), subject, groups: ['acme'] })) } },
    rate_limits: [
      { name: 'echo-per-caller', match: { servers: ['tools'], tools: ['echo'] }, key: ['caller'], requests_per_unit: 4, unit: 'hour' },
      { name: 'slow-in-flight', match: { servers: ['tools'], tools: ['slow'] }, key: ['caller'], concurrency: 2 },
    ],
    audit: { file: auditFile },
    log: { level: process.env.MCP_GATEWAY_TEST_LOG ?? 'warn' },
  };
  gw = await launchGateway(configOf(raw), { log: createLogger(raw.log.level), envoy: { logLevel: 'error', stdio: 'pipe' }, readinessIntervalMs: 200 });
});

after(async () => {
  await gw?.stop();
  await upstream?.close();
});

describe('sidecar.workers: 2', () => {
  test('two worker processes serve, each on its own address, and /readyz is ready when both are', async () => {
    assert.equal((await workerPids()).length, 2);
    assert.equal([...(await streamsPerWorker()).keys()].length, 2, 'Envoy lists one endpoint per worker');
    const ready = await fetch(`${gw.sidecar.telemetryUrl}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
  });

  test('a session sealed by one worker is used through the other; auth, curation and policy hold on both', async () => {
    const before = await streamsPerWorker();
    const alice = await connect('tools', 'alice');
    const names = (await alice.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(names, ['echo', 'search', 'slow'], 'curation hides report');
    for (let i = 0; i < 4; i++) assert.equal(await call(alice, 'echo', { message: `m${i}` }), 'ok');
    assert.notEqual(await call(alice, 'report', {}), 'ok', 'curation refuses report');
    const after = await streamsPerWorker();
    for (const [host, n] of after) assert.ok(n > (before.get(host) ?? 0), `worker ${host} served part of the session (${before.get(host)} → ${n})`);
    await alice.close();
    // No credentials: refused by either worker, precisely.
    for (let i = 0; i < 4; i++) {
      const r = await fetch(gw.endpoints.get('tools')!, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
      assert.equal(r.status, 401);
    }
  });

  test('a limit of N holds across workers: a rate, a policy-named quota and a concurrency cap', async () => {
    const bob = await connect('tools', 'bob');
    const echoes = await Promise.all(Array.from({ length: 10 }, (_, i) => call(bob, 'echo', { message: `b${i}` })));
    assert.equal(echoes.filter((r) => r === 'ok').length, 4, `echo-per-caller is 4 an hour: ${echoes.join(',')}`);
    assert.ok(echoes.filter((r) => r !== 'ok').every((r) => r === 429), echoes.join(','));
    // The policy's quota is per tenant (acme): carol and dave share 2.
    const carol = await connect('tools', 'carol');
    const dave = await connect('tools', 'dave');
    const searches = await Promise.all(Array.from({ length: 6 }, (_, i) => call(i % 2 ? carol : dave, 'search', { q: `q${i}` })));
    assert.equal(searches.filter((r) => r === 'ok').length, 2, `tenant quota is 2: ${searches.join(',')}`);
    // Two slow calls in flight per caller, whichever worker decides them.
    const erin = await connect('tools', 'erin');
    const slow = Array.from({ length: 2 }, () => call(erin, 'slow', { ms: 1500, tag: 'workers' }));
    await slowCallsRunning('workers', 2);
    const extra = await Promise.all(Array.from({ length: 4 }, () => call(erin, 'slow', { ms: 10, tag: 'workers-extra' })));
    assert.deepEqual(extra, [429, 429, 429, 429]);
    assert.deepEqual(await Promise.all(slow), ['ok', 'ok']);
    // Their slots are free again.
    assert.equal(await call(erin, 'slow', { ms: 10 }), 'ok');
    await Promise.all([bob.close(), carol.close(), dave.close(), erin.close()]);
  });

  test('a live reload reaches every worker, and a failed one changes none', async () => {
    const frank = await connect('open', 'frank');
    assert.equal(await call(frank, 'report', {}), 'ok');
    const next = structuredClone(raw);
    next.servers[1].tools = { deny: ['report'] };
    await gw.reload(configOf(next));
    const refused = await Promise.all(Array.from({ length: 8 }, () => call(frank, 'report', {})));
    assert.ok(refused.every((r) => r !== 'ok'), `refused on every worker: ${refused.join(',')}`);
    // A bundle that does not exist: no worker takes the config, the one in force stays.
    const broken = structuredClone(next);
    broken.servers[1].policy = { bundle: join(dir, 'missing.tar.gz') };
    await assert.rejects(gw.reload(configOf(broken)));
    assert.equal(await call(frank, 'echo', { message: 'still served' }), 'ok');
    await gw.reload(configOf(raw));
    const back = await Promise.all(Array.from({ length: 8 }, () => call(frank, 'report', {})));
    assert.deepEqual(back, Array(8).fill('ok'));
    await frank.close();
  });

  test('a killed worker is started again and traffic continues', async () => {
    const [victim, survivor] = await workerPids();
    process.kill(victim!, 'SIGKILL');
    let sawNotReady = false;
    await until('the worker to be started again', async () => {
      if (gw.sidecar.readiness.current !== undefined) sawNotReady = true;
      const now = await workerPids();
      return now.length === 2 && !now.includes(victim!) && now.includes(survivor!) && gw.sidecar.readiness.current === undefined;
    });
    assert.ok(sawNotReady, 'readiness said not ready while a worker was down');
    // Envoy reconnects to the new process; every call then succeeds on either worker.
    const before = await streamsPerWorker();
    const frank = await connect('open', 'frank');
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => call(frank, 'echo', { message: `after-${i}` })));
    assert.deepEqual(results, Array(12).fill('ok'));
    const after = await streamsPerWorker();
    for (const [host, n] of after) assert.ok(n > (before.get(host) ?? 0), `worker ${host} serves again`);
    await frank.close();
  });

  test('/metrics sums the workers: every tools/call counted once', async () => {
    const text = await (await fetch(`${gw.sidecar.telemetryUrl}/metrics`)).text();
    const component = /^mcp_gateway_component_ready\{component="sidecar"\} (\S+)$/m.exec(text);
    assert.equal(component?.[1], '1', 'the sidecar component is one gauge, not one per worker');
    assert.match(text, /^mcp_gateway_extproc_streams_total \d+$/m);
  });

  test('the audit file holds every event exactly once, each line whole, under concurrency', async () => {
    const clients = await Promise.all(['alice', 'frank', 'carol'].map((c) => connect('open', c)));
    const big = 'x'.repeat(6000);
    const N = 150;
    const results = await Promise.all(Array.from({ length: N }, (_, i) => call(clients[i % 3]!, 'echo', { message: `audit-${i}-${big}` })));
    assert.deepEqual(results, Array(N).fill('ok'));
    await Promise.all(clients.map((c) => c.close()));
    await gw.stop();
    const lines = (await readFile(auditFile, 'utf8')).split('\n').filter(Boolean);
    const events = lines.map((l, i) => {
      try {
        return JSON.parse(l);
      } catch {
        throw new Error(`line ${i + 1} is not one whole JSON object: ${l.slice(0, 200)}…`);
      }
    });
    const mine = events.filter((e) => e.type === 'mcp.request' && e.rpc?.method === 'tools/call' && /^audit-\d+-/.test(e.arguments?.message ?? ''));
    const seen = new Set(mine.map((e) => /^audit-(\d+)-/.exec(e.arguments.message)![1]));
    assert.equal(mine.length, N, 'one event per call');
    assert.equal(seen.size, N, 'no call twice, none missing');
    const ids = events.filter((e) => e.type === 'mcp.request').map((e) => e.request_id);
    assert.equal(new Set(ids).size, ids.length, 'no event written twice');
  });
});
