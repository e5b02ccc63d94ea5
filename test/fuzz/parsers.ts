// Fuzz targets over the sidecar's parsers: each is an input generator and the
// invariants every input must keep (see test/fuzz/README section in README.md).
import { splitAt } from '../support/chunks.js';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { parseStrictJson, StrictJsonError, DEFAULT_MAX_DEPTH } from '../../src/mcp/strict-json.js';
import { parseJsonRpcMessage } from '../../src/mcp/jsonrpc.js';
import { SseFramer, type SseEvent } from '../../src/mcp/sse.js';
import { checkStandardHeaders, decodeHeaderValue } from '../../src/mcp/standard-headers.js';
import { checkResourceUri } from '../../src/mcp/resource-uri.js';
import { createRedactor, DEFAULT_SECRET_NAMES, DEFAULT_VALUE_PATTERNS, REDACTED } from '../../src/audit/redact.js';
import { unitString, applyEdits, editArb, jsonTextArb, obj, lit, scan, serialize, styleArb, nested, type Tree } from './json-text.js';
import { mcpMessageArb } from './mcp-messages.js';
import { violated, type AnyTarget, type Target } from './target.js';

const show = (v: unknown): string => JSON.stringify(v)?.slice(0, 300) ?? String(v);

// ---- strict-json ----------------------------------------------------------------

export const strictJson: Target<string> = {
  name: 'strict-json',
  about: 'JSON text (valid with duplicate keys and escapes, mutated, deeply nested, random)',
  arb: jsonTextArb,
  check(text) {
    let expected: unknown;
    let jsonOk = true;
    try {
      expected = JSON.parse(text);
    } catch {
      jsonOk = false;
    }
    let got: unknown;
    let err: StrictJsonError | undefined;
    try {
      got = parseStrictJson(text);
    } catch (e) {
      if (!(e instanceof StrictJsonError)) violated('only-strict-json-error', `threw ${String(e)} on ${show(text)}`);
      err = e;
    }
    if (err && !(err.position >= 0 && err.position <= text.length)) violated('error-position', `position ${err.position} outside [0, ${text.length}]`);
    if (!jsonOk) {
      // Any reason will do: text with a duplicate key before its syntax error is reported as
      // duplicate_key (the scan stops at the first problem); both map to -32700 in JSON-RPC.
      if (!err) violated('json-equivalence', `accepted what JSON.parse refuses: ${show(text)}`);
      return;
    }
    const s = scan(text);
    const tooDeep = s.depth > DEFAULT_MAX_DEPTH;
    if (!s.duplicate && !tooDeep) {
      if (err) violated('json-equivalence', `refused (${err.message}) valid JSON without duplicates: ${show(text)}`);
      if (!isDeepStrictEqual(got, expected)) violated('json-equivalence', `value differs from JSON.parse on ${show(text)}`);
      return;
    }
    if (!err) violated(s.duplicate ? 'duplicates-refused' : 'depth-refused', `accepted ${show(text)} (duplicate: ${s.duplicate}, depth ${s.depth})`);
    const allowed = [...(s.duplicate ? ['duplicate_key'] : []), ...(tooDeep ? ['too_deep'] : [])];
    if (!allowed.includes(err.reason)) violated('refusal-reason', `reason ${err.reason}, expected ${allowed.join(' or ')} for ${show(text)}`);
  },
};

// ---- jsonrpc --------------------------------------------------------------------

const utf8Fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const PARSE_REASONS = new Set(['invalid_utf8', 'invalid_json', 'duplicate_key', 'too_deep']);
const isId = (v: unknown): boolean => typeof v === 'string' || Number.isSafeInteger(v);

/** Byte edits on top of text edits: invalid UTF-8, a BOM, a cut inside a character. */
type ByteEdit = { op: 'bom' | 'byte' | 'cut'; at: number; b: number };
const byteEditArb: fc.Arbitrary<ByteEdit> = fc.record({ op: fc.constantFrom('bom', 'byte', 'cut'), at: fc.nat(), b: fc.constantFrom(0x80, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf4, 0xf5, 0xff, 0x00) });

function applyByteEdits(bytes: Buffer, edits: readonly ByteEdit[]): Buffer {
  let b = bytes;
  for (const e of edits) {
    const at = e.at % (b.length + 1);
    if (e.op === 'bom') b = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]);
    else if (e.op === 'cut') b = b.subarray(0, at);
    else b = Buffer.concat([b.subarray(0, at), Buffer.from([e.b]), b.subarray(at)]);
  }
  return b;
}

export const jsonRpcBodyArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(mcpMessageArb, styleArb).map(([t, s]) => Buffer.from(serialize(t, s))) },
  { weight: 3, arbitrary: fc.tuple(mcpMessageArb, styleArb, fc.array(editArb, { minLength: 1, maxLength: 2 })).map(([t, s, e]) => Buffer.from(applyEdits(serialize(t, s), e))) },
  { weight: 2, arbitrary: fc.tuple(mcpMessageArb, fc.array(byteEditArb, { minLength: 1, maxLength: 2 })).map(([t, e]) => applyByteEdits(Buffer.from(serialize(t)), e)) },
  { weight: 1, arbitrary: fc.array(mcpMessageArb, { maxLength: 3 }).map((ms) => Buffer.from(serialize({ t: 'arr', items: ms }))) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 60, max: 70 }), fc.nat(0xffff), fc.oneof(fc.string(), fc.integer())).map(([d, p, id]) => Buffer.from(serialize(obj([['jsonrpc', lit('2.0')], ['id', lit(id)], ['method', lit('ping')], ['params', nested(d, p)]])))) },
  { weight: 1, arbitrary: jsonTextArb.map((t) => Buffer.from(t)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a)) },
);

export const jsonRpc: Target<Buffer> = {
  name: 'jsonrpc',
  about: 'HTTP bodies: MCP client messages of every method, serialised with escapes and duplicate keys, mutated as text and as bytes, batches, deep nesting',
  arb: jsonRpcBodyArb,
  check(body) {
    let r: ReturnType<typeof parseJsonRpcMessage>;
    try {
      r = parseJsonRpcMessage(body);
    } catch (e) {
      violated('no-throw', `threw ${String(e)} on ${show(body.toString('latin1'))}`);
    }
    let text: string | undefined;
    try {
      text = utf8Fatal.decode(body);
    } catch {
      text = undefined;
    }
    let value: unknown;
    let jsonOk = false;
    if (text !== undefined) {
      try {
        value = JSON.parse(text);
        jsonOk = true;
      } catch {
        jsonOk = false;
      }
    }
    const topObject = jsonOk && value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
    const s = jsonOk ? scan(text!) : undefined;
    if (r.ok) {
      if (text === undefined) violated('utf8', 'accepted invalid UTF-8');
      if (text.charCodeAt(0) === 0xfeff) violated('bom', 'accepted a body starting with a BOM');
      if (!topObject) violated('json-equivalence', `accepted what is not one JSON object: ${show(text)}`);
      if (s!.duplicate || s!.depth > DEFAULT_MAX_DEPTH) violated('strict', `accepted duplicates or depth ${s!.depth}: ${show(text)}`);
      if (!isDeepStrictEqual(r.message.body, value)) violated('json-equivalence', `body differs from JSON.parse: ${show(text)}`);
      const m = r.message;
      if (topObject.jsonrpc !== '2.0') violated('shape', 'accepted without "jsonrpc": "2.0"');
      if (m.kind !== 'response' && (typeof topObject.method !== 'string' || topObject.method === '' || m.method !== topObject.method)) violated('shape', 'method mismatch');
      if (m.kind === 'request' && (!isId(topObject.id) || m.id !== topObject.id)) violated('shape', 'request id mismatch');
      if (m.kind === 'notification' && 'id' in topObject) violated('shape', 'a notification with an id');
      if (m.kind === 'response' && ((topObject.result === undefined) === (topObject.error === undefined) || 'method' in topObject)) violated('shape', 'a response without exactly one of result/error');
      return;
    }
    const parseReason = PARSE_REASONS.has(r.reason);
    if (r.code !== (parseReason ? -32700 : -32600)) violated('error-code', `reason ${r.reason} with code ${r.code}`);
    if ((r.reason === 'invalid_utf8') !== (text === undefined)) violated('utf8', `reason ${r.reason}, but the body is ${text === undefined ? 'not ' : ''}UTF-8`);
    if (text !== undefined && !jsonOk && (!parseReason || r.id !== null)) violated('json-equivalence', `reason ${r.reason} (id ${show(r.id)}) for text JSON.parse refuses: ${show(text)}`);
    if (jsonOk && text!.charCodeAt(0) !== 0xfeff && r.reason === 'invalid_json') violated('json-equivalence', `invalid_json for text JSON.parse accepts: ${show(text)}`);
    if (typeof r.message !== 'string' || r.message === '') violated('error-message', 'empty message');
    // The id: never invented, and given whenever it is known unambiguously.
    if (r.id !== null) {
      if (!topObject || topObject.id !== r.id) violated('error-id', `id ${show(r.id)} is not the body's (${show(topObject?.id)})`);
      if (s!.topLevelIds !== 1) violated('error-id', `id ${show(r.id)} given although the body has ${s!.topLevelIds} "id" members`);
    } else if (topObject && isId(topObject.id) && s!.topLevelIds === 1 && text!.charCodeAt(0) !== 0xfeff) {
      violated('error-id', `id ${show(topObject.id)} is known but the ${r.reason} failure has id null: ${show(text)}`);
    }
  },
};

// ---- sse --------------------------------------------------------------------------

const EOL = ['\n', '\r', '\r\n'];
const sseLineArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom('data', 'data', 'event', 'id', 'retry', 'Data', 'dat', 'id ', ''), fc.constantFrom(':', ': ', ':  ', ''), fc.oneof(unitString({ maxLength: 10 }), fc.constantFrom('{"a":1}', '123', '1e3', '\u0000', ' x', '9007199254740993'))).map(([f, c, v]) => `${f}${c}${v.replace(/[\r\n]/g, '')}`) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }).map((v) => `:${v.replace(/[\r\n]/g, '')}`) },
  { weight: 2, arbitrary: fc.constant('') },
);
/** Raw bytes sometimes spliced in: invalid UTF-8, a BOM, lone CR/LF. */
const rawBytesArb = fc.constantFrom([0xef, 0xbb, 0xbf], [0xef, 0xbb], [0xe2, 0x82], [0xff], [0xc3], [0x0d], [0x0a], [0xf0, 0x9f, 0x98]);

const sseStreamArb: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.boolean(),
    fc.array(fc.tuple(sseLineArb, fc.constantFrom(...EOL), fc.oneof({ weight: 7, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: rawBytesArb })), { maxLength: 14 }),
    fc.boolean(),
  )
  .map(([bom, lines, endBlank]) => {
    const parts: Buffer[] = bom ? [Buffer.from([0xef, 0xbb, 0xbf])] : [];
    for (const [l, eol, raw] of lines) {
      if (raw) parts.push(Buffer.from(raw));
      parts.push(Buffer.from(l + eol));
    }
    if (endBlank) parts.push(Buffer.from('\n'));
    return Buffer.concat(parts);
  });

/** Cut points: a sorted list of offsets, some at the nastiest places (inside CRLF, inside a character). */
const cutsArb = fc.array(fc.nat(), { maxLength: 8 });


/** The WHATWG event-stream interpretation, written plainly: one effective-field block per blank line. */
export function referenceSse(bytes: Uint8Array): SseEvent[] {
  const text = new TextDecoder('utf-8').decode(bytes); // strips one leading BOM, replaces bad bytes
  const out: SseEvent[] = [];
  let cur: SseEvent = { event: undefined, data: '', id: undefined, retry: undefined, hasData: false };
  let seen = false;
  const lines = text.split(/\r\n|\r|\n/);
  lines.pop(); // the text after the last line end is not a line (yet)
  for (const line of lines) {
    if (line === '') {
      if (seen) out.push(cur);
      cur = { event: undefined, data: '', id: undefined, retry: undefined, hasData: false };
      seen = false;
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      cur.data = cur.hasData ? `${cur.data}\n${value}` : value;
      cur.hasData = seen = true;
    } else if (field === 'event') {
      cur.event = value;
      seen = true;
    } else if (field === 'id') {
      if (!value.includes('\0')) {
        cur.id = value;
        seen = true;
      }
    } else if (field === 'retry') {
      if (/^[0-9]+$/.test(value) && Number.isSafeInteger(Number(value))) {
        cur.retry = Number(value);
        seen = true;
      }
    }
  }
  return out;
}

function frameAll(chunks: readonly Uint8Array[]): { bytes: Buffer; events: SseEvent[] } {
  const f = new SseFramer();
  const parts: Uint8Array[] = [];
  const events: SseEvent[] = [];
  for (const c of chunks) {
    for (const b of f.push(c)) {
      parts.push(Buffer.from(b.bytes)); // copy: views may alias later chunks
      if (b.event) events.push(b.event);
    }
  }
  parts.push(f.end());
  return { bytes: Buffer.concat(parts), events };
}

export const sse: Target<{ stream: Buffer; cuts: number[] }> = {
  name: 'sse',
  about: 'SSE byte streams (fields, comments, CR/LF/CRLF, BOM, invalid UTF-8) cut into random chunks',
  arb: fc.record({ stream: sseStreamArb, cuts: cutsArb }),
  check({ stream, cuts }) {
    const whole = frameAll([stream]);
    const parts = frameAll(splitAt(stream, cuts));
    if (!whole.bytes.equals(stream)) violated('byte-for-byte', `whole stream not given back: ${show(stream.toString('latin1'))}`);
    if (!parts.bytes.equals(stream)) violated('byte-for-byte', `chunked stream not given back: ${show(stream.toString('latin1'))} cut at ${show(cuts)}`);
    if (!isDeepStrictEqual(parts.events, whole.events)) violated('chunking-invariance', `events differ when chunked: ${show(stream.toString('latin1'))} cut at ${show(cuts)}`);
    const ref = referenceSse(stream);
    if (!isDeepStrictEqual(whole.events, ref)) violated('whatwg-reference', `events differ from the reference parser: ${show(stream.toString('latin1'))}: got ${show(whole.events)}, reference ${show(ref)}`);
  },
};

// ---- standard headers ---------------------------------------------------------------

const NAMED: Record<string, string> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri', 'resources/subscribe': 'uri', 'resources/unsubscribe': 'uri' };
const b64 = (s: string): string => `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;
const headerValueArb = fc.oneof(
  unitString({ maxLength: 12 }),
  fc.string({ maxLength: 12 }).map(b64),
  fc.string({ maxLength: 12 }).map((s) => b64(s).replace('=?base64?', '=?BASE64?')),
  fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 2 })).map(([s, junk]) => b64(s).replace('?=', `${junk}?=`)),
  fc.string({ maxLength: 8 }).map((s) => `=?base64?${Buffer.from(s).toString('base64url')}?=`),
  fc.constantFrom('=?base64??=', '=?base64?', '?=', '=?base64?=?=', '=?base64?AA==?=', '=?base64?AB==?=', '=?base64?wA==?=', '=?base64?7aCA?='),
);

export const standardHeaders: Target<{ value: string; plain: string; method: string; name: string | undefined; hMethod: string | undefined; hName: string | undefined; kind: 'request' | 'notification' }> = {
  name: 'standard-headers',
  about: 'Mcp-Method / Mcp-Name values (plain, =?base64?…?= valid and not) against request bodies',
  arb: fc.record({
    value: headerValueArb,
    plain: unitString({ maxLength: 12 }),
    method: fc.constantFrom('tools/call', 'prompts/get', 'resources/read', 'tools/list', 'ping', 'notifications/initialized'),
    name: fc.option(fc.oneof(fc.constantFrom('echo', 'secret-x', 'é', 'a b', 'test://x/y'), fc.string({ maxLength: 6 })), { nil: undefined }),
    hMethod: fc.option(fc.constantFrom('tools/call', 'prompts/get', 'resources/read', 'tools/list', 'ping', 'Tools/Call', ''), { nil: undefined }),
    hName: fc.option(fc.oneof(fc.constantFrom('echo', 'secret-x', b64('é'), 'é', b64('secret-x')), headerValueArb), { nil: undefined }),
    kind: fc.constantFrom('request', 'notification'),
  }),
  check({ value, plain, method, name, hMethod, hName, kind }) {
    const d = decodeHeaderValue(value);
    const sentinel = value.length >= 11 && value.startsWith('=?base64?') && value.endsWith('?=');
    if (d !== undefined && sentinel && b64(d) !== value) violated('canonical-base64', `${show(value)} decoded to ${show(d)}, which encodes differently`);
    if (d !== undefined && !sentinel && d !== value) violated('plain-literal', `plain ${show(value)} decoded to ${show(d)}`);
    if (d !== undefined && !sentinel && /[^\x20-\x7e\t]/.test(d)) violated('plain-ascii', `plain value with non-visible-ASCII accepted: ${show(value)}`);
    const wellFormed = !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(plain);
    if (wellFormed && decodeHeaderValue(b64(plain)) !== plain) violated('round-trip', `${show(plain)} does not survive encoding`);
    const field = NAMED[method];
    const params = name === undefined || field === undefined ? {} : { [field]: name };
    let r;
    try {
      r = checkStandardHeaders({ kind, method, params }, hMethod, hName);
    } catch (e) {
      violated('no-throw', `threw ${String(e)}`);
    }
    // The reference: the rules written out.
    let ok: boolean;
    if (kind === 'notification') ok = hMethod === undefined || hMethod === method;
    else if (hMethod !== method) ok = false;
    else if (field === undefined || name === undefined) ok = hName === undefined;
    else ok = hName !== undefined && decodeHeaderValue(hName) === name;
    if (r.ok !== ok) violated('reference', `${kind} ${method} ${show(params)} with Mcp-Method ${show(hMethod)}, Mcp-Name ${show(hName)}: got ${r.ok ? 'ok' : (r as { message: string }).message}, expected ${ok ? 'ok' : 'a refusal'}`);
  },
};

// ---- resource URIs ----------------------------------------------------------------

const SCHEMES = ['test', 'http', 'https', 'ftp', 'file', 'ws', 'wss', 'urn', 'x-custom', 'HTTP'];
const HOSTS = ['a', 'secret', 'ex.com', 'localhost', '127.0.0.1', '127.1', '0x7f.0.0.1', '2130706433', '[::1]', '[0:0::1]', '[::ffff:127.0.0.1]', '%61', '%C3%A9', 'xn--9ca', 'a.', 'A', 'u@a', 'u:p@a', ':@a', 'u:@a', 'a;b@h', 'a=b@h', ''];
const PORTS = ['', ':80', ':443', ':21', ':8080', ':0080', ':', ':65536', ':1'];
const SEGMENTS = ['x', 'secret', '.', '..', '%2E', '%2e', '%2E%2E', '%252E', 'a%2Fb', 'a%5Cb', "'", '%27', '%41', '~', '%7E', 'é', '%C3%A9', '', 'a%00', ';p=1', '\t', '\\', 'C:', 'C|'];
const QUERIES = ['', '?', '?q=1', "?'", '?%27', '?a=%41', '?#', '?x=1&y=2'];

export const uriArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...SCHEMES), fc.constantFrom('://', '://', ':', ':/', ':///'), fc.constantFrom(...HOSTS), fc.constantFrom(...PORTS), fc.array(fc.constantFrom(...SEGMENTS), { maxLength: 4 }), fc.constantFrom('', '/'), fc.constantFrom(...QUERIES)).map(([s, sep, h, p, segs, trail, q]) => `${s}${sep}${h}${p}${segs.map((x) => `/${x}`).join('')}${trail}${q}`) },
  { weight: 1, arbitrary: unitString({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.webUrl({ withQueryParameters: true, withFragments: true }) },
);

const href = (u: string): string | undefined => {
  try {
    return new URL(u).href;
  } catch {
    return undefined;
  }
};

export const resourceUri: Target<{ t: string; u: string; template: boolean }> = {
  name: 'resource-uri',
  about: 'pairs of URI-ish strings (schemes, host forms, ports, dot and encoded segments, queries): two accepted spellings must not name one WHATWG href',
  arb: fc.record({ t: uriArb, u: uriArb, template: fc.boolean() }),
  check({ t, u, template }) {
    let ct, cu;
    try {
      ct = checkResourceUri(t, { template });
      cu = checkResourceUri(u);
    } catch (e) {
      violated('no-throw', `threw ${String(e)} on ${show(t)} / ${show(u)}`);
    }
    if (!ct.ok && typeof (ct as { problem: unknown }).problem !== 'string') violated('shape', 'a refusal without a problem');
    if (template) return;
    // t against its own WHATWG form, and against another accepted spelling of the same href.
    const ht = href(t);
    if (ht === undefined || !checkResourceUri(t).ok) return;
    if (ht !== t && checkResourceUri(ht).ok) violated('one-spelling', `${show(t)} and ${show(ht)} are both accepted but WHATWG resolves ${show(t)} to ${show(ht)}`, { t, u: ht, href: ht });
    if (cu.ok && u !== t && href(u) === ht) violated('one-spelling', `${show(t)} and ${show(u)} are both accepted but WHATWG resolves both to ${show(ht)}`, { t, u, href: ht });
  },
};

// ---- redact -------------------------------------------------------------------------

const redact = createRedactor({ names: DEFAULT_SECRET_NAMES, values: Object.values(DEFAULT_VALUE_PATTERNS) });
const SECRET_KEYS = ['password', 'apiKey', 'api_key', 'Authorization', 'ＰＡＳＳＷＯＲＤ', 'pass\u200bword', 'client_secret', 'accessToken', 'cookie'];
const SECRET_VALUES = ['Bearer abcdefghijklmnop', 'eyJhbGciOi.eyJzdWIiOi.sig', 'ghp_aaaaaaaaaaaaaaaaaaaaaaaa', 'sk-aaaaaaaaaaaaaaaaaaaaaaaa', '-----BEGIN PRIVATE KEY-----\nx', 'https://u:p@h/'];
const redactTreeArb: fc.Arbitrary<Tree> = fc.letrec<{ t: Tree }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.constantFrom(...SECRET_VALUES).map(lit), fc.string({ maxLength: 10 }).map(lit), fc.constantFrom(1, null, true, 'x').map(lit)),
    fc.array(tie('t'), { maxLength: 3 }).map((items) => ({ t: 'arr' as const, items })),
    fc.array(fc.tuple(fc.oneof(fc.constantFrom(...SECRET_KEYS, 'name', 'key', 'value', '__proto__', 'x'), fc.string({ maxLength: 6 })), tie('t')), { maxLength: 4 }).map(obj),
  ),
})).t;

export const redactTarget: Target<unknown> = {
  name: 'redact',
  about: 'JSON values (secret-looking keys and values, name/value pairs, __proto__, nesting past the depth cap)',
  arb: fc.oneof(
    { weight: 3, arbitrary: redactTreeArb.map((t) => JSON.parse(serialize(t))) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 30, max: 40 }), fc.nat(0xffff)).map(([d, p]) => JSON.parse(serialize(nested(d, p)))) },
  ),
  check(v) {
    let out: unknown;
    try {
      out = redact(v);
    } catch (e) {
      violated('no-throw', `threw ${String(e)} on ${show(v)}`);
    }
    let text: string;
    try {
      text = JSON.stringify(out);
    } catch (e) {
      violated('serialisable', `result cannot be serialised: ${String(e)}`);
    }
    if (!isDeepStrictEqual(redact(JSON.parse(text ?? 'null')), JSON.parse(text ?? 'null'))) violated('idempotent', `redacting twice differs from once: ${show(v)}`);
    for (const s of SECRET_VALUES) if (s.length >= 12 && text !== undefined && text.includes(JSON.stringify(s).slice(1, -1))) violated('values-hidden', `${show(s)} is still in ${show(out)}`);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const k of Object.keys(v)) {
        const x = (v as Record<string, unknown>)[k];
        if (SECRET_KEYS.includes(k) && x !== null && typeof x !== 'boolean' && (out as Record<string, unknown>)[k] !== REDACTED) violated('names-hidden', `key ${show(k)} kept ${show((out as Record<string, unknown>)[k])}`);
      }
    }
  },
};

export const PARSER_TARGETS: AnyTarget[] = [strictJson, jsonRpc, sse, standardHeaders, resourceUri, redactTarget];
