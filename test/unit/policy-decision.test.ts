// The policy decision contract, parsed strictly: every field on its own, an exact
// message for each problem, anything unrecognised denies. No OPA needed here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDecision, parseDecisionValue, parseVisible, parseVisibleNames, type Decision } from '../../src/policy/decision.js';
import { createPolicyInputBuilder, type PolicyFacts } from '../../src/policy/input.js';
import { readTarball, TarError } from '../../src/policy/tar.js';
import { gzipSync } from 'node:zlib';

const allow: Decision = { allowed: true, reasons: [], errorMessage: undefined, headers: [], redact: [], rateLimits: [], error: undefined };

test('a boolean decision: true allows, false denies, neither carries reasons', () => {
  assert.deepEqual(parseDecisionValue(true), allow);
  assert.deepEqual(parseDecisionValue(false), { ...allow, allowed: false });
});

test('a complete object decision is taken field by field', () => {
  const d = parseDecisionValue({ allowed: false, reasons: ['a', 'b'], error_message: 'no', headers: { 'X-Policy': 'v1', 'x-b': '' }, redact: ['card_number'], rate_limits: [{ key: 'tenant:a', requests_per_unit: 5, unit: 'minute' }] });
  assert.deepEqual(d, { allowed: false, reasons: ['a', 'b'], errorMessage: 'no', headers: [['x-policy', 'v1'], ['x-b', '']], redact: ['card_number'], rateLimits: [{ key: 'tenant:a', requestsPerUnit: 5, unit: 'minute', shadow: false }], error: undefined });
});

const malformed: [string, unknown, string[]][] = [
  ['a string', 'yes', ['policy decision must be a boolean or an object, got string']],
  ['a number', 1, ['policy decision must be a boolean or an object, got number']],
  ['null', null, ['policy decision must be a boolean or an object, got null']],
  ['an array', [true], ['policy decision must be a boolean or an object, got array']],
  ['no "allowed"', { reasons: [] }, ['policy decision: "allowed" is missing']],
  ['"allowed" a string', { allowed: 'true' }, ['policy decision: "allowed" must be a boolean, got string']],
  ['"allowed" null', { allowed: null }, ['policy decision: "allowed" must be a boolean, got null']],
  ['"allowed" 1', { allowed: 1 }, ['policy decision: "allowed" must be a boolean, got number']],
  ['"reasons" a string', { allowed: true, reasons: 'because' }, ['policy decision: "reasons" must be an array of strings, got string']],
  ['"reasons" holding a number', { allowed: true, reasons: ['ok', 7] }, ['policy decision: "reasons"[1] must be a string, got number']],
  ['"error_message" an object', { allowed: false, error_message: {} }, ['policy decision: "error_message" must be a string, got object']],
  ['"headers" an array', { allowed: true, headers: [['a', 'b']] }, ['policy decision: "headers" must be an object of strings, got array']],
  ['a header name with a space', { allowed: true, headers: { 'x y': 'v' } }, ['policy decision: "headers"["x y"] is not a valid header name']],
  ['a pseudo-header', { allowed: true, headers: { ':path': '/' } }, ['policy decision: "headers"[":path"] is not a valid header name']],
  ['a header value with CRLF', { allowed: true, headers: { 'x-a': 'v\r\nx-b: 1' } }, ['policy decision: "headers"["x-a"] contains a control character']],
  ['a header value that is a number', { allowed: true, headers: { 'x-a': 1 } }, ['policy decision: "headers"["x-a"] must be a string, got number']],
  ['one header twice in two cases', { allowed: true, headers: { 'X-A': '1', 'x-a': '2' } }, ['policy decision: "headers"["x-a"] repeats "x-a" (header names are case-insensitive)']],
  ['"redact" a string', { allowed: true, redact: 'card_number' }, ['policy decision: "redact" must be an array of strings, got string']],
  ['an unknown key', { allowed: true, allow: true }, ['policy decision: unknown key "allow" (expected allowed, reasons, error_message, headers, redact, rate_limits, approval)']],
  [
    'several problems at once, each reported',
    { allowed: 'yes', reasons: [1], zzz: 1, aaa: 2 },
    [
      'policy decision: "allowed" must be a boolean, got string',
      'policy decision: "reasons"[0] must be a string, got number',
      'policy decision: unknown key "aaa" (expected allowed, reasons, error_message, headers, redact, rate_limits, approval)',
      'policy decision: unknown key "zzz" (expected allowed, reasons, error_message, headers, redact, rate_limits, approval)',
    ],
  ],
];

for (const [name, value, problems] of malformed) {
  test(`a decision with ${name} denies, saying exactly why`, () => {
    const d = parseDecisionValue(value);
    assert.equal(d.allowed, false);
    assert.deepEqual(d.reasons, problems);
    assert.equal(d.error, problems.join('; '));
    assert.deepEqual(d.headers, []);
    assert.equal(d.errorMessage, undefined);
  });
}

test('an allowed:true decision with any problem still denies', () => {
  assert.equal(parseDecisionValue({ allowed: true, extra: 1 }).allowed, false);
  assert.equal(parseDecisionValue({ allowed: true, headers: { 'x-a': 'a\nb' } }).allowed, false);
});

test('a malformed decision keeps a well-formed redact list (redacting more is the safe side)', () => {
  assert.deepEqual(parseDecisionValue({ allowed: 'no', redact: ['cvv'] }).redact, ['cvv']);
});

test('result sets: undefined, several results and odd shapes deny', () => {
  assert.equal(parseDecision([]).error, 'policy decision is undefined (give data.mcp.authz.decision a default)');
  assert.equal(parseDecision([{ result: true }, { result: true }]).error, 'policy decision: expected one result, got 2');
  assert.equal(parseDecision(null).error, 'policy decision: the result set is not an array (got null)');
  assert.equal(parseDecision([{}]).error, 'policy decision: the result set entry has no "result"');
  assert.deepEqual(parseDecision([{ result: true }]), allow);
});

test('visible: a boolean; undefined is not visible; anything else is not visible and an error', () => {
  assert.deepEqual(parseVisible([{ result: true }]), { visible: true, error: undefined });
  assert.deepEqual(parseVisible([]), { visible: false, error: undefined });
  assert.deepEqual(parseVisible([{ result: 'true' }]), { visible: false, error: 'policy visible must be a boolean, got string' });
});

test('visible_names: a set of strings, or an error', () => {
  assert.deepEqual(parseVisibleNames([{ result: ['a', 'b'] }]), { names: new Set(['a', 'b']) });
  assert.deepEqual(parseVisibleNames([{ result: ['a', 1] }]), { error: 'policy visible_names[1] must be a string, got number' });
  assert.deepEqual(parseVisibleNames([{ result: {} }]), { error: 'policy visible_names must be a set of strings, got object' });
  assert.deepEqual(parseVisibleNames([]), { error: 'policy visible_names is undefined' });
});

// ---- the input document ---------------------------------------------------------

const identity = { subject: 'alice', issuer: 'https://idp', groups: ['analyst'], scopes: ['mcp'], claims: { sub: 'alice' }, method: 'jwt' };
const facts = (over: Partial<PolicyFacts>): PolicyFacts => ({
  http: { method: 'POST', path: '/mcp/demo', host: 'gw', headers: {} },
  sourceAddress: '10.0.0.1',
  identity,
  server: 'demo',
  protocolVersion: '2025-11-25',
  sessionId: 's1',
  message: undefined,
  ...over,
});

test('input: credentials and the gateway-owned headers never reach the policy', () => {
  const build = createPolicyInputBuilder({ credentialHeaders: ['X-My-Key'] });
  const headers = JSON.parse(
    '{":path":"/mcp/demo","authorization":"Bearer t","cookie":"c","proxy-authorization":"p","x-api-key":"k","x-my-key":"k2","x-mcp-gateway-identity":"forged","accept":"application/json","__proto__":"x"}',
  ) as Record<string, string>;
  const input = build(facts({ http: { method: 'POST', path: '/mcp/demo', host: 'gw', headers } }));
  const seen = input.attributes.request.http.headers;
  assert.equal(JSON.stringify(seen), '{":path":"/mcp/demo","accept":"application/json","__proto__":"x"}');
  assert.equal(Object.getPrototypeOf(seen), null); // "__proto__" stayed a plain header
});

test('input: a tools/call fills method, id, tool, target and arguments', () => {
  const build = createPolicyInputBuilder();
  const body = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'run-sql', arguments: { query: 'SELECT 1' } } };
  const input = build(facts({ message: { kind: 'request', id: 7, method: 'tools/call', params: body.params, body } }));
  assert.deepEqual(input.mcp, {
    protocol_version: '2025-11-25', method: 'tools/call', kind: 'request', request_id: 7, session_id: 's1',
    tool: 'run-sql', prompt: null, resource: null, target: { kind: 'tool', name: 'run-sql' }, arguments: { query: 'SELECT 1' }, direction: 'client_to_server',
  });
  assert.deepEqual(input.attributes.source, { address: '10.0.0.1' });
  assert.equal(input.identity, identity);
});

test('input: completion/complete addresses its ref and carries params.argument', () => {
  const params = { ref: { type: 'ref/resource', uri: 'file:///a' }, argument: { name: 'x', value: 'y' } };
  const input = createPolicyInputBuilder()(facts({ message: { kind: 'request', id: 'r', method: 'completion/complete', params, body: {} } }));
  assert.equal(input.mcp.resource, 'file:///a');
  assert.deepEqual(input.mcp.target, { kind: 'resource', name: 'file:///a' });
  assert.deepEqual(input.mcp.arguments, { name: 'x', value: 'y' });
});

test('input: a notification has no id; a GET has no message at all', () => {
  const build = createPolicyInputBuilder();
  const n = build(facts({ message: { kind: 'notification', method: 'notifications/initialized', params: undefined, body: {} } }));
  assert.equal(n.mcp.request_id, null);
  assert.equal(n.mcp.kind, 'notification');
  assert.equal(n.mcp.arguments, null);
  const g = build(facts({ http: { method: 'GET', path: '/mcp/demo', host: 'gw', headers: {} }, message: undefined, protocolVersion: undefined, sessionId: undefined }));
  assert.deepEqual(g.mcp, { protocol_version: null, method: null, kind: null, request_id: null, session_id: null, tool: null, prompt: null, resource: null, target: null, arguments: null, direction: 'client_to_server' });
});

// ---- the bundle tarball reader ------------------------------------------------------

function tarEntry(name: string, data: string, type = '0'): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(Buffer.byteLength(data).toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write(type, 156);
  h.write('ustar\u000000', 257, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  const body = Buffer.alloc(Math.ceil(Buffer.byteLength(data) / 512) * 512);
  body.write(data);
  return Buffer.concat([h, body]);
}

test('tarball: reads regular files, strips the leading "/", honours PAX long names', () => {
  const longName = `${'d/'.repeat(80)}data.txt`;
  const pax = `path=${longName}\n`;
  let n = pax.length + 2;
  while (`${n} ${pax}`.length !== n) n++; // the length counts its own digits
  const record = `${n} ${pax}`;
  const tar = Buffer.concat([tarEntry('/policy.wasm', 'WASM'), tarEntry('dir/', '', '5'), tarEntry('PaxHeader', record, 'x'), tarEntry('ignored', 'long'), Buffer.alloc(1024)]);
  const files = readTarball(gzipSync(tar));
  assert.deepEqual([...files.keys()], ['policy.wasm', longName]);
  assert.equal(Buffer.from(files.get('policy.wasm')!).toString(), 'WASM');
});

test('tarball: corrupt, truncated, duplicated or escaping archives are refused', () => {
  const good = tarEntry('/policy.wasm', 'WASM');
  const bad = Buffer.from(good);
  bad[0] = 0x41;
  assert.throws(() => readTarball(bad), (e: unknown) => e instanceof TarError && /bad header checksum at byte 0/.test(e.message));
  assert.throws(() => readTarball(good.subarray(0, 600)), /truncated archive/);
  assert.throws(() => readTarball(Buffer.concat([good, good])), /archive holds "policy.wasm" twice/);
  assert.throws(() => readTarball(tarEntry('../etc/passwd', 'x')), /unsafe path in archive/);
  assert.throws(() => readTarball(gzipSync(good).subarray(0, 20)), /not a valid gzip stream/);
});
