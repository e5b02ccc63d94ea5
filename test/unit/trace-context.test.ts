// The caller's W3C trace context: what counts as valid, what is ignored, and which of
// the header and `params._meta` is the parent.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { callerContext, formatTraceparent, headerContext, metaContext, parseTraceparent, parseTracestate, replaceMetaTraceparent } from '../../src/telemetry/trace-context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${SPAN}-01`;

describe('parseTraceparent', () => {
  it('reads a valid version-00 value', () => {
    assert.deepEqual(parseTraceparent(VALID), { traceId: TRACE, spanId: SPAN, flags: 1 });
    assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-00`), { traceId: TRACE, spanId: SPAN, flags: 0 });
  });
  it('reads a later version, ignoring the fields it adds after a "-"', () => {
    assert.deepEqual(parseTraceparent(`cc-${TRACE}-${SPAN}-01-what-the-future-holds`), { traceId: TRACE, spanId: SPAN, flags: 1 });
    assert.deepEqual(parseTraceparent(`01-${TRACE}-${SPAN}-01`), { traceId: TRACE, spanId: SPAN, flags: 1 });
  });
  const malformed: [string, unknown][] = [
    ['not a string', 42],
    ['an object', { traceparent: VALID }],
    ['empty', ''],
    ['upper-case hex', VALID.toUpperCase()],
    ['upper-case trace id', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['version 00 with a suffix', `${VALID}-00`],
    ['version 00 with trailing space', `${VALID} `],
    ['leading space', ` ${VALID}`],
    ['later version with a suffix not after "-"', `cc-${TRACE}-${SPAN}-01x`],
    ['short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
    ['long trace id', `00-${TRACE}0-${SPAN}-01`],
    ['short span id', `00-${TRACE}-${SPAN.slice(1)}-01`],
    ['non-hex flags', `00-${TRACE}-${SPAN}-0g`],
    ['one-digit flags', `00-${TRACE}-${SPAN}-1`],
    ['underscores for dashes', VALID.replaceAll('-', '_')],
    ['two values joined (a repeated header)', `${VALID},${VALID}`],
    ['a newline in a later version', `cc-${TRACE}-${SPAN}-01-\nx`],
    ['far too long', `cc-${TRACE}-${SPAN}-01-${'a'.repeat(300)}`],
  ];
  for (const [what, value] of malformed) it(`ignores ${what}`, () => assert.equal(parseTraceparent(value), undefined));

  it('accepts exactly what it formats, and formats what it accepts (property)', () => {
    const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
    fc.assert(
      fc.property(hex(32), hex(16), fc.integer({ min: 0, max: 255 }), (t, s, f) => {
        const parsed = parseTraceparent(formatTraceparent(t, s, f));
        if (/^0+$/.test(t) || /^0+$/.test(s)) return parsed === undefined;
        return parsed !== undefined && parsed.traceId === t && parsed.spanId === s && parsed.flags === f;
      }),
    );
  });
  it('never throws and only accepts 55+ character lower-case values (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom(VALID).map((v) => v)), (v) => {
        const r = parseTraceparent(v);
        return r === undefined || (v.length >= 55 && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}/.test(v));
      }),
    );
  });
  it('a value with one character changed is accepted only when it still says exactly those ids (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 54 }), fc.string({ minLength: 1, maxLength: 1 }), (i, c) => {
        const v = VALID.slice(0, i) + c + VALID.slice(i + 1);
        const r = parseTraceparent(v);
        if (r === undefined) return true;
        return formatTraceparent(r.traceId, r.spanId, r.flags).slice(2) === v.slice(2) && v.slice(0, 2) !== 'ff';
      }),
    );
  });
});

describe('parseTracestate', () => {
  it('keeps valid members, dropping empty ones', () => {
    assert.equal(parseTracestate('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'), 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    assert.equal(parseTracestate('rojo=1, ,congo=2'), 'rojo=1,congo=2');
    assert.equal(parseTracestate('tenant@vendor=x'), 'tenant@vendor=x');
  });
  const bad: [string, unknown][] = [
    ['not a string', 1],
    ['empty', ''],
    ['only commas', ',,'],
    ['upper-case key', 'Rojo=1'],
    ['no value', 'rojo='],
    ['no "="', 'rojo'],
    ['a duplicate key', 'rojo=1,rojo=2'],
    ['a value with "="', 'rojo=a=b'],
    ['a control character', 'rojo=a\u0001b'],
    ['non-ASCII', 'rojo=é'],
    ['33 members', Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')],
    ['over 512 characters', `k=${'v'.repeat(256)},j=${'v'.repeat(256)}`],
  ];
  for (const [what, v] of bad) it(`drops ${what}`, () => assert.equal(parseTracestate(v), undefined));
});

describe('where the context comes from', () => {
  const META_TRACE = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const META = `00-${META_TRACE}-bbbbbbbbbbbbbbbb-01`;
  it('the header alone is the parent', () => {
    const c = callerContext({ traceparent: VALID, tracestate: 'rojo=1' }, { name: 'x' });
    assert.deepEqual(c.parent, { traceId: TRACE, spanId: SPAN, flags: 1, traceState: 'rojo=1' });
    assert.equal(c.link, undefined);
  });
  it('_meta wins over the header, and the header becomes a link', () => {
    const c = callerContext({ traceparent: VALID }, { _meta: { traceparent: META, tracestate: 'congo=2' } });
    assert.equal(c.parent?.traceId, META_TRACE);
    assert.equal(c.parent?.traceState, 'congo=2');
    assert.equal(c.link?.traceId, TRACE);
  });
  it('the same context in both is a parent without a link', () => {
    const c = callerContext({ traceparent: VALID }, { _meta: { traceparent: VALID } });
    assert.equal(c.parent?.spanId, SPAN);
    assert.equal(c.link, undefined);
  });
  it('a malformed _meta traceparent is absent: the header is the parent', () => {
    for (const tp of [42, null, '', 'garbage', VALID.toUpperCase(), [VALID], { v: VALID }]) {
      const c = callerContext({ traceparent: VALID }, { _meta: { traceparent: tp } });
      assert.equal(c.parent?.traceId, TRACE, JSON.stringify(tp));
      assert.equal(c.link, undefined);
    }
  });
  it('a malformed header is absent', () => {
    assert.deepEqual(callerContext({ traceparent: 'nope' }, undefined), { parent: undefined, link: undefined, metaTraceparent: undefined });
    assert.equal(headerContext({ traceparent: `${VALID},${VALID}` }), undefined);
  });
  it('a valid traceparent with an invalid tracestate keeps the traceparent only', () => {
    assert.deepEqual(headerContext({ traceparent: VALID, tracestate: 'BAD' }), { traceId: TRACE, spanId: SPAN, flags: 1, traceState: undefined });
  });
  it('_meta must be an object with an own traceparent', () => {
    for (const params of [undefined, null, 'x', [], { _meta: null }, { _meta: [] }, { _meta: 'x' }, { _meta: Object.create({ traceparent: VALID }) }]) {
      assert.equal(metaContext(params), undefined, String(JSON.stringify(params)));
    }
    assert.equal(metaContext(JSON.parse(`{"_meta":{"__proto__":{"traceparent":"${VALID}"}}}`)), undefined);
  });
  it('never throws on arbitrary params (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.dictionary(fc.constantFrom('traceparent', 'tracestate', 'x'), fc.string()), (params, headers) => {
        const c = callerContext(headers, { _meta: params });
        return c.parent === undefined || /^[0-9a-f]{32}$/.test(c.parent.traceId);
      }),
    );
  });
});

describe('replaceMetaTraceparent', () => {
  const NEW = `00-${'c'.repeat(32)}-${'d'.repeat(16)}-01`;
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o));
  const meta = (tp: string, args: unknown = {}) => ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 't', arguments: args, _meta: { traceparent: tp } } });
  it('splices the gateway\'s value in place of the caller\'s, nothing else changes', () => {
    const out = replaceMetaTraceparent(enc(meta(VALID, { a: 1 })), VALID, NEW);
    assert.ok(out);
    assert.deepEqual(JSON.parse(Buffer.from(out).toString()), meta(NEW, { a: 1 }));
  });
  it('leaves the body alone when the value is escaped, repeated, elsewhere only, or of another length', () => {
    const escaped = Buffer.from(JSON.stringify(meta(VALID)).replace(VALID, `\\u0030${VALID.slice(1)}`));
    assert.equal(replaceMetaTraceparent(escaped, VALID, NEW), undefined);
    assert.equal(replaceMetaTraceparent(enc(meta(VALID, { copy: VALID })), VALID, NEW), undefined);
    const decoy = Buffer.from(JSON.stringify(meta(VALID, { x: VALID })).replace(`"traceparent":"${VALID}"`, `"traceparent":"\\u0030${VALID.slice(1)}"`));
    assert.equal(replaceMetaTraceparent(decoy, VALID, NEW), undefined, 'a tool argument is never rewritten');
    assert.equal(replaceMetaTraceparent(enc(meta(`cc-${TRACE}-${SPAN}-01-x`)), `cc-${TRACE}-${SPAN}-01-x`, NEW), undefined);
  });
});
