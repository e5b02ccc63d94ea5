import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { jsonRpcErrorBody, parseJsonRpcMessage, type JsonRpcParseFailure, type JsonRpcParseResult } from '../../src/mcp/jsonrpc.js';

const enc = new TextEncoder();
const parse = (text: string): JsonRpcParseResult => parseJsonRpcMessage(enc.encode(text));

function failure(r: JsonRpcParseResult): JsonRpcParseFailure {
  assert.equal(r.ok, false, `expected a failure, got ${JSON.stringify(r)}`);
  return r as JsonRpcParseFailure;
}

function expectFailure(text: string | Uint8Array, reason: JsonRpcParseFailure['reason'], id: string | number | null = null): JsonRpcParseFailure {
  const f = failure(typeof text === 'string' ? parse(text) : parseJsonRpcMessage(text));
  assert.equal(f.reason, reason, f.message);
  assert.equal(f.code, reason === 'invalid_request' || reason === 'batch_not_supported' || reason === 'not_an_object' ? -32600 : -32700);
  assert.equal(f.id, id);
  return f;
}

describe('parseJsonRpcMessage: valid messages', () => {
  it('parses a request', () => {
    const r = parse('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"x":1}}}');
    assert.deepStrictEqual(r, {
      ok: true,
      message: {
        kind: 'request',
        id: 1,
        method: 'tools/call',
        params: { name: 'echo', arguments: { x: 1 } },
        body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { x: 1 } } },
      },
    });
  });

  it('accepts string, zero, negative and exponent-written integer ids', () => {
    for (const [raw, id] of [['"abc"', 'abc'], ['""', ''], ['0', 0], ['-7', -7], ['1e3', 1000], ['9007199254740991', 9007199254740991]] as const) {
      const r = parse(`{"jsonrpc":"2.0","id":${raw},"method":"ping"}`);
      assert.ok(r.ok && r.message.kind === 'request', raw);
      assert.equal(r.message.id, id);
      assert.equal(r.message.params, undefined);
    }
  });

  it('parses a notification (no id key)', () => {
    const r = parse('{"jsonrpc":"2.0","method":"notifications/initialized"}');
    assert.ok(r.ok);
    assert.equal(r.message.kind, 'notification');
    assert.ok(r.message.kind === 'notification' && r.message.method === 'notifications/initialized' && r.message.params === undefined);
  });

  it('parses result and error responses, including a null id on an error', () => {
    const ok = parse('{"jsonrpc":"2.0","id":"a","result":{}}');
    assert.ok(ok.ok && ok.message.kind === 'response' && ok.message.id === 'a');
    const err = parse('{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"bad","data":{"x":1}}}');
    assert.ok(err.ok && err.message.kind === 'response' && err.message.id === null);
    assert.deepStrictEqual(err.message.body.error, { code: -32600, message: 'bad', data: { x: 1 } });
    const nullResult = parse('{"jsonrpc":"2.0","id":3,"result":null}');
    assert.ok(nullResult.ok && nullResult.message.kind === 'response');
  });

  it('unescapes method names: "tools\\/call" and "\\u0074ools/call" are tools/call', () => {
    for (const m of ['"tools\\/call"', '"\\u0074ools/call"', '"\\u0074\\u006f\\u006fls\\u002fcall"']) {
      const r = parse(`{"jsonrpc":"2.0","id":1,"method":${m},"params":{"name":"x"}}`);
      assert.ok(r.ok && r.message.kind === 'request', m);
      assert.equal(r.message.method, 'tools/call');
    }
  });

  it('accepts escaped member names and non-ASCII content', () => {
    const r = parse('{"\\u006asonrpc":"2.0","id":1,"\\u006dethod":"tools/call","params":{"name":"天気","arguments":{"city":"Zürich 😀"}}}');
    assert.ok(r.ok && r.message.kind === 'request');
    assert.deepStrictEqual(r.message.params, { name: '天気', arguments: { city: 'Zürich 😀' } });
  });

  it('keeps "__proto__" in params an own property without polluting prototypes', () => {
    const r = parse('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","__proto__":{"admin":true}}}');
    assert.ok(r.ok && r.message.kind === 'request');
    const params = r.message.params!;
    assert.ok(Object.hasOwn(params, '__proto__'));
    assert.equal(Object.getPrototypeOf(params), Object.prototype);
    assert.equal((params as { admin?: unknown }).admin, undefined);
    assert.equal(({} as { admin?: unknown }).admin, undefined);
  });

  it('does not read members through a top-level "__proto__" key', () => {
    const r = parse('{"jsonrpc":"2.0","__proto__":{"method":"tools/call"},"id":1,"result":{}}');
    assert.ok(r.ok);
    assert.equal(r.message.kind, 'response');
  });

  it('parses bytes from a view into a larger buffer', () => {
    const whole = enc.encode('xx{"jsonrpc":"2.0","method":"ping","id":2}yy');
    const r = parseJsonRpcMessage(whole.subarray(2, whole.length - 2));
    assert.ok(r.ok && r.message.kind === 'request' && r.message.id === 2);
  });
});

describe('parseJsonRpcMessage: UTF-8', () => {
  const bad: [string, number[], number][] = [
    ['a lone continuation byte', [0x80], 0],
    ['0xFF', [0xff], 0],
    ['an overlong "/" (C0 AF)', [0xc0, 0xaf], 0],
    ['an overlong 3-byte form (E0 80 AF)', [0xe0, 0x80, 0xaf], 0],
    ['an overlong 4-byte form (F0 80 80 AF)', [0xf0, 0x80, 0x80, 0xaf], 0],
    ['a UTF-16 surrogate (ED A0 80)', [0xed, 0xa0, 0x80], 0],
    ['a code point above U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80], 0],
    ['a truncated sequence at the end', [0xe2, 0x82], 0],
    ['a truncated sequence before ASCII', [0xe2, 0x82, 0x22], 0],
  ];
  for (const [name, bytes, offset] of bad) {
    it(`refuses ${name} inside a string, naming the byte`, () => {
      const prefix = enc.encode('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"é');
      const body = new Uint8Array([...prefix, ...bytes, ...enc.encode('"}}')]);
      const f = expectFailure(body, 'invalid_utf8');
      assert.equal(f.message, `Parse error: invalid UTF-8 at byte ${prefix.length + offset}`);
    });
  }

  it('agrees with a fatal TextDecoder on random bytes', () => {
    const fatal = new TextDecoder('utf-8', { fatal: true });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        let valid = true;
        try {
          fatal.decode(bytes);
        } catch {
          valid = false;
        }
        const r = parseJsonRpcMessage(bytes);
        assert.equal(!r.ok && r.reason === 'invalid_utf8', !valid);
      }),
      { numRuns: 3000 },
    );
  });

  it('names the first bad byte after any valid prefix', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constantFrom<number[]>([0xff], [0xc1, 0x81], [0xed, 0xbf, 0xbf], [0xf5, 0x80, 0x80, 0x80], [0xe0, 0x9f, 0x80]), (s, badBytes) => {
        const prefix = enc.encode(s);
        const f = expectFailure(new Uint8Array([...prefix, ...badBytes, 0x41]), 'invalid_utf8');
        assert.equal(f.message, `Parse error: invalid UTF-8 at byte ${prefix.length}`);
      }),
    );
  });

  it('refuses a leading byte order mark as invalid JSON', () => {
    const f = expectFailure(new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode('{"jsonrpc":"2.0","id":1,"method":"ping"}')]), 'invalid_json');
    assert.equal(f.message, 'Parse error: a byte order mark (BOM) is not allowed at byte 0');
  });
});

describe('parseJsonRpcMessage: parse errors', () => {
  it('reports invalid JSON with a byte offset (not a UTF-16 offset)', () => {
    const f = expectFailure('{"é😀":1,}', 'invalid_json');
    // '{"' 2 bytes + é 2 + 😀 4 + '":1,' 4 = 12
    assert.equal(f.message, 'Parse error: Unexpected character "}", expected a string key at byte 12');
  });

  it('refuses an empty body', () => {
    assert.equal(expectFailure('', 'invalid_json').message, 'Parse error: Unexpected end of JSON input at byte 0');
  });

  it('refuses duplicate keys at any depth and keeps the unambiguous id', () => {
    const text = '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"a","name":"b"}}';
    const f = expectFailure(text, 'duplicate_key', 5);
    assert.equal(f.message, `Parse error: Duplicate key "name" at byte ${text.indexOf('"name":"b"')}`);
  });

  it('refuses a duplicated method, keeping the id', () => {
    expectFailure('{"jsonrpc":"2.0","id":"r1","method":"tools/list","method":"tools/call"}', 'duplicate_key', 'r1');
  });

  it('refuses a duplicate key spelled with escapes', () => {
    const f = expectFailure('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","\\u006eame":"b"}}', 'duplicate_key', 1);
    assert.match(f.message, /^Parse error: Duplicate key "name" at byte \d+$/);
  });

  const noId: [string, string][] = [
    ['the id itself is duplicated', '{"jsonrpc":"2.0","id":1,"id":2,"method":"x"}'],
    ['the id is duplicated with the same value', '{"jsonrpc":"2.0","id":1,"method":"x","id":1}'],
    ['the id is duplicated through an escape', '{"jsonrpc":"2.0","id":1,"method":"x","\\u0069d":2}'],
    ['a duplicate is followed by invalid JSON', '{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":1,"a":2},}'],
    ['a later duplicate of the id follows an earlier duplicate', '{"jsonrpc":"2.0","a":1,"a":2,"id":1,"id":2}'],
    ['the id is not a valid id', '{"jsonrpc":"2.0","id":1.5,"method":"x","params":{"a":1,"a":2}}'],
    ['the top level is a batch', '[{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":1,"a":2}}]'],
    ['the only id is nested', '{"jsonrpc":"2.0","method":"x","params":{"id":1,"a":1,"a":2}}'],
  ];
  for (const [name, text] of noId) {
    it(`gives id null when ${name}`, () => {
      expectFailure(text, 'duplicate_key', null);
    });
  }

  it('refuses nesting deeper than 64, keeping the id', () => {
    const deep = `${'['.repeat(70)}${']'.repeat(70)}`;
    const text = `{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{"arguments":{"x":${deep}}}}`;
    const f = expectFailure(text, 'too_deep', 'deep');
    assert.equal(f.message, `Parse error: Nesting deeper than 64 levels at byte ${text.indexOf('[') + 61}`);
    // 64 levels in all (the message object is level 1) is still fine.
    const ok = `{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":${'['.repeat(62)}${']'.repeat(62)}}}`;
    assert.equal(parse(ok).ok, true);
  });
});

describe('parseJsonRpcMessage: shape', () => {
  it('refuses batches (removed in MCP 2025-06-18)', () => {
    const f = expectFailure('[{"jsonrpc":"2.0","id":1,"method":"ping"}]', 'batch_not_supported');
    assert.match(f.message, /batch/);
    expectFailure('[]', 'batch_not_supported');
  });

  it('refuses non-objects', () => {
    for (const t of ['1', '"x"', 'null', 'true', '  false ']) expectFailure(t, 'not_an_object');
    assert.equal(failure(parse('null')).message, 'Invalid Request: a JSON-RPC message must be an object, got null');
  });

  const invalid: [string, string, string | number | null, string][] = [
    ['missing jsonrpc', '{"id":1,"method":"ping"}', 1, '"jsonrpc" must be exactly "2.0"'],
    ['jsonrpc "1.0"', '{"jsonrpc":"1.0","id":"a","method":"ping"}', 'a', '"jsonrpc" must be exactly "2.0"'],
    ['jsonrpc as a number', '{"jsonrpc":2.0,"id":1,"method":"ping"}', 1, '"jsonrpc" must be exactly "2.0"'],
    ['empty method', '{"jsonrpc":"2.0","id":1,"method":""}', 1, '"method" must be a non-empty string'],
    ['method not a string', '{"jsonrpc":"2.0","id":1,"method":7}', 1, '"method" must be a non-empty string'],
    ['method null', '{"jsonrpc":"2.0","id":1,"method":null}', 1, '"method" must be a non-empty string'],
    ['id null in a request', '{"jsonrpc":"2.0","id":null,"method":"ping"}', null, '"id" must be a string or an integer, got null'],
    ['id boolean', '{"jsonrpc":"2.0","id":true,"method":"ping"}', null, '"id" must be a string or an integer, got a boolean'],
    ['id float', '{"jsonrpc":"2.0","id":1.5,"method":"ping"}', null, '"id" must be a string or an integer, got the non-integer number 1.5'],
    ['id object', '{"jsonrpc":"2.0","id":{},"method":"ping"}', null, '"id" must be a string or an integer, got an object'],
    ['id array', '{"jsonrpc":"2.0","id":[1],"method":"ping"}', null, '"id" must be a string or an integer, got an array'],
    ['id beyond 2^53', '{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}', null, '"id" must be a string or an integer, got 9007199254740992, beyond the safe integer range'],
    ['params array', '{"jsonrpc":"2.0","id":1,"method":"x","params":[1,2]}', 1, '"params" must be an object (MCP uses by-name parameters only)'],
    ['params null', '{"jsonrpc":"2.0","id":1,"method":"x","params":null}', 1, '"params" must be an object (MCP uses by-name parameters only)'],
    ['params string in a notification', '{"jsonrpc":"2.0","method":"x","params":"a"}', null, '"params" must be an object (MCP uses by-name parameters only)'],
    ['request with a result', '{"jsonrpc":"2.0","id":1,"method":"x","result":{}}', 1, 'a request or notification must not have "result" or "error"'],
    ['notification with an error', '{"jsonrpc":"2.0","method":"x","error":{"code":1,"message":"m"}}', null, 'a request or notification must not have "result" or "error"'],
    ['neither method nor id', '{"jsonrpc":"2.0","result":{}}', null, 'a message needs "method" (request or notification) or "id" (response)'],
    ['response with both', '{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"m"}}', 1, 'a response must have exactly one of "result" and "error", it has both'],
    ['response with neither', '{"jsonrpc":"2.0","id":1}', 1, 'a response must have exactly one of "result" and "error", it has neither'],
    ['response with params', '{"jsonrpc":"2.0","id":1,"params":{},"result":{}}', 1, 'a response must not have "params" (is "method" missing?)'],
    ['response id boolean', '{"jsonrpc":"2.0","id":false,"result":{}}', null, '"id" must be a string, an integer or null, got a boolean'],
    ['error not an object', '{"jsonrpc":"2.0","id":1,"error":"boom"}', 1, '"error" must be an object'],
    ['error an array', '{"jsonrpc":"2.0","id":1,"error":[]}', 1, '"error" must be an object'],
    ['error code a float', '{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"m"}}', 1, '"error.code" must be an integer'],
    ['error code a string', '{"jsonrpc":"2.0","id":1,"error":{"code":"1","message":"m"}}', 1, '"error.code" must be an integer'],
    ['error without a message', '{"jsonrpc":"2.0","id":1,"error":{"code":1}}', 1, '"error.message" must be a string'],
    ['result with a null id', '{"jsonrpc":"2.0","id":null,"result":{}}', null, 'a successful response must not have a null "id"'],
  ];
  for (const [name, text, id, detail] of invalid) {
    it(`refuses ${name}`, () => {
      const f = expectFailure(text, 'invalid_request', id);
      assert.equal(f.message, `Invalid Request: ${detail}`);
    });
  }
});

describe('parseJsonRpcMessage: never throws', () => {
  it('returns a result for arbitrary bytes and arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.jsonValue().map((v) => enc.encode(JSON.stringify(v)))), (bytes) => {
        const r = parseJsonRpcMessage(bytes);
        assert.equal(typeof r.ok, 'boolean');
        if (!r.ok) assert.ok(r.message.length > 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts every well-formed request it is given, whatever the params', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.integer()),
        fc.string({ minLength: 1 }),
        fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })),
        (id, method, params) => {
          const body = { jsonrpc: '2.0', id, method, params };
          const r = parse(JSON.stringify(body));
          assert.ok(r.ok && r.message.kind === 'request');
          assert.equal(r.message.id, id);
          assert.equal(r.message.method, method);
          assert.deepStrictEqual(r.message.params, JSON.parse(JSON.stringify(params)));
        },
      ),
    );
  });
});

describe('jsonRpcErrorBody', () => {
  it('serializes an error response', () => {
    assert.equal(jsonRpcErrorBody(7, -32600, 'bad'), '{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"bad"}}');
    assert.equal(jsonRpcErrorBody(null, -32700, 'Parse error'), '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}');
    assert.deepStrictEqual(JSON.parse(jsonRpcErrorBody('a"b', -32020, 'm "q"\n', { reason: 'header_mismatch' })), {
      jsonrpc: '2.0',
      id: 'a"b',
      error: { code: -32020, message: 'm "q"\n', data: { reason: 'header_mismatch' } },
    });
  });

  it('omits undefined data but keeps null data', () => {
    assert.equal('data' in JSON.parse(jsonRpcErrorBody(1, 1, 'm', undefined)).error, false);
    assert.equal(JSON.parse(jsonRpcErrorBody(1, 1, 'm', null)).error.data, null);
  });

  it('produces what the parser accepts as an error response with the same id', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.integer(), fc.constant(null)), fc.integer(), fc.string(), (id, code, message) => {
        const r = parse(jsonRpcErrorBody(id, code, message));
        assert.ok(r.ok && r.message.kind === 'response');
        assert.equal(r.message.id, id);
      }),
    );
  });
});
