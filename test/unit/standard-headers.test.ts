import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkStandardHeaders, decodeHeaderValue, expectedMcpName } from '../../src/mcp/standard-headers.js';

const b64 = (s: string) => `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;

describe('decodeHeaderValue', () => {
  // The spec's own encoding examples (2026-07-28 Streamable HTTP, "Value Encoding").
  const spec: [string, string][] = [
    ['us-west1', 'us-west1'],
    ['=?base64?SGVsbG8sIOS4lueVjA==?=', 'Hello, 世界'],
    ['=?base64?IHBhZGRlZCA=?=', ' padded '],
    ['=?base64?bGluZTEKbGluZTI=?=', 'line1\nline2'],
    ['=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=', '=?base64?literal?='],
  ];
  for (const [header, value] of spec) {
    it(`decodes ${header}`, () => assert.equal(decodeHeaderValue(header), value));
  }

  const literal: [string, string][] = [
    ['plain ASCII with inner space and tab', 'get weather\tnow'],
    ['markers in the wrong case', '=?BASE64?SGk=?='],
    ['prefix without suffix', '=?base64?SGk='],
    ['suffix without prefix', 'SGk=?='],
    ['markers overlapping (too short to hold both)', '=?base64?='],
    ['empty', ''],
    ['a URI', 'file:///projects/app/config.json?x=1#frag'],
  ];
  for (const [name, v] of literal) {
    it(`takes ${name} literally`, () => assert.equal(decodeHeaderValue(v), v));
  }

  it('decodes an empty encoded value', () => assert.equal(decodeHeaderValue('=?base64??='), ''));

  const invalid: [string, string][] = [
    ['non-base64 characters', '=?base64?%%%?='],
    ['missing padding', '=?base64?SGk?='],
    ['non-canonical trailing bits', '=?base64?SGl=?='],
    ['base64url alphabet', '=?base64?-_8=?='],
    ['inner whitespace', '=?base64?SG k=?='],
    ['invalid UTF-8 inside (FF FE)', `=?base64?${Buffer.from([0xff, 0xfe]).toString('base64')}?=`],
    ['a UTF-8 surrogate inside (ED A0 80)', `=?base64?${Buffer.from([0xed, 0xa0, 0x80]).toString('base64')}?=`],
    ['raw non-ASCII', 'héllo'],
    ['a raw control character', 'a\u0001b'],
    ['a raw DEL', 'a\u007fb'],
    ['a raw line feed', 'a\nb'],
  ];
  for (const [name, v] of invalid) {
    it(`refuses ${name}`, () => assert.equal(decodeHeaderValue(v), undefined));
  }

  it('inverts the spec encoding for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), (s) => {
        assert.equal(decodeHeaderValue(b64(s)), s);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('expectedMcpName', () => {
  const cases: [string, Record<string, unknown> | undefined, string | undefined][] = [
    ['tools/call', { name: 'get_weather', arguments: {} }, 'get_weather'],
    ['prompts/get', { name: 'greet' }, 'greet'],
    ['resources/read', { uri: 'file:///a' }, 'file:///a'],
    ['resources/subscribe', { uri: 'file:///b' }, 'file:///b'],
    ['resources/unsubscribe', { uri: 'file:///c' }, 'file:///c'],
    ['resources/read', { name: 'not the uri' }, undefined],
    ['tools/call', { name: 7 }, undefined],
    ['tools/call', undefined, undefined],
    ['tools/list', { name: 'x' }, undefined],
    ['initialize', {}, undefined],
  ];
  for (const [method, params, expected] of cases) {
    it(`${method} ${JSON.stringify(params)} → ${String(expected)}`, () => assert.equal(expectedMcpName(method, params), expected));
  }
});

describe('checkStandardHeaders', () => {
  const call = { kind: 'request' as const, method: 'tools/call', params: { name: 'get_weather' } };
  const read = { kind: 'request' as const, method: 'resources/read', params: { uri: 'file:///ü.txt' } };
  const list = { kind: 'request' as const, method: 'tools/list', params: {} };
  const note = { kind: 'notification' as const, method: 'notifications/initialized' };

  const ok: [string, Parameters<typeof checkStandardHeaders>][] = [
    ['a matching tools/call', [call, 'tools/call', 'get_weather']],
    ['a matching encoded name', [read, 'resources/read', b64('file:///ü.txt')]],
    ['a request without a name', [list, 'tools/list', undefined]],
    ['tools/call lacking params.name, no Mcp-Name', [{ kind: 'request', method: 'tools/call', params: {} }, 'tools/call', undefined]],
    ['a notification without headers', [note, undefined, undefined]],
    ['a notification with a matching Mcp-Method', [note, 'notifications/initialized', undefined]],
    ['a notification with an Mcp-Name (undefined for notifications)', [note, 'notifications/initialized', 'anything']],
    ['a response, whatever the headers', [{ kind: 'response' }, 'tools/call', 'x']],
  ];
  for (const [name, args] of ok) {
    it(`accepts ${name}`, () => assert.deepStrictEqual(checkStandardHeaders(...args), { ok: true }));
  }

  const bad: [string, Parameters<typeof checkStandardHeaders>, string][] = [
    ['a request without Mcp-Method', [list, undefined, undefined], 'Missing required Mcp-Method header'],
    ['a method mismatch', [call, 'tools/list', 'get_weather'], 'Mcp-Method header "tools/list" does not match body method "tools/call"'],
    ['a method differing only in case', [call, 'Tools/Call', 'get_weather'], 'Mcp-Method header "Tools/Call" does not match body method "tools/call"'],
    ['an encoded Mcp-Method (not allowed for methods)', [call, b64('tools/call'), 'get_weather'], `Mcp-Method header "${b64('tools/call')}" does not match body method "tools/call"`],
    ['a missing Mcp-Name', [call, 'tools/call', undefined], 'Missing required Mcp-Name header for tools/call (params.name is "get_weather")'],
    ['a name mismatch', [{ kind: 'request', method: 'tools/call', params: { name: 'b' } }, 'tools/call', 'a'], 'Mcp-Name header "a" does not match params.name "b"'],
    ['an encoded name mismatch', [read, 'resources/read', b64('file:///u.txt')], 'Mcp-Name header "file:///u.txt" does not match params.uri "file:///ü.txt"'],
    ['a malformed encoded name', [call, 'tools/call', '=?base64?!!?='], 'Mcp-Name header "=?base64?!!?=" is malformed (invalid =?base64?…?= encoding, or characters that must be encoded)'],
    ['a raw non-ASCII name equal to the body', [read, 'resources/read', 'file:///ü.txt'], 'Mcp-Name header "file:///ü.txt" is malformed (invalid =?base64?…?= encoding, or characters that must be encoded)'],
    ['an Mcp-Name where none is expected', [list, 'tools/list', 'x'], 'Mcp-Name header "x" is not expected for method "tools/list"'],
    ['an Mcp-Name when params.name is missing', [{ kind: 'request', method: 'prompts/get', params: {} }, 'prompts/get', 'x'], 'Mcp-Name header "x" is present but params.name is missing or not a string'],
    ['a notification with a mismatched Mcp-Method', [note, 'notifications/cancelled', undefined], 'Mcp-Method header "notifications/cancelled" does not match body method "notifications/initialized"'],
    ['trailing whitespace in the name', [call, 'tools/call', 'get_weather '], 'Mcp-Name header "get_weather " does not match params.name "get_weather"'],
  ];
  for (const [name, args, message] of bad) {
    it(`refuses ${name}`, () => assert.deepStrictEqual(checkStandardHeaders(...args), { ok: false, message }));
  }

  it('truncates long values in messages', () => {
    const long = 'x'.repeat(1000);
    const r = checkStandardHeaders({ kind: 'request', method: 'tools/call', params: { name: 'y' } }, 'tools/call', long);
    assert.ok(!r.ok && r.message.length < 400, !r.ok ? r.message : '');
  });

  it('accepts exactly the header that encodes the body name', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 20 }), (name, other) => {
        const msg = { kind: 'request' as const, method: 'tools/call', params: { name } };
        assert.equal(checkStandardHeaders(msg, 'tools/call', b64(name)).ok, true);
        assert.equal(checkStandardHeaders(msg, 'tools/call', b64(other)).ok, name === other);
      }),
      { numRuns: 500 },
    );
  });
});
