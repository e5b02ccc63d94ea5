// Usage attribution end to end: API-key callers through the real Envoy to the reference
// "everything" server, the audit trail written to a real file (by the sidecar, and by
// Envoy for what it answers itself), the usage counters on /metrics with caller_label
// and its cap, and `mcp-gateway usage` run as a command over that file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startUpstream, everythingServerFactory, type RunningUpstream } from '../../examples/upstream.js';
import { parseConfig } from '../../src/config/load.js';
import { launchGateway, endpointsOf, type RunningGateway } from '../../src/launcher.js';
import { createLogger } from '../../src/telemetry/log.js';
import { freePort } from '../support/ports.js';
import { scrape, samples, total } from '../support/prometheus.js';

const run = promisify(execFile);
const KEYS = { alice: 'key-alice-0123456789', bob: 'key-bob-0123456789', carol: 'key-carol-0123456789' };
const sha = (k: string) => createHash('sha256').update(k).digest('hex');

let dir: string;
let auditFile: string;
let upstream: RunningUpstream;
let gw: RunningGateway | undefined;
let url: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'usage-e2e-'));
  auditFile = join(dir, 'audit.log');
  upstream = await startUpstream({ createServer: await everythingServerFactory() });
  const raw = {
    gateway: { listen: `127.0.0.1:${await freePort()}`, admin: `127.0.0.1:${await freePort()}` },
    sidecar: { listen: `127.0.0.1:${await freePort()}` },
    auth: { api_keys: { keys: Object.entries(KEYS).map(([subject, k]) => ({ sha256: sha(k), subject })) } },
    servers: [{ name: 'everything', url: upstream.url, tools: { allow: ['echo', 'get-sum'] }, tool_costs: { echo: 2, '*': 0.5 } }],
    telemetry: { listen: `127.0.0.1:${await freePort()}`, usage: { caller_label: 'subject', max_callers: 2 } },
    audit: { sink: 'file', file: auditFile, durability: 'write_through' },
    log: { level: 'warn' },
  };
  const config = parseConfig(stringify(raw), '<usage e2e>');
  gw = await launchGateway(config, { log: createLogger('warn'), envoy: { logLevel: 'error', stdio: 'pipe' } });
  url = endpointsOf(config).get('everything')!;
});

after(async () => {
  await gw?.stop();
  await upstream?.close();
  await rm(dir, { recursive: true, force: true });
});

async function as(caller: keyof typeof KEYS, work: (c: Client) => Promise<void>): Promise<void> {
  const c = new Client({ name: `usage-${caller}`, version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': KEYS[caller] } } }));
  await work(c);
  await c.close();
}

/** A request line Envoy's codec refuses: Envoy answers 400 itself and writes its own audit line. */
function malformedRequest(): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), '127.0.0.1', () => s.write('GET /mcp/everything HTTP/1.1\r\nHost: 127.0.0.1\r\nbad header line\r\n\r\n'));
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

async function lines(): Promise<Record<string, unknown>[]> {
  return (await readFile(auditFile, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('usage counters on /metrics, then the same calls in `mcp-gateway usage` over the audit file', async () => {
  await as('alice', async (c) => {
    await c.callTool({ name: 'echo', arguments: { message: 'one' } });
    await c.callTool({ name: 'echo', arguments: { message: 'two' } });
    await c.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
    await assert.rejects(c.callTool({ name: 'get-env', arguments: {} }));
  });
  await as('bob', async (c) => void (await c.callTool({ name: 'echo', arguments: { message: 'bob' } })));
  await as('carol', async (c) => void (await c.callTool({ name: 'echo', arguments: { message: 'carol' } })));
  const anonymous = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
  assert.equal(anonymous.status, 401);
  assert.match(await malformedRequest(), /^HTTP\/1\.1 400/);

  // ---- /metrics -------------------------------------------------------------------
  const { families } = await scrape(gw!.sidecar.telemetryUrl!);
  const calls = (labels: Record<string, string>) => total(samples(families, 'mcp_gateway_usage_calls_total', labels));
  assert.equal(calls({ server: 'everything', caller: 'alice', mcp_method_name: 'tools/call', gen_ai_tool_name: 'echo', outcome: 'ok' }), 2);
  assert.equal(calls({ caller: 'alice', gen_ai_tool_name: 'get-sum', outcome: 'ok' }), 1);
  assert.equal(calls({ caller: 'alice', mcp_method_name: 'tools/call', outcome: 'refused' }), 1);
  assert.equal(calls({ caller: 'bob', gen_ai_tool_name: 'echo' }), 1);
  const callers = new Set(samples(families, 'mcp_gateway_usage_calls_total').map((s) => s.labels.caller));
  assert.deepEqual([...callers].sort(), ['_other', 'alice', 'bob'], 'max_callers 2: carol and the unauthenticated caller are _other');
  assert.equal(calls({ caller: '_other', gen_ai_tool_name: 'echo', outcome: 'ok' }), 1, 'carol');
  assert.equal(calls({ caller: '_other', mcp_method_name: '', outcome: 'refused' }), 1, 'the 401');
  const cost = (labels: Record<string, string>) => total(samples(families, 'mcp_gateway_usage_cost_units_total', labels));
  assert.equal(cost({ caller: 'alice', gen_ai_tool_name: 'echo' }), 4);
  assert.equal(cost({ caller: 'alice', gen_ai_tool_name: 'get-sum' }), 0.5);
  assert.equal(cost({}), 4 + 0.5 + 2 + 2, 'refused calls and other methods cost nothing');
  assert.ok(total(samples(families, 'mcp_gateway_usage_request_bytes_total', { caller: 'alice', gen_ai_tool_name: 'echo' })) > 100);
  assert.ok(total(samples(families, 'mcp_gateway_usage_response_bytes_total', { caller: 'alice', gen_ai_tool_name: 'echo' })) > 0);
  assert.ok(total(samples(families, 'mcp_gateway_usage_duration_seconds_total', { caller: 'alice' })) > 0);
  for (const phase of ['request_headers', 'request_body', 'response_headers', 'response_body']) {
    assert.ok(total(samples(families, 'mcp_gateway_extproc_phase_duration_seconds_count', { phase })) > 0, phase);
  }
  assert.ok(total(samples(families, 'mcp_gateway_audit_events_total', { result: 'written' })) > 10);
  const metricCalls = calls({});

  // ---- the audit file and the report ----------------------------------------------
  const deadline = Date.now() + 5000;
  while (!(await lines()).some((l) => l.source === 'envoy') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const trail = await lines();
  assert.ok(trail.some((l) => l.source === 'envoy' && l.type === 'http.local_reply'), "Envoy's own line is in the trail");
  const echo = trail.find((l) => l.type === 'mcp.request' && (l.target as { name?: string } | undefined)?.name === 'echo' && l.caller === 'alice')!;
  assert.equal(echo.cost_units, 2);
  assert.ok((echo.request_bytes as number) > 0 && (echo.response_bytes as number) > 0, JSON.stringify(echo));

  const cli = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'usage', '--audit', auditFile, '--by', 'caller,tool', '--format', 'json']);
  type Row = { caller: string; tool: string; calls: number; errors: number; refusals: number; p50_ms: number | null; cost_units: number; request_bytes: number; response_bytes: number };
  const report = JSON.parse(cli.stdout) as { rows: Row[]; total: Row; envoy_replies: number };
  const row = (caller: string, tool: string) => report.rows.find((r) => r.caller === caller && r.tool === tool);
  assert.equal(row('alice', 'echo')?.calls, 2);
  assert.equal(row('alice', 'echo')?.cost_units, 4);
  assert.ok(row('alice', 'echo')!.p50_ms! > 0);
  assert.equal(row('alice', 'get-env')?.refusals, 1);
  assert.equal(row('carol', 'echo')?.calls, 1, 'the report is not capped: the file has every caller');
  assert.ok(row('_unauthenticated', '')!.refusals >= 2, 'the 401 and Envoy’s 400');
  assert.equal(report.envoy_replies, 1);
  assert.equal(report.total.calls, metricCalls + report.envoy_replies, 'the metrics and the report count the same calls (Envoy lines only in the file)');
  assert.equal(report.total.cost_units, cost({}));
  assert.match(cli.stderr, /1 request\(s\) Envoy answered itself/);

  const table = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'usage', '--audit', auditFile, '--by', 'server', '--since', '1h']);
  assert.match(table.stdout, /^server\s+calls\s+errors\s+refusals\s+p50_ms\s+p95_ms\s+request_bytes\s+response_bytes\s+cost_units$/m);
  assert.match(table.stdout, new RegExp(`^everything\\s+${metricCalls}\\s`, 'm'));
  const future = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'usage', '--audit', auditFile, '--until', '2000-01-01T00:00:00Z', '--format', 'csv']);
  assert.equal(future.stdout, 'caller,calls,errors,refusals,p50_ms,p95_ms,request_bytes,response_bytes,cost_units\r\n');
  await assert.rejects(run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'usage', '--audit', auditFile, '--by', 'user']), /--by user: expected caller, server, tool, method/);
});
