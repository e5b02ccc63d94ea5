import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { countTopLevelKey, parseStrictJson, StrictJsonError, type StrictJsonErrorReason } from '../../src/mcp/strict-json.js';

/** What parseStrictJson did: the value, or the error's reason and position. */
function outcome(text: string, maxDepth = Infinity): { ok: true; value: unknown } | { ok: false; reason: StrictJsonErrorReason; position: number; key?: string | undefined } {
  try {
    return { ok: true, value: parseStrictJson(text, { maxDepth }) };
  } catch (e) {
    assert.ok(e instanceof StrictJsonError, `threw something other than StrictJsonError: ${String(e)}`);
    // The validator itself must have refused: its JSON.parse safety net firing means it let through invalid JSON.
    assert.ok(!e.detail.startsWith('JSON.parse:'), `validator accepted invalid JSON: ${JSON.stringify(text)}`);
    return { ok: false, reason: e.reason, position: e.position, key: e.key };
  }
}

function jsonParseOk(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Every character as a \uXXXX escape: the same key, spelled differently. */
function escapeAll(key: string): string {
  let out = '"';
  for (let i = 0; i < key.length; i++) out += `\\u${key.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return `${out}"`;
}

describe('parseStrictJson: equivalence with JSON.parse', () => {
  it('parses any JSON value exactly like JSON.parse (compact and indented)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(undefined, 2, '\t'), (v, indent) => {
        const text = JSON.stringify(v, null, indent);
        assert.deepStrictEqual(parseStrictJson(text, { maxDepth: Infinity }), JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });

  it('parses fc.json() texts (with unicode escapes) like JSON.parse', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), (text) => {
        assert.deepStrictEqual(parseStrictJson(text, { maxDepth: Infinity }), JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });

  // Token soup hits the grammar's corners far more often than uniformly random text.
  const token = fc.constantFrom(
    '{', '}', '[', ']', ',', ':', '"a"', '"b"', '"\\u0061"', '"', '\\', '\\u', '\\"', '\\/', '\\x', '0', '1', '9', '-', '+', '.', 'e', 'E',
    '01', '1.', '.5', '-0', '1e5', 'true', 'false', 'null', 'tru', 'nul', 'NaN', 'Infinity', ' ', '\n', '\r', '\t', '\v', '\f', '\u00a0',
    '\ufeff', '\u2028', '\u0000', '\u001f', '\u007f', 'x', 'é', '😀', '\ud800', "'a'",
  );
  const soup = fc.oneof(
    fc.array(token, { maxLength: 30 }).map((t) => t.join('')),
    fc.string({ maxLength: 30 }),
    // A valid text with one character changed, inserted or removed.
    fc.tuple(fc.json({ maxDepth: 3 }), fc.nat(), fc.constantFrom('del', 'ins', 'set'), token).map(([t, at, op, tok]) => {
      const i = t.length === 0 ? 0 : at % t.length;
      if (op === 'del') return t.slice(0, i) + t.slice(i + 1);
      if (op === 'ins') return t.slice(0, i) + tok + t.slice(i);
      return t.slice(0, i) + tok + t.slice(i + 1);
    }),
  );

  it('agrees with JSON.parse on accept/reject for arbitrary text, and on the value', () => {
    fc.assert(
      fc.property(soup, (text) => {
        const r = outcome(text);
        if (r.ok) {
          assert.deepStrictEqual(r.value, JSON.parse(text));
        } else if (r.reason === 'invalid_json') {
          assert.equal(jsonParseOk(text), false, `strict rejected text that JSON.parse accepts: ${JSON.stringify(text)}`);
        } else {
          // A duplicate (the first error in text order; later text may be invalid too): the
          // position holds a key literal spelling the reported key.
          assert.equal(r.reason, 'duplicate_key');
          const literal = /"(?:[^"\\]|\\.)*"/y;
          literal.lastIndex = r.position;
          const m = literal.exec(text);
          assert.ok(m !== null);
          assert.equal(JSON.parse(m[0]), r.key);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('keeps number parsing identical to JSON.parse', () => {
    for (const t of ['-0', '0', '1e400', '-1e400', '1e-400', '0.1', '9007199254740993', '123456789012345678901234567890', '1E+2', '2.5e-3', '-12.5E7']) {
      assert.ok(Object.is(parseStrictJson(t), JSON.parse(t)), t);
    }
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => {
        const t = JSON.stringify(d);
        assert.ok(Object.is(parseStrictJson(t), JSON.parse(t)));
      }),
    );
  });
});

describe('parseStrictJson: duplicate keys', () => {
  // [name, text, key, the second occurrence's literal (where the error must point)]
  const cases: [string, string, string, string][] = [
    ['top level', '{"a":1,"a":2}', 'a', '"a":2'],
    ['deep inside arrays and objects', '{"x":[1,{"y":{"c":1,"d":[],"c":2}}]}', 'c', '"c":2'],
    ['escaped spelling of the same key', '{"a":1,"\\u0061":2}', 'a', '"\\u0061"'],
    ['escaped non-ASCII key', '{"\\u00e9":1,"é":2}', 'é', '"é"'],
    ['escaped slash', '{"a/b":1,"a\\/b":2}', 'a/b', '"a\\/b"'],
    ['surrogate pair escape', '{"😀":1,"\\ud83d\\ude00":2}', '😀', '"\\ud83d'],
    ['empty key', '{"":1,"":2}', '', '"":2'],
    ['same key after a nested object closes', '{"a":{"b":1},"a":2}', 'a', '"a":2'],
    ['in a large object (Set path)', `{${Array.from({ length: 30 }, (_, i) => `"k${i}":${i}`).join(',')},"k17":0}`, 'k17', '"k17":0'],
    ['__proto__ twice', '{"__proto__":1,"__proto__":2}', '__proto__', '"__proto__":2'],
  ];
  for (const [name, text, key, second] of cases) {
    it(`refuses ${name}`, () => {
      assert.equal(jsonParseOk(text), true, 'the case itself must be valid JSON');
      const r = outcome(text);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.reason, 'duplicate_key');
      assert.equal(r.key, key);
      assert.equal(r.position, text.lastIndexOf(second));
    });
  }

  it('allows the same key in different objects', () => {
    for (const text of ['[{"a":1},{"a":2}]', '{"a":{"a":{"a":1}}}', '{"a":{"b":1},"b":2}', `[${'{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10}'.repeat(3).replaceAll('}{', '},{')}]`]) {
      assert.deepStrictEqual(parseStrictJson(text), JSON.parse(text), text);
    }
  });

  it('reports a precise message', () => {
    assert.throws(() => parseStrictJson('{"name":"a",\n "name":"b"}'), {
      name: 'StrictJsonError',
      reason: 'duplicate_key',
      message: 'Duplicate key "name" at position 14',
      position: 14,
      key: 'name',
    });
  });

  it('finds a duplicate injected anywhere in a random document, in plain or escaped spelling', () => {
    const wrapper = fc.oneof(fc.constant<null>(null), fc.string({ maxLength: 5 }));
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 20 }),
        fc.nat(),
        fc.nat(),
        fc.boolean(),
        fc.array(wrapper, { maxLength: 6 }),
        (obj, pick, at, escaped, path) => {
          const keys = Object.keys(obj);
          const key = keys[pick % keys.length]!;
          const members = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(obj[k])}`);
          const extra = `${escaped ? escapeAll(key) : JSON.stringify(key)}:0`;
          const slot = at % (members.length + 1);
          members.splice(slot, 0, extra);
          let text = `{${members.join(',')}}`;
          // Where the later of the two occurrences starts, within the object text.
          const keyIndex = keys.indexOf(key);
          const later = slot <= keyIndex ? keyIndex + 1 : slot;
          let offset = 1 + members.slice(0, later).reduce((n, m) => n + m.length + 1, 0);
          for (const w of path.reverse()) {
            const prefix = w === null ? '[' : `{${JSON.stringify(w)}:`;
            text = `${prefix}${text}${w === null ? ']' : '}'}`;
            offset += prefix.length;
          }
          const r = outcome(text);
          assert.equal(r.ok, false);
          if (r.ok) return;
          assert.equal(r.reason, 'duplicate_key');
          assert.equal(r.key, key);
          assert.equal(r.position, offset);
          // Without the duplicate, the same document parses.
          members.splice(slot, 1);
          const clean = text.replace(`{${[...members.slice(0, slot), extra, ...members.slice(slot)].join(',')}}`, () => `{${members.join(',')}}`);
          assert.notEqual(clean, text);
          assert.deepStrictEqual(parseStrictJson(clean, { maxDepth: Infinity }), JSON.parse(clean));
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('parseStrictJson: __proto__ safety', () => {
  it('makes "__proto__" an own data property, like JSON.parse, without touching prototypes', () => {
    const text = '{"__proto__":{"polluted":true},"a":{"__proto__":[1]}}';
    const v = parseStrictJson(text) as Record<string, unknown>;
    assert.deepStrictEqual(v, JSON.parse(text));
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.ok(Object.hasOwn(v, '__proto__'));
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(v, '__proto__')?.value, { polluted: true });
    assert.equal((v as { polluted?: unknown }).polluted, undefined);
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
    const inner = v.a as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(inner), Object.prototype);
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(inner, '__proto__')?.value, [1]);
  });

  it('treats an escaped "__proto__" the same way', () => {
    const v = parseStrictJson('{"\\u005f_proto__":{"x":1}}') as Record<string, unknown>;
    assert.ok(Object.hasOwn(v, '__proto__'));
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
  });
});

describe('parseStrictJson: depth', () => {
  const nest = (d: number) => '['.repeat(d) + ']'.repeat(d);

  it('accepts 64 levels by default and refuses 65 at the opening bracket', () => {
    assert.deepStrictEqual(parseStrictJson(nest(64)), JSON.parse(nest(64)));
    assert.throws(() => parseStrictJson(nest(65)), { reason: 'too_deep', position: 64, message: 'Nesting deeper than 64 levels at position 64' });
  });

  it('counts objects and arrays alike, and empty containers too', () => {
    const text = '{"a":[{"b":[]}]}'; // depth 4
    assert.deepStrictEqual(parseStrictJson(text, { maxDepth: 4 }), JSON.parse(text));
    assert.throws(() => parseStrictJson(text, { maxDepth: 3 }), { reason: 'too_deep', position: 11 });
    assert.equal(parseStrictJson('"scalar"', { maxDepth: 0 }), 'scalar');
    assert.throws(() => parseStrictJson('[]', { maxDepth: 0 }), { reason: 'too_deep', position: 0 });
  });

  it('measures depth, not total containers', () => {
    const wide = `[${Array.from({ length: 1000 }, () => '[[{}]]').join(',')}]`;
    assert.equal((parseStrictJson(wide, { maxDepth: 4 }) as unknown[]).length, 1000);
  });

  it('has no hidden limit of its own (no recursion) when maxDepth is Infinity', () => {
    assert.equal(Array.isArray(parseStrictJson(nest(100_000), { maxDepth: Infinity })), true);
  });

  it('rejects a bad maxDepth loudly', () => {
    assert.throws(() => parseStrictJson('1', { maxDepth: -1 }), RangeError);
    assert.throws(() => parseStrictJson('1', { maxDepth: Number.NaN }), RangeError);
  });
});

describe('parseStrictJson: invalid JSON', () => {
  const cases: [string, number, string][] = [
    ['', 0, 'Unexpected end of JSON input'],
    ['   ', 3, 'Unexpected end of JSON input'],
    ['{"a":1,}', 7, 'Unexpected character "}", expected a string key'],
    ['[1,]', 3, 'Unexpected character "]"'],
    ['[1 2]', 3, 'Unexpected character "2"'],
    ['{"a" 1}', 5, 'Unexpected character "1", expected ":"'],
    ["{'a':1}", 1, `Unexpected character "'", expected a string key`],
    ['"abc', 0, 'Unterminated string'],
    ['"a\nb"', 2, 'Unescaped control character U+000A in string'],
    ['"\\x"', 1, 'Bad escape in string'],
    ['"\\u12G4"', 1, 'Bad \\u escape in string'],
    ['"\\v"', 1, 'Bad escape in string'],
    ['"\\\'"', 1, 'Bad escape in string'],
    ['"\\U0041"', 1, 'Bad escape in string'],
    ['"\\', 0, 'Unterminated string'],
    ['01', 1, 'Unexpected character "1"'],
    ['1.', 2, 'Unexpected end of JSON input'],
    ['1.e5', 2, 'Invalid number: unexpected character "e"'],
    ['-', 1, 'Unexpected end of JSON input'],
    ['-a', 1, 'Invalid number: unexpected character "a"'],
    ['1e+', 3, 'Unexpected end of JSON input'],
    ['+1', 0, 'Unexpected character "+"'],
    ['.5', 0, 'Unexpected character "."'],
    ['tru', 0, 'Unexpected character "t"'],
    ['NaN', 0, 'Unexpected character "N"'],
    ['\ufeff{}', 0, 'Unexpected character U+FEFF'],
    ['[\v1]', 1, 'Unexpected character U+000B'],
    ['{"a":1}x', 7, 'Unexpected character "x"'],
    ['{"a":1}}', 7, 'Unexpected character "}"'],
    ['[😀]', 1, 'Unexpected character "😀"'],
  ];
  for (const [text, position, detail] of cases) {
    it(`refuses ${JSON.stringify(text)} at ${position}`, () => {
      assert.equal(jsonParseOk(text), false, 'the case itself must be invalid for JSON.parse');
      assert.throws(() => parseStrictJson(text), (e: unknown) => {
        assert.ok(e instanceof StrictJsonError);
        assert.ok(e instanceof SyntaxError);
        assert.equal(e.reason, 'invalid_json');
        assert.equal(e.position, position);
        assert.equal(e.detail, detail);
        assert.equal(e.message, `${detail} at position ${position}`);
        return true;
      });
    });
  }

  it('accepts what JSON.parse accepts at the edges', () => {
    for (const t of ['"\u2028\u2029"', ' \t\n\r1\r\n', '"\\ud800"', '"\ud800"', '"\u007f"', '{"":""}', '[[],{}]']) {
      assert.deepStrictEqual(parseStrictJson(t), JSON.parse(t), JSON.stringify(t));
    }
  });
});

describe('countTopLevelKey', () => {
  const cases: [string, string, number][] = [
    ['{"id":1,"a":{"id":2},"b":[{"id":3}],"\\u0069d":4}', 'id', 2],
    ['{"x":"id","y":["id"]}', 'id', 0],
    ['{"a":"\\"id\\"","id":null}', 'id', 1],
    ['{}', 'id', 0],
    ['[{"id":1}]', 'id', 0],
    ['"id"', 'id', 0],
    [' { "id" : 1 , "id" : 2 , "id" : 3 } ', 'id', 3],
  ];
  for (const [text, key, n] of cases) {
    it(`counts ${n} in ${text}`, () => assert.equal(countTopLevelKey(text, key), n));
  }
});
