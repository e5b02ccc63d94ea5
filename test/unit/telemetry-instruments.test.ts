// The metrics fed by the sidecar's parts rather than by audit events (policy evaluation,
// bundle reloads, the audit sink, JWKS, token exchange), each through its module's own
// observer interface, against real servers on loopback; and the usage counters' bounds.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';
import { GatewayMetrics, OTHER } from '../../src/telemetry/metrics.js';
import { emptyAuditEvent, type AuditEvent } from '../../src/audit/event.js';
import { createAuditSink } from '../../src/audit/sink.js';
import { TokenExchanger } from '../../src/credentials/token-exchange.js';
import { createJwtVerifier } from '../../src/identity/jwt.js';
import { opaBuild } from '../../src/policy/opa-cli.js';
import { watchPolicyBundle } from '../../src/policy/reloader.js';
import { createPolicyInputBuilder } from '../../src/policy/input.js';
import { parseExposition, samples, total } from '../support/prometheus.js';

const tmp = mkdtempSync(join(tmpdir(), 'instruments-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function usageCall(caller: string | undefined, o: Partial<AuditEvent> = {}): AuditEvent {
  const e = emptyAuditEvent();
  e.server = 's';
  e.caller = caller;
  e.rpc = { kind: 'request', id: 1, method: 'tools/call' };
  e.target = { kind: 'tool', name: 'echo' };
  e.upstream_status = 200;
  e.latency_ms = 5;
  e.request_bytes = 100;
  e.response_bytes = 40;
  e.cost_units = 2;
  return Object.assign(e, o);
}

test('usage counters: caller is a label only when configured, capped at max_callers, and sums match', async () => {
  const off = new GatewayMetrics({ processMetrics: false });
  off.observe(usageCall('alice'));
  const f0 = parseExposition(await off.text());
  assert.deepEqual(samples(f0, 'mcp_gateway_usage_calls_total').map((s) => s.labels.caller ?? ''), [''], 'no caller label by default');

  const m = new GatewayMetrics({ processMetrics: false, usage: { callerLabel: { kind: 'subject' }, maxCallers: 3 } });
  for (const c of ['a', 'b', 'c', 'd', 'e', 'a']) m.observe(usageCall(c));
  m.observe(usageCall(undefined, { type: 'http.reject', rpc: undefined, target: undefined, decision: 'deny', upstream_status: undefined, request_bytes: undefined }));
  m.observe(usageCall('a', { decision: 'deny', target: { kind: 'tool', name: 'made-up' }, upstream_status: undefined }));
  m.observe(usageCall('b', { upstream_status: 502, cost_units: undefined }));
  m.observe(usageCall('b', { type: 'mcp.notification' }));
  const f = parseExposition(await m.text());
  const callers = new Set(samples(f, 'mcp_gateway_usage_calls_total').map((s) => s.labels.caller));
  assert.deepEqual([...callers].sort(), ['_other', 'a', 'b', 'c'], 'three callers, the rest _other (the unauthenticated one too)');
  assert.equal(total(samples(f, 'mcp_gateway_usage_calls_total', { caller: 'a', gen_ai_tool_name: 'echo', outcome: 'ok' })), 2);
  assert.equal(total(samples(f, 'mcp_gateway_usage_calls_total', { caller: OTHER })), 3);
  assert.equal(total(samples(f, 'mcp_gateway_usage_calls_total', { caller: 'a', gen_ai_tool_name: OTHER, outcome: 'refused' })), 1, 'a refused, never-seen tool name is _other');
  assert.equal(total(samples(f, 'mcp_gateway_usage_calls_total', { caller: 'b', outcome: 'error' })), 1);
  assert.equal(total(samples(f, 'mcp_gateway_usage_calls_total')), 9, 'the notification is not a call');
  assert.equal(total(samples(f, 'mcp_gateway_usage_cost_units_total')), 2 * 8);
  assert.equal(total(samples(f, 'mcp_gateway_usage_request_bytes_total')), 100 * 8);
  assert.equal(total(samples(f, 'mcp_gateway_usage_response_bytes_total', { caller: 'a' })), 40 * 2 + 40);
  assert.ok(Math.abs(total(samples(f, 'mcp_gateway_usage_duration_seconds_total')) - 9 * 0.005) < 1e-9);
});

test('rate limits: hits by configured limit, kind and action; policy-named limits under one label; backends unavailable', async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  const limited = (rate_limit: AuditEvent['rate_limit'], decision: 'allow' | 'deny' = 'deny') => usageCall('a', { decision, reason: decision === 'deny' ? 'rate_limited' : 'would_rate_limit', upstream_status: undefined, rate_limit });
  m.observe(limited({ limit: 'per-caller', kind: 'rate', shadow: false, retry_after_ms: 100 }));
  m.observe(limited({ limit: 'per-caller', kind: 'rate', shadow: false, retry_after_ms: 100 }));
  m.observe(limited({ limit: 'trial', kind: 'rate', shadow: true, retry_after_ms: 100 }, 'allow'));
  m.observe(limited({ limit: 'in-flight', kind: 'concurrency', shadow: false, retry_after_ms: 1000 }));
  for (const tenant of ['t1', 't2', 't3']) m.observe(limited({ limit: `policy:tenant:${tenant}`, kind: 'rate', shadow: false, retry_after_ms: 1 }));
  m.observe(limited({ unavailable: 'redis', fail_open: false }));
  m.observe(limited({ unavailable: 'service', fail_open: true }, 'allow'));
  m.observe(usageCall('a'));
  const f = parseExposition(await m.text());
  const hits = (labels: Record<string, string>) => total(samples(f, 'mcp_gateway_rate_limit_hits_total', labels));
  assert.equal(hits({ server: 's', limit: 'per-caller', kind: 'rate', action: 'refused' }), 2);
  assert.equal(hits({ limit: 'trial', action: 'shadowed' }), 1);
  assert.equal(hits({ limit: 'in-flight', kind: 'concurrency', action: 'refused' }), 1);
  assert.equal(hits({ limit: '_policy' }), 3, 'a policy key is data, not a label value');
  assert.equal(samples(f, 'mcp_gateway_rate_limit_hits_total').length, 4);
  assert.equal(hits({}), 7, 'a request within its limits is no hit');
  const unavailable = (labels: Record<string, string>) => total(samples(f, 'mcp_gateway_rate_limit_unavailable_total', labels));
  assert.equal(unavailable({ backend: 'redis', action: 'refused' }), 1);
  assert.equal(unavailable({ backend: 'service', action: 'allowed' }), 1);
});

test('audit sink: events written and dropped after close; a failing destination counts errors', async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  const file = join(tmp, 'audit.log');
  const sink = createAuditSink({ sink: 'file', file, durability: 'write_through' }, m);
  sink.write(emptyAuditEvent());
  sink.write(emptyAuditEvent());
  await sink.close();
  sink.write(emptyAuditEvent());
  assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 2);
  const f = parseExposition(await m.text());
  assert.equal(total(samples(f, 'mcp_gateway_audit_events_total', { result: 'written' })), 2);
  assert.equal(total(samples(f, 'mcp_gateway_audit_events_total', { result: 'dropped' })), 1);


  // A full disk (/dev/full): the write fails, the event is dropped, the error counted, and
  // the caller still sees the failure (as without metrics).
  const full = createAuditSink({ sink: 'file', file: '/dev/full', durability: 'write_through' }, m);
  assert.throws(() => full.write(emptyAuditEvent()), /ENOSPC/);
  const g = parseExposition(await m.text());
  assert.equal(total(samples(g, 'mcp_gateway_audit_events_total', { result: 'dropped' })), 2);
  assert.equal(total(samples(g, 'mcp_gateway_audit_sink_errors_total')), 1);
});

test('token exchange: cache hits and misses, successes and refusals, per server', async () => {
  const as = await listen(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    const p = new URLSearchParams(body);
    if (p.get('subject_token') === 'bad') return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `up-${p.get('subject_token')}`, token_type: 'Bearer', expires_in: 300 }));
  });
  const m = new GatewayMetrics({ processMetrics: false });
  const x = new TokenExchanger({ tokenEndpoint: `${as.url}/token`, clientId: 'gw', clientSecret: 's', audience: 'https://up/mcp', scope: undefined, timeoutMs: 2000 }, Date.now, m.tokenExchangeObserver('crm'));
  try {
    await x.exchange('t1');
    await x.exchange('t1');
    await x.exchange('t1');
    await assert.rejects(x.exchange('bad'));
  } finally {
    as.server.close();
  }
  const f = parseExposition(await m.text());
  assert.equal(total(samples(f, 'mcp_gateway_token_exchange_cache_total', { server: 'crm', result: 'hit' })), 2);
  assert.equal(total(samples(f, 'mcp_gateway_token_exchange_cache_total', { server: 'crm', result: 'miss' })), 2);
  assert.equal(total(samples(f, 'mcp_gateway_token_exchanges_total', { server: 'crm', result: 'success' })), 1);
  assert.equal(total(samples(f, 'mcp_gateway_token_exchanges_total', { server: 'crm', result: 'refused' })), 1);
});

test('JWKS: every fetch counted, a failing identity provider as failures', async () => {
  const { publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  let up = true;
  const idp = await listen((_req, res) => (up ? res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })) : res.writeHead(503).end()));
  const m = new GatewayMetrics({ processMetrics: false });
  const fetches = async (result: string) => total(samples(parseExposition(await m.text()), 'mcp_gateway_jwks_fetches_total', { result }));
  const v = await createJwtVerifier(
    { issuer: 'https://idp', audiences: ['a'], algorithms: ['ES256'], clockSkewS: 0, jwks: { kind: 'url', url: new URL(`${idp.url}/jwks`), timeoutMs: 1000, cooldownMs: 0, refreshMs: 60_000 } },
    { subject: 'sub', groups: 'groups', scopes: 'scope' } as never,
    m,
  );
  try {
    for (let i = 0; i < 50 && (await fetches('success')) === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await fetches('success'), 1, 'the warm-up fetch');
    up = false;
    // A token with an unknown kid makes jose refetch (cooldown 0): the IdP fails.
    const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'k2' })).toString('base64url');
    const r = await v.verify(`${header}.${Buffer.from('{}').toString('base64url')}.c2ln`);
    assert.equal(r.ok, false);
    assert.equal(await fetches('failure'), 1);
  } finally {
    v.close();
    idp.server.close();
  }
});

test('policy: evaluation durations by bundle and outcome, the revision in force, reloads', async () => {
  const bundle = join(tmp, 'policy', 'bundle.tar.gz');
  await opaBuild(fileURLToPath(new URL('../../policies', import.meta.url)), bundle);
  const m = new GatewayMetrics({ processMetrics: false });
  const w = await watchPolicyBundle(bundle, (b, reload) => m.policyBundleLoaded(bundle, b.revision, reload), () => m.policyBundleFailed(bundle), { pollMs: 0, observer: m.policyObserver(bundle) });
  try {
    const input = createPolicyInputBuilder()({
      http: { method: 'POST', path: '/mcp/demo', host: 'gw', headers: {} },
      sourceAddress: undefined,
      identity: { subject: 'x', issuer: null, groups: [], scopes: [], claims: {}, method: 'jwt' },
      server: 'demo',
      protocolVersion: '2025-11-25',
      sessionId: undefined,
      message: { kind: 'request', id: 1, method: 'tools/call', params: { name: 'anything' } } as never,
      target: { kind: 'tool', name: 'anything' },
    });
    const d = w.current().decide(input);
    w.current().visibleSet(input, [{ kind: 'tool', name: 'a', item: null }]);
    const f = parseExposition(await m.text());
    assert.equal(total(samples(f, 'mcp_gateway_policy_evaluation_duration_seconds_count', { bundle, entrypoint: 'decision', outcome: d.error ? 'error' : d.allowed ? 'allow' : 'deny' })), 1);
    assert.equal(total(samples(f, 'mcp_gateway_policy_evaluation_duration_seconds_count', { bundle, entrypoint: 'visible', outcome: 'ok' })), 1);
    assert.deepEqual(samples(f, 'mcp_gateway_policy_bundle_info').map((s) => [s.labels.bundle, s.labels.revision, s.value]), [[bundle, w.current().revision, 1]]);
    assert.equal(total(samples(f, 'mcp_gateway_policy_bundle_reloads_total')), 0, 'the first load is not a reload');
  } finally {
    w.close();
  }
  // A new revision replaces the info series; a failed load is counted.
  m.policyBundleLoaded(bundle, 'r2', true);
  m.policyBundleFailed(bundle);
  const f = parseExposition(await m.text());
  assert.deepEqual(samples(f, 'mcp_gateway_policy_bundle_info').map((s) => s.labels.revision), ['r2']);
  assert.equal(total(samples(f, 'mcp_gateway_policy_bundle_reloads_total', { result: 'success' })), 1);
  assert.equal(total(samples(f, 'mcp_gateway_policy_bundle_reloads_total', { result: 'failure' })), 1);
});
