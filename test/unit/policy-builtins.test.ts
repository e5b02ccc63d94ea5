// The builtins the gateway supplies to WASM policies (src/policy/builtins.ts) agree
// with the real OPA: the same probe policy is evaluated by `opa eval` (OPA's Go
// builtins) and in-process (WASM + ours), and the answers compared, edge cases and
// undefined results included.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_BUILTIN_NAMES } from '../../src/policy/builtins.js';
import { loadPolicyBundle, type PolicyBundle } from '../../src/policy/engine.js';
import type { PolicyInput } from '../../src/policy/input.js';
import { opaBinary, opaBuild } from '../../src/policy/opa-cli.js';

// Each helper turns OPA's "undefined" (a builtin error, in non-strict evaluation) into a value we can compare.
const PROBE = String.raw`package mcp.authz

default visible := false

decision := {"allowed": true, "reasons": [json.marshal(results)]}

results := {
	"rfc3339": [rfc3339(s) | some s in input.rfc3339],
	"durations": [duration(s) | some s in input.durations],
	"date": [date(x) | some x in input.times],
	"clock": [clock(x) | some x in input.times],
	"weekday": [weekday(x) | some x in input.times],
	"add_date": [add_date(c) | some c in input.add_date],
	"any_prefix_match": [prefix(c) | some c in input.matches],
	"any_suffix_match": [suffix(c) | some c in input.matches],
	"count": [str_count(c) | some c in input.counts],
	"sha256": [sha(s) | some s in input.hashes],
	"sets": [strings.any_prefix_match({"abc", "x"}, {"a"}), strings.any_suffix_match({"abc"}, {"b"})],
	# Results are exact integers, not doubles, when compared inside the policy.
	"exact": [
		time.parse_rfc3339_ns("2023-11-14T22:13:20.123456789Z") == 1700000000123456789,
		time.parse_duration_ns("2562047h47m16.854775807s") == 9223372036854775807,
		time.parse_rfc3339_ns("1677-09-21T00:12:43.145224192Z") == -9223372036854775808,
		time.now_ns() > 1700000000000000000,
	],
}

rfc3339(s) := v if v := time.parse_rfc3339_ns(s)
else := "undefined"

duration(s) := v if v := time.parse_duration_ns(s)
else := "undefined"

date(x) := v if v := time.date(x)
else := "undefined"

clock(x) := v if v := time.clock(x)
else := "undefined"

weekday(x) := v if v := time.weekday(x)
else := "undefined"

add_date(c) := v if v := time.add_date(c[0], c[1], c[2], c[3])
else := "undefined"

prefix(c) := v if v := strings.any_prefix_match(c[0], c[1])
else := "undefined"

suffix(c) := v if v := strings.any_suffix_match(c[0], c[1])
else := "undefined"

str_count(c) := v if v := strings.count(c[0], c[1])
else := "undefined"

sha(s) := v if v := crypto.sha256(s)
else := "undefined"
`;

const T = 1700000000000000000; // 2023-11-14T22:13:20Z, a Tuesday
const CASES = {
  rfc3339: [
    '2023-11-14T22:13:20Z', '2023-11-14T22:13:20.123456789Z', '2023-11-14T22:13:20.1234567891Z', '2023-11-14T22:13:20.000000000000000000001Z',
    '2023-11-14T22:13:20,5Z', '2023-11-14t22:13:20Z', '2023-11-14T22:13:20z', '2023-11-14T23:13:20+01:00', '2023-11-14T22:13:20-07:30',
    '2023-11-14T22:13:20-00:00', '2023-11-14T22:13:20+24:00', '2023-11-14T22:13:20+23:60', '2023-11-14T22:13:20+25:00', '2023-11-14T22:13:20+0100',
    '2024-02-29T00:00:00Z', '2023-02-29T00:00:00Z', '2100-02-29T00:00:00Z', '2000-02-29T00:00:00Z', '2023-04-31T00:00:00Z',
    '2023-11-14T24:00:00Z', '2023-11-14T22:60:00Z', '2023-11-14T22:13:60Z', '2023-11-14 22:13:20Z', '2023-11-14T22:13:20', '2023-1-14T22:13:20Z',
    '2023-11-14T22:13:20.Z', '1970-01-01T00:00:00Z', '1969-12-31T23:59:59.999999999Z', '0001-01-01T00:00:00Z',
    '1677-09-21T00:12:43.145224191Z', '1677-09-21T00:12:43.145224192Z', '2262-04-11T23:47:16.854775807Z', '2262-04-11T23:47:16.854775808Z',
    '', 5,
  ],
  durations: [
    '1h', '1h30m', '1.5h', '300ms', '-2m3.5s', '1µs', '1us', '1μs', '1ns', '0', '-0', '+0', '', '1', '.5s', '5.s', '.s', '1h-1m', '+3s', '1h 1m',
    '1d', '1w', '1y', '1d12h', '1.5d', '1h1d', '1D', '1mo', '106751d', '106752d', '0.000000001s', '1.0000000005s', '1.999999999999h',
    '9223372036854775807ns', '9223372036854775808ns', '-9223372036854775808ns', '2562047h', '2562048h', 3,
  ],
  times: [
    0, T, -1000000000, -1, T + 999_999_000, [T, 'Europe/Berlin'], [T, 'America/New_York'], [T, 'Asia/Kolkata'], [T, ''], [T, 'UTC'], [T, 'EST'],
    [T, 'Local'], [T], [T, 'UTC', 'layout'], [T, 'UTC', 1], [], [T, 5], [T, 'Nowhere/City'], [T, 'utc'], [T, 'europe/berlin'],
    1e30, 'x', 1.5, [1711846800000000000, 'Europe/Berlin'], [1711846799000000000, 'Europe/Berlin'],
  ],
  add_date: [
    [T, 0, 1, 0], [1675123200000000000, 0, 1, 0], [1709164800000000000, 1, 0, 0], [T, 0, 0, -400], [T, -1, -1, -1], [1700000000123456000, 0, 0, 1],
    [[T, 'Europe/Berlin'], 0, 6, 0], [[1711753200000000000, 'Europe/Berlin'], 0, 0, 1], [[T, 'America/New_York'], 0, -5, 3], [[T, 'UTC'], 1, 0, 0],
    [T, 300, 0, 0], [T, -400, 0, 0], ['x', 0, 0, 0], [T, 0.5, 0, 0], [[T, 'Nowhere/City'], 0, 0, 1],
  ],
  matches: [['abc', 'a'], [['x', 'abc'], ['b', 'a']], ['abc', []], [[], 'a'], ['abc', ['c']], [1, 'a'], ['abc', 'abc'], ['', ''], [['a', 1], 'a'], ['héllo', 'hé']],
  counts: [['cheese', 'e'], ['five', ''], ['aaaa', 'aa'], ['héllo', ''], ['a', 'b'], ['', ''], [1, 'a']],
  hashes: ['', 'abc', 'héllo', 1],
};

let bundle: PolicyBundle;
let opa: string;
let dir: string;
let src: string;

before(async () => {
  opa = opaBinary(); // fails with the bootstrap hint when OPA is missing
  dir = mkdtempSync(join(tmpdir(), 'policy-builtins-'));
  src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'probe.rego'), PROBE);
  await opaBuild(src, join(dir, 'bundle.tar.gz'));
  bundle = await loadPolicyBundle(join(dir, 'bundle.tar.gz'));
  writeFileSync(join(dir, 'input.json'), JSON.stringify(CASES));
});

after(() => rmSync(dir, { recursive: true, force: true }));

function inProcess(): Record<string, unknown[]> {
  const d = bundle.decide(CASES as unknown as PolicyInput);
  assert.equal(d.error, undefined);
  return JSON.parse(d.reasons[0]!) as Record<string, unknown[]>;
}

function realOpa(): Record<string, unknown[]> {
  const out = execFileSync(opa, ['eval', '-f', 'json', '-d', src, '--stdin-input', 'data.mcp.authz.decision.reasons[0]'], { input: JSON.stringify(CASES) });
  const r = JSON.parse(out.toString()) as { result: [{ expressions: [{ value: string }] }] };
  return JSON.parse(r.result[0].expressions[0].value) as Record<string, unknown[]>;
}

test('every builtin the gateway supplies is one `opa build -t wasm` leaves to the host', () => {
  for (const name of GATEWAY_BUILTIN_NAMES) {
    assert.ok(bundle.hostBuiltins.includes(name), `${name} is compiled into WASM natively; supplying it is dead code`);
  }
});

test('supplied builtins agree with OPA on every probe case', () => {
  const ours = inProcess();
  const theirs = realOpa();
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort());
  for (const key of Object.keys(theirs)) {
    const cases = (CASES as Record<string, unknown[]>)[key];
    theirs[key]!.forEach((want, i) => {
      assert.deepEqual(ours[key]![i], want, `${key}(${JSON.stringify(cases?.[i])})`);
    });
  }
  assert.deepEqual(ours.exact, [true, true, true, true]);
  // Not vacuous: zone-aware answers were computed, not just undefined on both sides.
  assert.deepEqual(ours.add_date![7], 1711839600000000000);
  assert.deepEqual(ours.clock![5], [23, 13, 20]);
});
