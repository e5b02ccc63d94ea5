// The usage report over audit lines, the latency sketch, caller attribution and tool
// costs: table-driven cases, and properties (fast-check) that must hold for any trail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { UsageAggregator, parseDimensions, parseTimeArg, usageRecord, UNAUTHENTICATED, NO_SERVER, type UsageRecord } from '../../src/usage/report.js';
import { QuantileSketch, RELATIVE_ERROR } from '../../src/usage/sketch.js';
import { readAuditTrail } from '../../src/usage/read.js';
import { formatReport } from '../../src/usage/format.js';
import { callerAttribution, compileToolCosts, NO_CALLER } from '../../src/usage/attribution.js';
import { parseConfig } from '../../src/config/load.js';
import { ANONYMOUS } from '../../src/gateway/runtime.js';

const call = (o: Record<string, unknown> = {}) => ({
  log: 'audit',
  time: '2025-06-01T10:00:00.000Z',
  type: 'mcp.request',
  server: 'crm',
  identity: { subject: 'alice', method: 'jwt' },
  rpc: { kind: 'request', id: 1, method: 'tools/call' },
  target: { kind: 'tool', name: 'search' },
  decision: 'allow',
  reason: 'allowed',
  upstream_status: 200,
  latency_ms: 4,
  request_bytes: 120,
  response_bytes: 800,
  ...o,
});

test('an audit line becomes a call, is skipped, or is malformed', () => {
  const cases: [string, unknown, Partial<UsageRecord> | 'skip' | 'malformed'][] = [
    ['a passed tools/call', call({ cost_units: 2 }), { caller: 'alice', server: 'crm', tool: 'search', method: 'tools/call', outcome: 'ok', latencyMs: 4, requestBytes: 120, responseBytes: 800, costUnits: 2 }],
    ['the configured caller key wins over the subject', call({ caller: 'team-a' }), { caller: 'team-a' }],
    ['a refusal', call({ decision: 'deny', reason: 'not_curated', upstream_status: undefined }), { outcome: 'refused' }],
    ['an upstream 5xx is an error', call({ upstream_status: 503 }), { outcome: 'error' }],
    ['no answer at all is an error', call({ upstream_status: undefined }), { outcome: 'error' }],
    ['a request refused before authentication', call({ type: 'http.reject', identity: undefined, rpc: undefined, target: undefined, decision: 'deny' }), { caller: UNAUTHENTICATED, tool: '', method: '', outcome: 'refused' }],
    ["Envoy's own reply: a refusal without latency", { log: 'audit', source: 'envoy', type: 'http.local_reply', server: null, http: { status: '400' }, decision: 'deny', reason: 'envoy_local_reply' }, { server: NO_SERVER, outcome: 'refused', latencyMs: undefined, envoy: true }],
    ['a notification is not a call', call({ type: 'mcp.notification' }), 'skip'],
    ['a GET stream is not a call', call({ type: 'http.stream' }), 'skip'],
    ['another log line', { level: 'info', msg: 'listening' , log: 'sidecar'}, 'skip'],
    ['not an object', [1, 2], 'malformed'],
    ['no type', { decision: 'allow' }, 'malformed'],
  ];
  for (const [name, line, want] of cases) {
    const got = usageRecord(line);
    if (typeof want === 'string') assert.equal(got, want, name);
    else {
      assert.equal(typeof got, 'object', name);
      for (const [k, v] of Object.entries(want)) assert.deepEqual((got as unknown as Record<string, unknown>)[k], v, `${name}: ${k}`);
    }
  }
});

test('rows by caller and tool, with the window applied and the totals', () => {
  const agg = new UsageAggregator(['caller', 'tool'], { since: Date.parse('2025-06-01T00:00:00Z'), until: Date.parse('2025-06-02T00:00:00Z') });
  const lines = [
    call(),
    call({ latency_ms: 10 }),
    call({ identity: { subject: 'bob' }, decision: 'deny', upstream_status: undefined }),
    call({ target: { kind: 'tool', name: 'delete' }, upstream_status: 500, cost_units: 5 }),
    call({ time: '2025-05-31T23:59:59.999Z' }),
    call({ time: undefined }),
  ];
  const added = lines.map((l) => agg.add(usageRecord(l) as UsageRecord));
  assert.deepEqual(added, [true, true, true, true, false, false]);
  const r = agg.report();
  assert.deepEqual(
    r.rows.map((x) => [x.key.caller, x.key.tool, x.calls, x.errors, x.refusals, x.costUnits]),
    [
      ['alice', 'search', 2, 0, 0, 0],
      ['alice', 'delete', 1, 1, 0, 5],
      ['bob', 'search', 1, 0, 1, 0],
    ],
  );
  assert.equal(r.total.calls, 4);
  assert.equal(r.total.requestBytes, 480);
  const search = r.rows[0]!;
  assert.ok(Math.abs(search.p50Ms! - 4) <= 4 * RELATIVE_ERROR, String(search.p50Ms));
  assert.ok(Math.abs(search.p95Ms! - 10) <= 10 * RELATIVE_ERROR, String(search.p95Ms));
});

test('--by and --since/--until arguments', () => {
  assert.deepEqual(parseDimensions(undefined), ['caller']);
  assert.deepEqual(parseDimensions(['server,tool', 'caller', 'tool']), ['server', 'tool', 'caller']);
  assert.throws(() => parseDimensions(['user']), /--by user: expected caller, server, tool, method/);
  const now = Date.parse('2025-06-02T00:00:00Z');
  assert.equal(parseTimeArg('24h', now), Date.parse('2025-06-01T00:00:00Z'));
  assert.equal(parseTimeArg('30m', now), now - 1_800_000);
  assert.equal(parseTimeArg('2025-06-01T12:00:00Z', now), Date.parse('2025-06-01T12:00:00Z'));
  assert.throws(() => parseTimeArg('yesterday', now), /neither an ISO 8601 time .* nor a duration/);
});

const record = fc.record({
  caller: fc.constantFrom('alice', 'bob', 'carol', UNAUTHENTICATED),
  server: fc.constantFrom('crm', 'docs'),
  tool: fc.constantFrom('', 'search', 'delete'),
  method: fc.constantFrom('tools/call', 'tools/list'),
  outcome: fc.constantFrom('ok' as const, 'error' as const, 'refused' as const),
  latencyMs: fc.option(fc.double({ min: 0, max: 60_000, noNaN: true }), { nil: undefined }),
  requestBytes: fc.nat(1 << 20),
  responseBytes: fc.nat(1 << 20),
  costUnits: fc.nat(100),
  time: fc.constant(undefined),
  envoy: fc.boolean(),
});

test('property: for any trail and any grouping, the rows add up to the totals', () => {
  fc.assert(
    fc.property(fc.array(record, { maxLength: 200 }), fc.subarray(['caller', 'server', 'tool', 'method'] as const, { minLength: 1 }), (recs, by) => {
      const agg = new UsageAggregator(by);
      for (const r of recs) agg.add(r);
      const { rows, total } = agg.report();
      for (const k of ['calls', 'errors', 'refusals', 'requestBytes', 'responseBytes', 'costUnits'] as const) {
        assert.equal(rows.reduce((s, r) => s + r[k], 0), total[k], k);
      }
      assert.equal(total.calls, recs.length);
      assert.equal(new Set(rows.map((r) => JSON.stringify(r.key))).size, rows.length, 'one row per group');
      for (const r of rows) assert.ok(r.errors + r.refusals <= r.calls);
    }),
  );
});

test('property: sketch quantiles are within the relative error of the exact nearest-rank quantile', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0.001, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 500 }), fc.constantFrom(0.5, 0.95, 0.99), (xs, q) => {
      const s = new QuantileSketch();
      for (const x of xs) s.add(x);
      const exact = [...xs].sort((a, b) => a - b)[Math.max(1, Math.ceil(q * xs.length)) - 1]!;
      const got = s.quantile(q)!;
      assert.ok(Math.abs(got - exact) <= exact * RELATIVE_ERROR * 1.0001, `q${q}: ${got} vs ${exact}`);
    }),
  );
});

test('the trail is read line by line; malformed lines are counted, not fatal', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'usage-'));
  const file = join(dir, 'audit.log');
  await writeFile(file, [JSON.stringify(call()), '{"torn":', '', JSON.stringify(call({ type: 'mcp.notification' })), JSON.stringify(call({ identity: { subject: 'bob' } })), '{"type"'].join('\n'));
  const agg = new UsageAggregator(['caller']);
  const stats = await readAuditTrail(file, agg);
  assert.deepEqual(stats, { lines: 5, malformed: 2, outsideWindow: 0 });
  const r = agg.report();
  assert.equal(r.total.calls, 2);
  const csv = formatReport(r, 'csv');
  assert.equal(csv.split('\r\n')[0], 'caller,calls,errors,refusals,p50_ms,p95_ms,request_bytes,response_bytes,cost_units');
  assert.match(csv, /\r\nalice,1,0,0,[\d.]+,[\d.]+,120,800,0\r\n/);
  const json = JSON.parse(formatReport(r, 'json')) as { rows: { caller: string }[]; total: { calls: number } };
  assert.deepEqual(json.rows.map((x) => x.caller).sort(), ['alice', 'bob']);
  assert.equal(json.total.calls, 2);
  assert.match(formatReport(r, 'table'), /^TOTAL\s+2\s+0\s+0/m);
});

test('caller attribution: subject, first group, or a claim', () => {
  const id = { ...ANONYMOUS, subject: 'u1', groups: ['eng', 'ops'], claims: { tenant: 'acme', org: ['o1', 'o2'], n: 7 } };
  assert.equal(callerAttribution(undefined), undefined);
  assert.equal(callerAttribution({ kind: 'subject' })!(id), 'u1');
  assert.equal(callerAttribution({ kind: 'group' })!(id), 'eng');
  assert.equal(callerAttribution({ kind: 'group' })!({ ...id, groups: [] }), NO_CALLER);
  assert.equal(callerAttribution({ kind: 'claim', name: 'tenant' })!(id), 'acme');
  assert.equal(callerAttribution({ kind: 'claim', name: 'org' })!(id), 'o1');
  assert.equal(callerAttribution({ kind: 'claim', name: 'n' })!(id), '7');
  assert.equal(callerAttribution({ kind: 'claim', name: 'absent' })!(id), NO_CALLER);
});

test('tool costs: the first matching pattern in the order written', () => {
  const cost = compileToolCosts([{ pattern: 'search', units: 3 }, { pattern: 'search*', units: 2 }, { pattern: '*', units: 0.5 }])!;
  assert.equal(cost('search'), 3);
  assert.equal(cost('search_docs'), 2);
  assert.equal(cost('other'), 0.5);
  assert.equal(compileToolCosts([]), undefined);
  assert.equal(compileToolCosts([{ pattern: 'a*', units: 1 }])!('b'), undefined);
});

test('config: telemetry.usage and servers[].tool_costs', () => {
  const c = parseConfig(`servers:\n  - name: s\n    url: http://127.0.0.1:1/mcp\n    tool_costs: { "search*": 2, "*": 1 }\ntelemetry:\n  usage: { caller_label: "claim:tenant", max_callers: 5 }\n`);
  assert.deepEqual(c.telemetry.usage, { callerLabel: { kind: 'claim', name: 'tenant' }, maxCallers: 5 });
  assert.deepEqual(c.servers[0]!.toolCosts, [{ pattern: 'search*', units: 2 }, { pattern: '*', units: 1 }]);
  const d = parseConfig(`servers:\n  - name: s\n    url: http://127.0.0.1:1/mcp\n`);
  assert.deepEqual(d.telemetry.usage, { callerLabel: undefined, maxCallers: 100 });
  assert.throws(() => parseConfig(`servers:\n  - name: s\n    url: http://127.0.0.1:1/mcp\ntelemetry:\n  usage: { caller_label: email }\n`), /expected subject, group or claim:<name>/);
  assert.throws(() => parseConfig(`servers:\n  - name: s\n    url: http://127.0.0.1:1/mcp\n    tool_costs: { x: -1 }\n`));
});
