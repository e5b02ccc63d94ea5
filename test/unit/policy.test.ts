// The policy concern end to end: policies/ compiled by the real `opa build -t wasm`,
// evaluated in-process, compared with the real `opa eval`; malformed decisions and
// failing evaluations deny with precise errors; bundles hot-reload.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPolicyBundle, PolicyLoadError, type PolicyBundle, type PolicyEngineOptions } from '../../src/policy/engine.js';
import { createPolicyInputBuilder, type ListItem, type PolicyIdentity, type PolicyInput } from '../../src/policy/input.js';
import { OpaError, opaBinary, opaBuild, opaTest } from '../../src/policy/opa-cli.js';
import { watchPolicyBundle } from '../../src/policy/reloader.js';
import { readTarball } from '../../src/policy/tar.js';

const POLICIES = fileURLToPath(new URL('../../policies', import.meta.url));

let tmp: string;
let opa: string;
let mainBundlePath: string;
let main: PolicyBundle;

before(async () => {
  opa = opaBinary(); // throws "… run `npm run bootstrap` …" when OPA is missing: nothing here is skipped
  tmp = mkdtempSync(join(tmpdir(), 'policy-test-'));
  mainBundlePath = join(tmp, 'main', 'bundle.tar.gz');
  await opaBuild(POLICIES, mainBundlePath);
  main = await loadPolicyBundle(mainBundlePath);
});

after(() => rmSync(tmp, { recursive: true, force: true }));

/** Compiles an inline policy (package mcp.authz) with the real OPA and loads it. */
async function inline(name: string, rego: string, opts: { data?: unknown; engine?: PolicyEngineOptions } = {}): Promise<PolicyBundle> {
  const src = join(tmp, name, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'policy.rego'), `package mcp.authz\n\n${rego.includes('visible') ? '' : 'default visible := false\n\n'}${rego}\n`);
  if (opts.data !== undefined) writeFileSync(join(src, 'data.json'), JSON.stringify(opts.data));
  const out = join(tmp, name, 'bundle.tar.gz');
  await opaBuild(src, out);
  return loadPolicyBundle(out, opts.engine);
}

// ---- inputs, built the way the gateway builds them ------------------------------------

const buildInput = createPolicyInputBuilder();

function identity(groups: string[], subject = 'alice'): PolicyIdentity {
  return { subject, issuer: 'https://idp.example.com', groups, scopes: [], claims: { sub: subject }, method: subject === '' ? 'anonymous' : 'jwt' };
}

function message(id: PolicyIdentity, method: string, params: Record<string, unknown> | undefined): PolicyInput {
  const body = { jsonrpc: '2.0', id: 1, method, ...(params && { params }) };
  return buildInput({
    http: { method: 'POST', path: '/mcp/demo', host: 'gw.example.com', headers: { ':path': '/mcp/demo', authorization: 'Bearer secret', 'content-type': 'application/json' } },
    sourceAddress: '10.0.0.7',
    identity: id,
    server: 'demo',
    protocolVersion: '2025-11-25',
    sessionId: 'sess-1',
    message: { kind: 'request', id: 1, method, params, body },
  });
}

const call = (groups: string[], tool: string, args?: unknown) => message(identity(groups), 'tools/call', { name: tool, ...(args !== undefined && { arguments: args }) });
const listing = (groups: string[], name: string): PolicyInput => ({ ...message(identity(groups), 'tools/list', {}), list_item: { kind: 'tool', name, item: { name } } });
const items = (...names: string[]): ListItem[] => names.map((name) => ({ kind: 'tool', name, item: { name, inputSchema: { type: 'object' } } }));

// ---- the example policy, through `opa test` -----------------------------------------------

test('`opa test policies/` passes (through opaTest)', async () => {
  const r = await opaTest(POLICIES);
  assert.equal(r.passed, true, r.output);
  assert.equal(r.fail, 0);
  assert.equal(r.error, 0);
  assert.equal(r.pass, r.total);
  assert.ok(r.total >= 30, `expected the full suite, got ${r.total} tests`);
  assert.match(r.output, /data\.mcp\.authz_test\.test_sql_chaining_refused: PASS/);
});

test('opaTest reports a failing suite as an outcome, with opa\'s own report', async () => {
  const dir = join(tmp, 'failing-suite');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'x_test.rego'), 'package x_test\n\ntest_ok if true\n\ntest_broken if 1 == 2\n');
  const r = await opaTest(dir);
  assert.equal(r.passed, false);
  assert.deepEqual([r.pass, r.fail, r.total], [1, 1, 2]);
  assert.match(r.output, /test_broken: FAIL/);
});

// ---- group-based visibility; listing and calling agree -----------------------------------

const visibility: [string[], string, boolean][] = [
  [['admin'], 'deploy-prod', true],
  [['analyst'], 'query-sales', true],
  [['analyst'], 'get-report', true],
  [['analyst'], 'get', false],
  [['analyst'], 'xget-report', false],
  [['analyst'], 'deploy-prod', false],
  [['finance'], 'make-payment', true],
  [['finance'], 'make-payments', false],
  [[], 'echo', true],
  [[], 'echo2', false],
];

test('visible(): groups decide which tools a caller sees', () => {
  for (const [groups, tool, want] of visibility) assert.equal(main.visible(listing(groups, tool)), want, `${groups.join(',') || '(none)'} sees ${tool}`);
});

test('visibleSet(): one evaluation filters a whole list the same way', () => {
  assert.equal(main.hasVisibleNames, true);
  const list = items('echo', 'echo2', 'query-sales', 'get-report', 'get', 'deploy-prod', 'make-payment');
  assert.deepEqual(main.visibleSet(message(identity(['analyst']), 'tools/list', {}), list), new Set(['echo', 'query-sales', 'get-report']));
  assert.deepEqual(main.visibleSet(message(identity(['admin']), 'tools/list', {}), list), new Set(list.map((i) => i.name)));
  assert.deepEqual(main.visibleSet(message(identity([], ''), 'tools/list', {}), list), new Set());
  assert.deepEqual(main.visibleSet(message(identity(['admin']), 'tools/list', {}), []), new Set());
});

test('calling agrees with listing: a tool can be called exactly when it can be seen', () => {
  const harmless = { query: 'SELECT 1', path: '/srv/data/a', amount: 1 };
  for (const [groups, tool, want] of visibility) {
    const d = main.decide(call(groups, tool, harmless));
    assert.equal(d.allowed, want, `${groups.join(',') || '(none)'} calls ${tool}: ${d.reasons.join('; ')}`);
    if (!want) assert.deepEqual(d.reasons, [`tool "${tool}" is not available to alice`]);
  }
});

test('without a visible_names entry point, visibleSet() falls back to one visible() per item', async () => {
  const out = join(tmp, 'no-names', 'bundle.tar.gz');
  mkdirSync(join(tmp, 'no-names'));
  execFileSync(opa, ['build', '-t', 'wasm', '--ignore', '*_test.rego', '-e', 'mcp/authz/decision', '-e', 'mcp/authz/visible', '-o', out, POLICIES]);
  const b = await loadPolicyBundle(out);
  assert.equal(b.hasVisibleNames, false);
  const list = items('echo', 'query-sales', 'deploy-prod', 'get-report');
  const input = message(identity(['analyst']), 'tools/list', {});
  assert.deepEqual(b.visibleSet(input, list), main.visibleSet(input, list));
  assert.deepEqual(b.visibleSet(input, list), new Set(['echo', 'query-sales', 'get-report']));
});

// ---- argument rules, end to end ----------------------------------------------------------

const argumentCases: [string, string[], string, unknown, string[] | true][] = [
  ['read-only SQL', ['analyst'], 'run-sql', { query: 'SELECT * FROM orders' }, true],
  ['SQL chained after a SELECT', ['analyst'], 'run-sql', { query: 'SELECT 1; DROP TABLE orders' }, ['run-sql: DROP is not allowed in a read-only query', 'run-sql: statements may not be chained with ";"']],
  ['lower-case write', ['analyst'], 'run-sql', { query: 'delete from orders' }, ['run-sql: DELETE is not allowed in a read-only query', 'run-sql: only read-only statements (SELECT, WITH, EXPLAIN) are allowed']],
  ['a trailing semicolon', ['analyst'], 'run-sql', { query: 'select 1;' }, true],
  ['query not a string', ['analyst'], 'run-sql', { query: 1 }, ['run-sql: "query" must be a string']],
  ['no arguments at all', ['analyst'], 'run-sql', undefined, ['run-sql: "query" must be a string']],
  ['a file under the root', ['analyst'], 'read-file', { path: '/srv/data/q1.csv' }, true],
  ['a sibling of the root', ['analyst'], 'read-file', { path: '/srv/database/q1.csv' }, ['read-file: path must be under /srv/data/']],
  ['a ".." escape', ['analyst'], 'read-file', { path: '/srv/data/../../etc/passwd' }, ['read-file: ".." path segments are not allowed']],
  ['a payment below the limit', ['finance'], 'make-payment', { amount: 999.99, card_number: '4111111111111111' }, true],
  ['a payment at the limit', ['finance'], 'make-payment', { amount: 1000 }, ['make-payment: "amount" must be less than 1000']],
  ['an amount as a string', ['finance'], 'make-payment', { amount: '5' }, ['make-payment: "amount" must be a number']],
  ['echo for a caller without groups', [], 'echo', { text: 'hi' }, true],
];

for (const [name, groups, tool, args, want] of argumentCases) {
  test(`argument rules: ${name} → ${want === true ? 'allowed' : 'denied'}`, () => {
    const d = main.decide(call(groups, tool, args));
    assert.equal(d.error, undefined);
    if (want === true) {
      assert.equal(d.allowed, true, d.reasons.join('; '));
      assert.deepEqual(d.reasons, []);
    } else {
      assert.equal(d.allowed, false);
      assert.deepEqual(d.reasons, want);
      assert.equal(d.errorMessage, want.join('; '));
    }
  });
}

test('the payment tool\'s card fields are redacted, whether the call is allowed or not', () => {
  assert.deepEqual(main.decide(call(['finance'], 'make-payment', { amount: 5 })).redact, ['card_number', 'cvv']);
  assert.deepEqual(main.decide(call(['finance'], 'make-payment', { amount: 5000 })).redact, ['card_number', 'cvv']);
  assert.deepEqual(main.decide(call([], 'echo', {})).redact, []);
});

test('an anonymous caller is refused, with the reason', () => {
  const d = main.decide(message(identity([], ''), 'initialize', { protocolVersion: '2025-11-25' }));
  assert.deepEqual([d.allowed, d.reasons], [false, ['caller is not authenticated']]);
  assert.equal(main.decide(message(identity([]), 'initialize', { protocolVersion: '2025-11-25' })).allowed, true);
});

test('the policy never sees the caller\'s credentials', async () => {
  const b = await inline('headers-seen', 'decision := {"allowed": true, "reasons": [k | some k, _ in input.attributes.request.http.headers]}');
  assert.deepEqual(b.decide(call([], 'echo')).reasons.sort(), [':path', 'content-type']);
});

test('WASM decisions equal the real OPA\'s (`opa eval`) for every case above', () => {
  const inputs = [
    ...argumentCases.map(([, groups, tool, args]) => call(groups, tool, args)),
    ...visibility.map(([groups, tool]) => call(groups, tool, { query: 'SELECT 1' })),
    message(identity([], ''), 'ping', undefined),
  ];
  const out = execFileSync(opa, ['eval', '-f', 'json', '-d', join(POLICIES, 'mcp', 'authz.rego'), '--stdin-input', '[d | some c in input; d := data.mcp.authz.decision with input as c]'], { input: JSON.stringify(inputs) });
  const theirs = (JSON.parse(out.toString()) as { result: [{ expressions: [{ value: Record<string, unknown>[] }] }] }).result[0].expressions[0].value;
  assert.equal(theirs.length, inputs.length);
  inputs.forEach((input, i) => {
    const ours = main.decide(input);
    const t = theirs[i]!;
    assert.deepEqual(
      { allowed: ours.allowed, reasons: ours.reasons, error_message: ours.errorMessage, redact: ours.redact },
      { allowed: t.allowed, reasons: t.reasons, error_message: t.error_message, redact: t.redact },
      JSON.stringify(input.mcp),
    );
  });
});

// ---- malformed decisions deny, precisely ---------------------------------------------------

test('a policy whose decision is a string denies', async () => {
  const b = await inline('string-decision', 'decision := "allow"');
  const d = b.decide(call([], 'echo'));
  assert.equal(d.allowed, false);
  assert.equal(d.error, 'policy decision must be a boolean or an object, got string');
  assert.deepEqual(d.reasons, ['policy decision must be a boolean or an object, got string']);
});

test('a policy whose decision has an unknown key denies, even with allowed: true', async () => {
  const b = await inline('unknown-key', 'decision := {"allowed": true, "allow": true}');
  const d = b.decide(call([], 'echo'));
  assert.equal(d.allowed, false);
  assert.equal(d.error, 'policy decision: unknown key "allow" (expected allowed, reasons, error_message, headers, redact, rate_limits, approval)');
});

test('decision shapes straight from a policy: each problem named exactly', async () => {
  // The decision is whatever the test puts in the input.
  const b = await inline('echo-decision', 'decision := input.decision');
  const cases: [unknown, string | undefined, boolean][] = [
    [true, undefined, true],
    [false, undefined, false],
    [{ allowed: 'true' }, 'policy decision: "allowed" must be a boolean, got string', false],
    [{ allowed: 1 }, 'policy decision: "allowed" must be a boolean, got number', false],
    [{ reasons: ['x'] }, 'policy decision: "allowed" is missing', false],
    [{ allowed: true, reasons: 'x' }, 'policy decision: "reasons" must be an array of strings, got string', false],
    [{ allowed: true, headers: { 'x-ok': 'a\r\nb' } }, 'policy decision: "headers"["x-ok"] contains a control character', false],
    [{ allowed: true, redact: [1] }, 'policy decision: "redact"[0] must be a string, got number', false],
    [[true], 'policy decision must be a boolean or an object, got array', false],
    [null, 'policy decision must be a boolean or an object, got null', false],
  ];
  for (const [decision, error, allowed] of cases) {
    const d = b.decide({ ...call([], 'echo'), decision } as PolicyInput);
    assert.equal(d.error, error, JSON.stringify(decision));
    assert.equal(d.allowed, allowed, JSON.stringify(decision));
  }
  // No "decision" in the input: the rule is undefined.
  assert.equal(b.decide(call([], 'echo')).error, 'policy decision is undefined (give data.mcp.authz.decision a default)');
  const ok = b.decide({ ...call([], 'echo'), decision: { allowed: true, headers: { 'X-Policy-Rev': '7' }, reasons: ['fine'] } } as PolicyInput);
  assert.deepEqual([ok.allowed, ok.headers, ok.reasons, ok.error], [true, [['x-policy-rev', '7']], ['fine'], undefined]);
});

test('a malformed visible / visible_names answer hides everything and is reported', async () => {
  const errors: string[] = [];
  const b = await inline('bad-visible', 'decision := true\n\nvisible := "yes"\n\nvisible_names := {1, 2}', { engine: { onEvalError: (e, m) => errors.push(`${e}: ${m}`) } });
  assert.equal(b.visible(listing([], 'echo')), false);
  assert.deepEqual(b.visibleSet(call([], 'echo'), items('echo')), new Set());
  assert.deepEqual(errors, ['mcp/authz/visible: policy visible must be a boolean, got string', 'mcp/authz/visible_names: policy visible_names[0] must be a string, got number']);
});

// ---- evaluation failures fail closed -------------------------------------------------------

test('an evaluation error denies with the error, and the bundle keeps working', async () => {
  const b = await inline('conflict', 'decision := {"allowed": true} if input.mcp.tool == "echo"\n\ndecision := {"allowed": false} if startswith(input.mcp.tool, "e")');
  const d = b.decide(call([], 'echo'));
  assert.equal(d.allowed, false);
  assert.match(d.error!, /^policy evaluation failed: .*conflict/);
  assert.deepEqual(d.reasons, [d.error]);
  assert.equal(b.decide(call([], 'else')).allowed, false);
  assert.equal(b.decide(call([], 'else')).error, undefined);
});

const HEAVY = 'decision := {"allowed": count(s) > 0} if {\n\ts := {x | some i in numbers.range(1, input.n); some j in numbers.range(1, input.n); x := (i * j) % 7}\n}';

test('an evaluation over its time budget denies', async () => {
  const b = await inline('slow', HEAVY, { engine: { timeoutMs: 20, maxMemoryPages: 4096 } });
  const d = b.decide({ ...call([], 'echo'), n: 500 } as PolicyInput); // 250k iterations: hundreds of ms
  assert.equal(d.allowed, false);
  assert.match(d.error!, /^policy evaluation failed: timed out: evaluation took \d+\.\d ms, over the 20 ms budget$/);
  assert.equal(b.decide({ ...call([], 'echo'), n: 2 } as PolicyInput).allowed, true);
});

test('an evaluation that exhausts the memory cap denies, and the next one works', async () => {
  const b = await inline('hungry', HEAVY, { engine: { maxMemoryPages: 64 } });
  const d = b.decide({ ...call([], 'echo'), n: 1000 } as PolicyInput);
  assert.equal(d.allowed, false);
  assert.match(d.error!, /^policy evaluation failed: /);
  const big = b.decide({ ...call([], 'echo'), n: 2, padding: 'x'.repeat(8 * 1024 * 1024) } as PolicyInput);
  assert.match(big.error!, /^policy evaluation failed: /);
  assert.equal(b.decide({ ...call([], 'echo'), n: 2 } as PolicyInput).allowed, true);
});

test('an input that cannot be serialized denies', () => {
  const d = main.decide(call([], 'echo', { n: 1n }));
  assert.deepEqual([d.allowed, d.error], [false, 'policy input could not be serialized to JSON']);
});

// ---- builtins ------------------------------------------------------------------------------

test('a policy using time.now_ns() works, with the real clock', async () => {
  const b = await inline('now', 'decision := {"allowed": time.now_ns() > input.after}');
  const at = (ms: number) => ({ ...call([], 'echo'), after: ms * 1e6 }) as PolicyInput;
  assert.equal(b.decide(at(Date.now() - 60_000)).allowed, true);
  assert.equal(b.decide(at(Date.now() + 60_000)).allowed, false);
});

test('time.now_ns() is exact and constant within one evaluation; business hours in a zone', async () => {
  let calls = 0;
  let now = Date.parse('2023-11-14T08:30:00.123Z'); // 09:30 in Berlin
  const b = await inline(
    'hours',
    String.raw`default in_hours := false

in_hours if {
	[hour, _, _] := time.clock([time.now_ns(), "Europe/Berlin"])
	hour >= 9
	hour < 17
}

decision := {"allowed": in_hours, "reasons": [time.weekday(time.now_ns())]}

visible if time.now_ns() - 1700000000000000000 == input.delta`,
    { engine: { clockMs: () => (calls++, now) } },
  );
  const d = b.decide(call([], 'echo'));
  assert.deepEqual([d.allowed, d.reasons, d.error], [true, ['Tuesday'], undefined]);
  assert.equal(calls, 1, 'one clock reading per evaluation, however often the policy asks');
  now = Date.parse('2023-11-14T17:30:00Z'); // 18:30 in Berlin
  assert.equal(b.decide(call([], 'echo')).allowed, false);
  now = Date.parse('2023-11-14T22:13:20.123Z');
  // Exact to the nanosecond (a double is not: its neighbours here are 256 ns apart).
  assert.equal(b.visible({ ...listing([], 'x'), delta: 123000000 } as PolicyInput), true);
  assert.equal(b.visible({ ...listing([], 'x'), delta: 123000001 } as PolicyInput), false);
});

test('a policy needing a builtin nobody supplies is refused at load, naming it', async () => {
  await assert.rejects(
    inline('jwt', 'decision := {"allowed": io.jwt.decode(input.token)[1].sub == "alice"}'),
    (e: unknown) => e instanceof PolicyLoadError && /uses builtins the gateway cannot evaluate in WASM: io\.jwt\.decode\. Compute such facts in the gateway/.test(e.message),
  );
});

// ---- building and loading --------------------------------------------------------------------

test('opaBuild shows opa\'s own message when the build fails', async () => {
  const src = join(tmp, 'no-visible', 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'p.rego'), 'package mcp.authz\n\ndecision := true\n');
  await assert.rejects(opaBuild(src, join(tmp, 'no-visible', 'b.tar.gz')), (e: unknown) => e instanceof OpaError && /opa build failed .*\n.*entrypoint "mcp\/authz\/visible" does not refer to a rule/.test(e.message));
  writeFileSync(join(src, 'p.rego'), 'package mcp.authz\n\ndecision := {\n');
  await assert.rejects(opaBuild(src, join(tmp, 'no-visible', 'b.tar.gz')), (e: unknown) => e instanceof OpaError && /rego_parse_error/.test(e.message));
});

test('a bundle without the required entry points is refused at load', async () => {
  const dir = join(tmp, 'only-decision');
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'src', 'p.rego'), 'package mcp.authz\n\ndecision := true\n');
  execFileSync(opa, ['build', '-t', 'wasm', '-e', 'mcp/authz/decision', '-o', join(dir, 'b.tar.gz'), join(dir, 'src')]);
  await assert.rejects(loadPolicyBundle(join(dir, 'b.tar.gz')), /no entry point mcp\/authz\/visible \(has: mcp\/authz\/decision\)/);
});

test('data.json reaches the policy; tarball, extracted directory and directory-with-tarball load alike', async () => {
  const b = await inline('with-data', 'decision := {"allowed": input.identity.subject in data.gateway.allowed_subjects}', { data: { gateway: { allowed_subjects: ['alice'] } } });
  assert.equal(b.decide(call([], 'echo')).allowed, true);
  assert.equal(b.decide(message(identity([], 'bob'), 'ping', undefined)).allowed, false);

  const files = readTarball(readFileSync(join(tmp, 'with-data', 'bundle.tar.gz')));
  const extracted = join(tmp, 'with-data', 'extracted');
  mkdirSync(extracted);
  writeFileSync(join(extracted, 'policy.wasm'), files.get('policy.wasm')!);
  writeFileSync(join(extracted, 'data.json'), files.get('data.json')!);
  const fromDir = await loadPolicyBundle(extracted);
  const fromDirTarball = await loadPolicyBundle(join(tmp, 'with-data'));
  assert.equal(fromDir.revision, b.revision);
  assert.equal(fromDirTarball.revision, b.revision);
  assert.equal(fromDir.decide(call([], 'echo')).allowed, true);
  assert.notEqual(b.revision, main.revision);
  assert.match(b.revision, /^[0-9a-f]{12}$/);
});

test('unloadable bundles are refused with a reason', async () => {
  const garbage = join(tmp, 'garbage.tar.gz');
  writeFileSync(garbage, 'not a bundle');
  await assert.rejects(loadPolicyBundle(garbage), /not a gzipped tarball/);
  await assert.rejects(loadPolicyBundle(join(tmp, 'missing.tar.gz')), /no such file or directory/);
  const empty = join(tmp, 'empty-dir');
  mkdirSync(empty);
  await assert.rejects(loadPolicyBundle(empty), /holds neither policy\.wasm nor bundle\.tar\.gz/);
  const regoOnly = join(tmp, 'rego-only.tar.gz');
  execFileSync(opa, ['build', '-o', regoOnly, '--ignore', '*_test.rego', POLICIES]);
  await assert.rejects(loadPolicyBundle(regoOnly), /no policy\.wasm inside \(was it built with `opa build -t wasm`\?\)/);
  writeFileSync(join(empty, 'policy.wasm'), 'nope');
  await assert.rejects(loadPolicyBundle(empty), /policy\.wasm is not a valid WebAssembly module/);
});

// ---- hot reload ------------------------------------------------------------------------------

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Replaces `target` the way deploy tools do: write beside it, then rename over it. */
function replaceAtomically(target: string, contents: Buffer | string): void {
  writeFileSync(`${target}.new`, contents);
  renameSync(`${target}.new`, target);
}

test('reload: a replaced bundle is swapped in; a broken one leaves the last good one in force', async () => {
  const a = await inline('reload-a', 'decision := {"allowed": true, "reasons": ["A"]}');
  const b = await inline('reload-b', 'decision := {"allowed": true, "reasons": ["B"]}');
  const dir = join(tmp, 'watched');
  mkdirSync(dir);
  const target = join(dir, 'bundle.tar.gz');
  copyFileSync(join(tmp, 'reload-a', 'bundle.tar.gz'), target);

  const loads: string[] = [];
  const errors: Error[] = [];
  const w = await watchPolicyBundle(target, (x) => loads.push(x.revision), (e) => errors.push(e), { debounceMs: 20, pollMs: 200 });
  try {
    assert.deepEqual(loads, [a.revision]);
    assert.deepEqual(w.current().decide(call([], 'echo')).reasons, ['A']);

    replaceAtomically(target, readFileSync(join(tmp, 'reload-b', 'bundle.tar.gz')));
    await waitFor('bundle B', () => w.current().revision === b.revision);
    assert.deepEqual(loads, [a.revision, b.revision]);
    assert.deepEqual(w.current().decide(call([], 'echo')).reasons, ['B']);

    replaceAtomically(target, 'garbage');
    await waitFor('the load error', () => errors.length > 0);
    assert.equal(w.current().revision, b.revision);
    assert.match(errors[0]!.message, new RegExp(`not a gzipped tarball.*\\(keeping revision ${b.revision}\\)$`));
    await new Promise((r) => setTimeout(r, 450)); // two poll periods: the same broken file is reported once
    assert.equal(errors.length, 1);
    assert.deepEqual(loads, [a.revision, b.revision]);

    // Overwritten in place (same inode) rather than renamed: still noticed.
    writeFileSync(target, readFileSync(join(tmp, 'reload-a', 'bundle.tar.gz')));
    await waitFor('bundle A again', () => w.current().revision === a.revision);
    assert.deepEqual(w.current().decide(call([], 'echo')).reasons, ['A']);
  } finally {
    w.close();
  }
});

test('reload: a bundle directory whose data.json changes gets a new revision, checked on demand', async () => {
  const src = await inline('reload-dir', 'decision := {"allowed": input.identity.subject in data.allowed}', { data: { allowed: ['alice'] } });
  const files = readTarball(readFileSync(join(tmp, 'reload-dir', 'bundle.tar.gz')));
  const dir = join(tmp, 'watched-dir');
  mkdirSync(dir);
  writeFileSync(join(dir, 'policy.wasm'), files.get('policy.wasm')!);
  writeFileSync(join(dir, 'data.json'), files.get('data.json')!);
  const loads: string[] = [];
  const errors: Error[] = [];
  const w = await watchPolicyBundle(dir, (x) => loads.push(x.revision), (e) => errors.push(e), { debounceMs: 60_000, pollMs: 0 });
  try {
    assert.equal(w.current().revision, src.revision);
    assert.equal(w.current().decide(call([], 'echo')).allowed, true);
    replaceAtomically(join(dir, 'data.json'), JSON.stringify({ allowed: ['bob'] }));
    await w.check(); // no events, no polling: the explicit check finds it
    assert.equal(loads.length, 2);
    assert.notEqual(w.current().revision, src.revision);
    assert.equal(w.current().decide(call([], 'echo')).allowed, false);
    await w.check();
    assert.equal(loads.length, 2, 'nothing changed, nothing loaded');
    assert.deepEqual(errors, []);
  } finally {
    w.close();
  }
});

test('reload: a bundle that cannot be loaded at start-up is an error, not a silent empty policy', async () => {
  await assert.rejects(
    watchPolicyBundle(join(tmp, 'nowhere.tar.gz'), () => {}, () => {}),
    /no such file or directory/,
  );
});
