// Policy replay end to end: calls through the real Envoy and sidecar, decided by the
// example Rego policy (built by the real OPA CLI), written to the real audit file with
// the policy input; then `mcp-gateway policy replay` re-decides them with a candidate
// bundle and reports exactly what changes, with the exit status CI gates on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { appendFile, cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startUpstream, type RunningUpstream } from '../../examples/upstream.js';
import { createPolicyTestServer } from '../fixtures/policy-server.js';
import { freePort } from '../support/gateway.js';
import { parseConfig } from '../../src/config/load.js';
import { launchGateway } from '../../src/launcher.js';
import { createLogger } from '../../src/telemetry/log.js';
import { opaBuild } from '../../src/policy/opa-cli.js';
import type { ReplayReport } from '../../src/policy/replay.js';

const run = promisify(execFile);
const CLI = ['--import', 'tsx', 'src/cli.ts'];
const KEYS = { alice: 'alice-key-0123456789abcdef', fred: 'fred-key-0123456789abcdef' };
let dir: string;
let upstream: RunningUpstream;
let current: string;
let candidate: string;
let auditFile: string;
const decided: { caller: string; tool: string; allowed: boolean }[] = [];

/** Builds the example policy with `edit` applied to its Rego. */
async function bundleWith(name: string, edit: (rego: string) => string): Promise<string> {
  const src = join(dir, name);
  await cp('policies', src, { recursive: true });
  const rego = join(src, 'mcp', 'authz.rego');
  const before = await readFile(rego, 'utf8');
  const after = edit(before);
  assert.notEqual(after, before, `the edit for ${name} changed the policy`);
  await writeFile(rego, after);
  const out = join(dir, `${name}.tar.gz`);
  await opaBuild(src, out);
  return out;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-replay-'));
  current = join(dir, 'current.tar.gz');
  await opaBuild('policies', current);
  // The candidate: echo is no longer public; finance may query customers.
  candidate = await bundleWith('candidate', (r) => r.replace('public_tools := {"echo"}', 'public_tools := set()').replace('"finance": ["get-*", "make-payment"]', '"finance": ["get-*", "make-payment", "query-*"]'));
  upstream = await startUpstream({ createServer: createPolicyTestServer });
  auditFile = join(dir, 'audit.jsonl');
  const sha = (k: string) => createHash('sha256').update(k).digest('hex');
  const config = parseConfig(
    stringify({
      gateway: { listen: `127.0.0.1:${await freePort()}`, admin: `127.0.0.1:${await freePort()}` },
      sidecar: { listen: `127.0.0.1:${await freePort()}` },
      auth: { api_keys: { keys: [{ sha256: sha(KEYS.alice), subject: 'alice', groups: ['analyst'] }, { sha256: sha(KEYS.fred), subject: 'fred', groups: ['finance'] }] } },
      policy: { bundle: current },
      servers: [{ name: 'tools', url: upstream.url }],
      audit: { sink: 'file', file: auditFile },
      log: { level: 'warn' },
    }),
    '<replay test>',
  );
  const gw = await launchGateway(config, { log: createLogger('warn'), envoy: { logLevel: 'error', stdio: 'pipe' } });
  try {
    const calls: [keyof typeof KEYS, string, Record<string, unknown>][] = [
      ['alice', 'echo', { message: 'hi' }],
      ['alice', 'run-sql', { query: 'select 1' }],
      ['alice', 'make-payment', { amount: 5 }],
      ['fred', 'echo', { message: 'hello' }],
      ['fred', 'make-payment', { amount: 10, card_number: '4111111111111111' }],
      ['fred', 'query-customers', { name: 'x' }],
    ];
    const clients = new Map<string, Client>();
    for (const [who, tool, args] of calls) {
      let c = clients.get(who);
      if (!c) {
        c = new Client({ name: 'replay', version: '1' });
        await c.connect(new StreamableHTTPClientTransport(new URL(gw.endpoints.get('tools')!), { requestInit: { headers: { 'x-api-key': KEYS[who] } } }));
        clients.set(who, c);
      }
      const allowed = await c.callTool({ name: tool, arguments: args }).then(
        () => true,
        () => false,
      );
      decided.push({ caller: who, tool, allowed });
    }
    for (const c of clients.values()) await c.close();
  } finally {
    await gw.stop();
  }
  assert.deepEqual(
    decided.map((d) => d.allowed),
    [true, true, false, true, true, false],
    'the current policy decided as the example policy says',
  );
});
after(async () => upstream?.close());

async function replay(...args: string[]): Promise<{ code: number; stdout: string }> {
  return run(process.execPath, [...CLI, 'policy', 'replay', '--audit', auditFile, ...args]).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string; stderr: string }) => {
      assert.ok(e.code === 1, `replay failed (${e.code}): ${e.stderr}`);
      return { code: e.code, stdout: e.stdout };
    },
  );
}

test('the audit trail carries the redacted policy input of every decision', async () => {
  const events = (await readFile(auditFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const calls = events.filter((e) => e.rpc?.method === 'tools/call');
  assert.equal(calls.length, decided.length);
  for (const e of calls) {
    assert.equal(e.policy.input_version, 1);
    assert.equal(e.policy.input.mcp.tool, e.target.name);
    assert.equal(e.policy.input.identity.subject, e.identity.subject);
    assert.equal(e.policy.input.attributes.request.http.headers['x-api-key'], undefined, 'the credential is not in the input');
  }
  const payment = calls.find((e) => e.identity.subject === 'fred' && e.target.name === 'make-payment');
  assert.equal(payment.policy.input.mcp.arguments.card_number, '[REDACTED]');
  assert.equal(payment.policy.input.mcp.arguments.amount, 10);
});

test('replaying the bundle that decided changes nothing (exit 0)', async () => {
  const { code, stdout } = await replay('--bundle', current, '--format', 'json');
  assert.equal(code, 0);
  const r = JSON.parse(stdout) as ReplayReport;
  const events = (await readFile(auditFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(r.replayed, events.filter((e) => e.policy).length, 'every policy decision (initialize, lists, calls) replayed');
  assert.equal(r.unchanged + r.reasons_changed, r.replayed);
  assert.equal(r.newly_denied.count + r.newly_allowed.count, 0);
});

test('a candidate bundle: newly denied and newly allowed, grouped, with examples; exit 1', async () => {
  for (const baseline of [[], ['--against', current]]) {
    const { code, stdout } = await replay('--bundle', candidate, '--format', 'json', ...baseline);
    assert.equal(code, 1);
    const r = JSON.parse(stdout) as ReplayReport;
    assert.equal(r.baseline === 'recorded', baseline.length === 0);
    // echo by both callers is now denied, and nothing else among the calls.
    const deniedCalls = r.newly_denied.by_target.filter((g) => g.key.startsWith('tool '));
    assert.deepEqual(deniedCalls, [{ key: 'tool echo', count: 2 }]);
    assert.deepEqual(r.newly_denied.by_caller.map((g) => g.key).sort(), ['alice', 'fred']);
    assert.deepEqual(r.newly_denied.by_server, [{ key: 'tools', count: r.newly_denied.count }]);
    assert.ok(r.newly_denied.by_reason.length > 0);
    // fred's query-customers would now pass; the reason it was denied is reported.
    assert.deepEqual(r.newly_allowed.by_target, [{ key: 'tool query-customers', count: 1 }]);
    assert.deepEqual(r.newly_allowed.by_caller, [{ key: 'fred', count: 1 }]);
    const ex = r.newly_allowed.examples[0]!;
    assert.equal(ex.before.allowed, false);
    assert.equal(ex.after.allowed, true);
    assert.ok(ex.request_id && ex.time);
    assert.ok(r.redacted_inputs >= 1, "fred's card number was redacted in the recorded input");
  }
  const table = await replay('--bundle', candidate);
  assert.match(table.stdout, /NEWLY DENIED \(\d+\)/);
  assert.match(table.stdout, /NEWLY ALLOWED \(1\)/);
  assert.match(table.stdout, /tool query-customers/);
  assert.match(table.stdout, /decisions change \(exit status 1\)/);
});

test('lines it cannot replay are counted, not guessed at', async () => {
  const mixed = join(dir, 'mixed.jsonl');
  await cp(auditFile, mixed);
  await appendFile(mixed, ['not json', '{"type":"http.local_reply"}', '{"policy":{"allowed":true,"reasons":[]}}', '{"policy":{"allowed":true,"input_version":99,"input":{}}}', ''].join('\n'));
  const report = async (file: string) => JSON.parse((await run(process.execPath, [...CLI, 'policy', 'replay', '--audit', file, '--bundle', current, '--format', 'json'])).stdout) as ReplayReport;
  const [plain, r] = [await report(auditFile), await report(mixed)];
  // The trail itself has events no policy decided (GET streams, DELETE, client notifications…).
  const s = plain.skipped;
  assert.deepEqual(r.skipped, { not_json: s.not_json + 1, no_policy: s.no_policy + 1, no_input: s.no_input + 1, other_input_version: s.other_input_version + 1 });
  assert.equal(r.replayed, plain.replayed);
  const usage = await run(process.execPath, [...CLI, 'policy', 'replay', '--audit', mixed]).then(
    () => assert.fail('replay without --bundle succeeded'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--bundle/);
  const broken = await run(process.execPath, [...CLI, 'policy', 'replay', '--audit', join(dir, 'no-such.jsonl'), '--bundle', current]).then(
    () => assert.fail('replay of a missing trail succeeded'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(broken.code, 2, 'a run that could not happen is not "changes found"');
  assert.match(broken.stderr, /no-such\.jsonl/);
});
