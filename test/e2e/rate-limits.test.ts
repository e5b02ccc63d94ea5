// Rate limits, quotas and concurrency caps end to end: the real Envoy and sidecar in front of
// an SDK server, driven by the SDK client; in-process limits on one replica, then two
// replicas sharing the real envoyproxy/ratelimit and the real Redis, and both killed.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startUpstream, type RunningUpstream } from '../../examples/upstream.js';
import { createLimitsTestServer, slowCallsOf, slowCallsRunning } from '../fixtures/limits-server.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startRedis, startRateLimitService, type RunningRedis, type RunningRateLimitService } from '../support/limit-services.js';
import { opaBuild } from '../../src/policy/opa-cli.js';
import { loadConfigFile } from '../../src/config/load.js';
import { rateLimitServiceConfigYaml } from '../../src/limits/ratelimit-config.js';
import { stringify } from 'yaml';
import type { AuditEvent } from '../../src/audit/event.js';

const KEYS: Record<string, string> = {};
const CALLERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan'];
for (const c of CALLERS) KEYS[c] = `key-${c}-0123456789abcdef`;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const run = promisify(execFile);

const LIMITS = [
  // Per-caller quota on one tool.
  { name: 'echo-per-caller', match: { servers: ['tools'], tools: ['echo'] }, key: ['caller'], requests_per_unit: 4, unit: 'hour' },
  // Per-tool limit, all callers together.
  { name: 'search-per-tool', match: { servers: ['tools'], tools: ['search'] }, key: ['tool'], requests_per_unit: 3, unit: 'hour' },
  // Shadow: counted and audited, never refused.
  { name: 'report-trial', match: { tools: ['report'] }, key: ['caller'], requests_per_unit: 1, unit: 'hour', shadow: true },
  // Everything carol sends (initialize included): notifications are never limited.
  { name: 'carol-everything', match: { subjects: ['carol'] }, key: ['caller'], requests_per_unit: 1, unit: 'hour' },
  // Concurrency cap per caller on the slow tool.
  { name: 'slow-in-flight', match: { tools: ['slow'] }, key: ['caller'], concurrency: 2 },
  // Open server streams (GET) per caller.
  { name: 'ivan-streams', match: { subjects: ['ivan'] }, key: ['caller'], concurrency: 2, streams: true },
];

let dir: string;
let bundle: string;
let upstream: RunningUpstream;

function gatewayConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    servers: [
      { name: 'tools', url: upstream.url },
      // The same upstream under a policy that names a per-tenant limit for search.
      { name: 'governed', url: upstream.url, policy: { bundle } },
    ],
    auth: { api_keys: { keys: CALLERS.map((subject) => ({ sha256: sha(KEYS[subject]!), subject, groups: ['acme'] })) } },
    rate_limits: LIMITS,
    ...extra,
  };
}

async function connect(url: string, caller: string): Promise<Client> {
  const client = new Client({ name: 'limits-e2e', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': KEYS[caller]! } } }));
  return client;
}

/** Calls a tool; what came back: "ok", or the HTTP status of the refusal and its JSON-RPC error. */
async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<{ ok: true } | { ok: false; status: number; error: any; err: unknown }> {
  try {
    await client.callTool({ name, arguments: args });
    return { ok: true };
  } catch (err) {
    if (!(err instanceof StreamableHTTPError)) throw err;
    // The SDK surfaces the gateway's JSON-RPC error as the message's body text.
    const body = String(err.message).slice(String(err.message).indexOf('{'));
    return { ok: false, status: err.code ?? 0, error: JSON.parse(body).error, err };
  }
}
const passed = (rs: { ok: boolean }[]) => rs.filter((r) => r.ok).length;

/** Hour windows are aligned to the clock: do not start a count a few seconds before one ends. */
async function awayFromWindowEdge(): Promise<void> {
  const left = 3_600_000 - (Date.now() % 3_600_000);
  if (left < 60_000) await new Promise((r) => setTimeout(r, left + 100));
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-limits-'));
  bundle = join(dir, 'bundle.tar.gz');
  await opaBuild('test/fixtures/limits-policy', bundle);
  upstream = await startUpstream({ createServer: createLimitsTestServer });
  await awayFromWindowEdge();
});
after(async () => {
  await upstream?.close();
});

describe('one replica: in-process limits', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ config: gatewayConfig() });
  });
  after(async () => gw?.stop());

  test('a per-caller quota: N of N+k calls pass, the rest get a usable 429; another caller is unaffected', async () => {
    const alice = await connect(gw.url('tools'), 'alice');
    const bob = await connect(gw.url('tools'), 'bob');
    const a = [];
    for (let i = 0; i < 6; i++) a.push(await call(alice, 'echo', { message: `m${i}` }));
    assert.equal(passed(a), 4);
    const refused = a[4]!;
    assert.ok(!refused.ok);
    assert.equal(refused.status, 429);
    assert.equal(refused.error.code, -32029);
    assert.equal(refused.error.data.reason, 'rate_limited');
    assert.equal(refused.error.data.limit, 'echo-per-caller');
    assert.ok(refused.error.data.retry_after_ms > 0 && refused.error.data.retry_after_ms <= 3_600_000);
    assert.match(refused.error.message, /Rate limit "echo-per-caller" exceeded; retry after \d+ s/);
    const b = [];
    for (let i = 0; i < 4; i++) b.push(await call(bob, 'echo', { message: 'x' }));
    assert.equal(passed(b), 4);
    // Each refusal is audited once, with the limit and the status sent.
    const ev = await gw.waitForAudit((e) => e.reason === 'rate_limited' && e.identity?.subject === 'alice');
    assert.equal(ev.decision, 'deny');
    assert.equal(ev.http.status, 429);
    assert.deepEqual({ ...ev.rate_limit, retry_after_ms: 0 }, { limit: 'echo-per-caller', kind: 'rate', shadow: false, retry_after_ms: 0 });
    assert.equal(gw.audit.events.filter((e) => e.reason === 'rate_limited' && e.identity?.subject === 'alice').length, 2);
    await Promise.all([alice.close(), bob.close()]);
  });

  test('the 429 on the wire: Retry-After, the request id, application/json', async () => {
    // Alice is over her echo quota: a raw request shows the exact refusal.
    const client = await connect(gw.url('tools'), 'alice');
    const sid = (client.transport as StreamableHTTPClientTransport).sessionId!;
    const res = await fetch(gw.url('tools'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-api-key': KEYS.alice!, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'req-77', method: 'tools/call', params: { name: 'echo', arguments: { message: 'again' } } }),
    });
    assert.equal(res.status, 429);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const retryAfter = Number(res.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 3600, `Retry-After ${res.headers.get('retry-after')}`);
    const body = (await res.json()) as any;
    assert.equal(body.jsonrpc, '2.0');
    assert.equal(body.id, 'req-77');
    assert.equal(body.error.data.reason, 'rate_limited');
    assert.equal(Math.ceil(body.error.data.retry_after_ms / 1000), retryAfter);
    await client.close();
  });

  test('a per-tool limit counts all callers together, independently of the per-caller quota', async () => {
    // Alice is over her echo quota, yet her searches count only against the tool's limit.
    const alice = await connect(gw.url('tools'), 'alice');
    const bob = await connect(gw.url('tools'), 'bob');
    const rs = [await call(alice, 'search', { q: '1' }), await call(bob, 'search', { q: '2' }), await call(alice, 'search', { q: '3' }), await call(bob, 'search', { q: '4' })];
    assert.deepEqual(rs.map((r) => r.ok), [true, true, true, false]);
    assert.equal((rs[3] as { error: any }).error.data.limit, 'search-per-tool');
    await Promise.all([alice.close(), bob.close()]);
  });

  test('a policy-named limit: the decision names a per-tenant quota, shared by the tenant\'s callers', async () => {
    const dave = await connect(gw.url('governed'), 'dave');
    const erin = await connect(gw.url('governed'), 'erin');
    const rs = [await call(dave, 'search', { q: '1' }), await call(erin, 'search', { q: '2' }), await call(dave, 'search', { q: '3' })];
    assert.deepEqual(rs.map((r) => r.ok), [true, true, false]);
    const refused = rs[2] as { status: number; error: any };
    assert.equal(refused.status, 429);
    assert.equal(refused.error.data.limit, 'policy:tenant:acme');
    // The policy names no limit for echo.
    assert.equal(passed([await call(dave, 'echo', { message: 'x' }), await call(dave, 'echo', { message: 'y' }), await call(dave, 'echo', { message: 'z' })]), 3);
    await Promise.all([dave.close(), erin.close()]);
  });

  test('shadow mode: over the limit is audited as would_rate_limit, and passes', async () => {
    const frank = await connect(gw.url('tools'), 'frank');
    const rs = [await call(frank, 'report'), await call(frank, 'report'), await call(frank, 'report')];
    assert.equal(passed(rs), 3);
    const shadowed = await gw.waitForAudit((e) => e.reason === 'would_rate_limit' && e.identity?.subject === 'frank');
    assert.equal(shadowed.decision, 'allow');
    assert.equal((shadowed.rate_limit as { limit: string; shadow: boolean }).limit, 'report-trial');
    assert.equal((shadowed.rate_limit as { shadow: boolean }).shadow, true);
    await frank.close();
  });

  test('notifications are never limited; requests past the limit are', async () => {
    // carol's one request per hour is her initialize; notifications/initialized still passes.
    const carol = await connect(gw.url('tools'), 'carol');
    const sid = (carol.transport as StreamableHTTPClientTransport).sessionId!;
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-api-key': KEYS.carol!, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    const note = await fetch(gw.url('tools'), { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } }) });
    assert.equal(note.status, 202);
    await assert.rejects(carol.listTools(), (err: unknown) => err instanceof StreamableHTTPError && err.code === 429);
    await carol.close().catch(() => {});
  });

  test('a concurrency cap: at most N calls in flight per caller, the slot freed when the response ends', async () => {
    const grace = await connect(gw.url('tools'), 'grace');
    const heidi = await connect(gw.url('tools'), 'heidi');
    const slow = [call(grace, 'slow', { ms: 3000, tag: 'cap' }), call(grace, 'slow', { ms: 3000, tag: 'cap' })];
    // Both are running upstream, their SSE responses started (headers sent) long before they end.
    await slowCallsRunning('cap', 2);
    const third = await call(grace, 'slow', { ms: 10 });
    assert.ok(!third.ok);
    assert.equal(third.status, 429);
    assert.equal(third.error.data.limit, 'slow-in-flight');
    assert.match(third.error.message, /Concurrency limit "slow-in-flight" reached/);
    // Another caller has slots of their own.
    assert.ok((await call(heidi, 'slow', { ms: 10 })).ok);
    assert.equal(slowCallsOf('cap'), 2, 'the refusal came while both were still running');
    assert.equal(passed(await Promise.all(slow)), 2);
    assert.ok((await call(grace, 'slow', { ms: 10 })).ok, 'slots are free once the calls ended');
    await Promise.all([grace.close(), heidi.close()]);
  });

  test('a cap on open GET streams per caller: the third gets a 429, a closed one frees its slot; calls are not counted', async () => {
    const errors: unknown[] = [];
    const open = async () => {
      const client = new Client({ name: 'limits-e2e', version: '1' });
      client.onerror = (err) => errors.push(err);
      // The SDK client opens its GET stream by itself after initialize.
      await client.connect(new StreamableHTTPClientTransport(new URL(gw.url('tools')), { requestInit: { headers: { 'x-api-key': KEYS.ivan! } } }));
      return client;
    };
    const streamsOpen = async (n: number) => {
      // A GET stream is audited when its response starts: then it holds its slot.
      for (let i = 0; i < 300 && gw.audit.events.filter((e) => e.type === 'http.stream' && e.decision === 'allow' && e.identity?.subject === 'ivan').length < n; i++) await new Promise((r) => setTimeout(r, 50));
    };
    const first = await open();
    const second = await open();
    await streamsOpen(2);
    assert.equal(errors.length, 0, `two streams are within the cap: ${errors.join('; ')}`);
    const third = await open();
    for (let i = 0; i < 300 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(errors[0] instanceof StreamableHTTPError && errors[0].code === 429, `the third stream is refused: ${String(errors[0])}`);
    // Calls still pass: a stream cap never counts requests.
    assert.ok((await call(third, 'echo', { message: 'still' })).ok);
    const sid = (third.transport as StreamableHTTPClientTransport).sessionId!;
    const get = (signal?: AbortSignal) =>
      fetch(gw.url('tools'), { headers: { accept: 'text/event-stream', 'x-api-key': KEYS.ivan!, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' }, signal });
    const refused = await get();
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    const body = (await refused.json()) as any;
    assert.equal(body.id, null);
    assert.equal(body.error.code, -32029);
    assert.deepEqual([body.error.data.reason, body.error.data.limit], ['rate_limited', 'ivan-streams']);
    assert.match(body.error.message, /too many open streams/);
    const ev = await gw.waitForAudit((e) => e.type === 'http.stream' && e.reason === 'rate_limited' && e.identity?.subject === 'ivan');
    assert.equal(ev.http.status, 429);
    // One stream ends: its slot is free.
    await first.close();
    const ac = new AbortController();
    let res: Response | undefined;
    for (let i = 0; i < 50; i++) {
      res = await get(ac.signal);
      if (res.status === 200) break;
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(res?.status, 200);
    assert.match(res!.headers.get('content-type') ?? '', /text\/event-stream/);
    ac.abort();
    await Promise.all([second.close(), third.close()]);
  });

  test('a cancelled call gives its slot back at once, though its upstream still runs and never answers it', async () => {
    const grace = await connect(gw.url('tools'), 'grace');
    const ac = new AbortController();
    // The SDK sends notifications/cancelled on abort; the server drops the call's answer.
    const slow = () => grace.callTool({ name: 'slow', arguments: { ms: 8000, tag: 'cancelled' } }, undefined, { signal: ac.signal }).catch(() => 'aborted');
    const pending = [slow(), slow()];
    await slowCallsRunning('cancelled', 2);
    assert.equal((await call(grace, 'slow', { ms: 10 })).ok, false, 'both slots are taken');
    ac.abort();
    await Promise.all(pending);
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      ok = (await call(grace, 'slow', { ms: 10 })).ok;
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(ok, 'a slot was freed by the cancellation');
    assert.equal(slowCallsOf('cancelled'), 2, 'while the cancelled calls still ran upstream');
    const note = await gw.waitForAudit((e) => e.rpc?.method === 'notifications/cancelled' && e.identity?.subject === 'grace');
    assert.match(note.message ?? '', /released the concurrency slots of request/);
    await grace.close();
  });

  test('a client that goes away gives its slots back', async () => {
    // Closing the transport aborts its fetches: the downstream is reset, Envoy ends the
    // ext_proc stream, and the slot is free long before the slow calls would have ended.
    const leaving = await connect(gw.url('tools'), 'grace');
    const slow = () => leaving.callTool({ name: 'slow', arguments: { ms: 20_000, tag: 'leaving' } }).catch(() => 'gone');
    const pending = [slow(), slow()];
    const grace = await connect(gw.url('tools'), 'grace');
    await slowCallsRunning('leaving', 2);
    assert.equal((await call(grace, 'slow', { ms: 10 })).ok, false, 'both slots are taken');
    await leaving.close();
    await Promise.all(pending);
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      ok = (await call(grace, 'slow', { ms: 10 })).ok;
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(ok, 'a slot was freed when the client went away');
    await grace.close();
  });
});

describe('two replicas: envoyproxy/ratelimit and Redis', () => {
  let redis: RunningRedis;
  let rls: RunningRateLimitService;
  let a: RunningGateway;
  let b: RunningGateway;
  /** A third replica whose failure modes are open. */
  let open: RunningGateway;

  before(async () => {
    redis = await startRedis();
    // The service's config as an operator makes it: `mcp-gateway ratelimit-config` on the gateway's file.
    const gatewayFile = join(dir, 'gateway.yaml');
    const rlsFile = join(dir, 'ratelimit.yaml');
    await writeFile(gatewayFile, stringify({ ...gatewayConfig(), rate_limit_service: { address: '127.0.0.1:1' } }));
    await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'ratelimit-config', '--config', gatewayFile, '--output', rlsFile]);
    const generated = await readFile(rlsFile, 'utf8');
    assert.equal(generated, rateLimitServiceConfigYaml(await loadConfigFile(gatewayFile)));
    rls = await startRateLimitService(generated, redis);
    const distributed = (mode: 'open' | 'closed') =>
      gatewayConfig({ rate_limit_service: { address: rls.grpcAddress, timeout_ms: 500, failure_mode: mode }, redis: { url: redis.url, timeout_ms: 500, lease_ttl_ms: 5000, failure_mode: mode } });
    [a, b, open] = await Promise.all([startGateway({ config: distributed('closed') }), startGateway({ config: distributed('closed') }), startGateway({ config: distributed('open') })]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop(), open?.stop()]);
    await rls?.stop();
    await redis?.stop();
  });

  test('N+k calls spread over both replicas: exactly N pass', async () => {
    const onA = await connect(a.url('tools'), 'alice');
    const onB = await connect(b.url('tools'), 'alice');
    const rs = [];
    for (let i = 0; i < 7; i++) rs.push(await call(i % 2 ? onB : onA, 'echo', { message: `m${i}` }));
    assert.equal(passed(rs), 4);
    assert.deepEqual(rs.map((r) => r.ok), [true, true, true, true, false, false, false]);
    const refused = rs[5] as { status: number; error: any };
    assert.equal(refused.status, 429);
    assert.equal(refused.error.data.limit, 'echo-per-caller');
    // The window's end as the service counts it.
    assert.ok(refused.error.data.retry_after_ms > 0 && refused.error.data.retry_after_ms <= 3_600_000);
    // Per caller: bob has his own four.
    const bob = await connect(b.url('tools'), 'bob');
    assert.equal(passed([await call(bob, 'echo', { message: '1' }), await call(bob, 'echo', { message: '2' })]), 2);
    await Promise.all([onA.close(), onB.close(), bob.close()]);
  });

  test('a policy-named limit holds across replicas (its rate rides in the descriptor)', async () => {
    const onA = await connect(a.url('governed'), 'dave');
    const onB = await connect(b.url('governed'), 'erin');
    const rs = [await call(onA, 'search', { q: '1' }), await call(onB, 'search', { q: '2' }), await call(onA, 'search', { q: '3' }), await call(onB, 'search', { q: '4' })];
    assert.deepEqual(rs.map((r) => r.ok), [true, true, false, false]);
    assert.equal((rs[3] as { error: any }).error.data.limit, 'policy:tenant:acme');
    await Promise.all([onA.close(), onB.close()]);
  });

  test('shadow limits are counted by the service and let through', async () => {
    const onA = await connect(a.url('tools'), 'frank');
    const onB = await connect(b.url('tools'), 'frank');
    assert.equal(passed([await call(onA, 'report'), await call(onB, 'report'), await call(onA, 'report')]), 3);
    await a.waitForAudit((e) => e.reason === 'would_rate_limit' && e.identity?.subject === 'frank');
    await Promise.all([onA.close(), onB.close()]);
  });

  test('a concurrency cap holds across replicas (slots in Redis)', async () => {
    const onA = await connect(a.url('tools'), 'grace');
    const onB = await connect(b.url('tools'), 'grace');
    const slow = [call(onA, 'slow', { ms: 3000, tag: 'replicas' }), call(onB, 'slow', { ms: 3000, tag: 'replicas' })];
    await slowCallsRunning('replicas', 2);
    const third = await call(onA, 'slow', { ms: 10 });
    assert.ok(!third.ok);
    assert.equal(third.status, 429);
    assert.equal(third.error.data.limit, 'slow-in-flight');
    assert.equal(passed(await Promise.all(slow)), 2);
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      ok = (await call(onB, 'slow', { ms: 10 })).ok;
      if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(ok, 'the slots are given back in Redis when the calls end');
    await Promise.all([onA.close(), onB.close()]);
  });

  test('Redis killed: failure mode closed refuses with 503, open lets through; both recover', async () => {
    const closedClient = await connect(a.url('tools'), 'heidi');
    const openClient = await connect(open.url('tools'), 'heidi');
    await redis.stop();
    try {
      // Rates: the service cannot reach Redis and errors. Concurrency: the sidecar cannot.
      for (const [tool, args] of [['echo', { message: 'x' }], ['slow', { ms: 10 }]] as const) {
        const closed = await call(closedClient, tool, args);
        assert.ok(!closed.ok, `${tool} refused when closed`);
        assert.equal(closed.status, 503);
        assert.equal(closed.error.data.reason, 'rate_limit_unavailable');
        assert.ok((await call(openClient, tool, args)).ok, `${tool} let through when open`);
      }
      const ev = await a.waitForAudit((e: AuditEvent) => e.reason === 'rate_limit_unavailable');
      assert.equal(ev.decision, 'deny');
      const noted = await open.waitForAudit((e: AuditEvent) => e.rate_limit !== undefined && 'unavailable' in e.rate_limit && e.identity?.subject === 'heidi');
      assert.equal(noted.decision, 'allow');
    } finally {
      await redis.restart();
    }
    let ok = false;
    for (let i = 0; i < 60 && !ok; i++) {
      ok = (await call(closedClient, 'slow', { ms: 10 })).ok && (await call(closedClient, 'echo', { message: 'back' })).ok;
      if (!ok) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(ok, 'limits work again once Redis is back');
    await Promise.all([closedClient.close(), openClient.close()]);
  });

  test('the rate-limit service killed: closed refuses with 503, open lets through', async () => {
    const closedClient = await connect(b.url('tools'), 'bob');
    const openClient = await connect(open.url('tools'), 'bob');
    await rls.stop();
    try {
      const closed = await call(closedClient, 'search', { q: 'x' });
      assert.ok(!closed.ok);
      assert.equal(closed.status, 503);
      assert.equal(closed.error.data.reason, 'rate_limit_unavailable');
      assert.ok((await call(openClient, 'search', { q: 'y' })).ok);
    } finally {
      await rls.restart();
    }
    await Promise.all([closedClient.close(), openClient.close()]);
  });
});
