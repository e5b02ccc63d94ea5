// Fuzz targets over the whole exchange: generated ext_proc streams driven through the
// real gRPC server (exchange-harness.ts), and the invariant checker run on each.
import { splitAt } from '../support/chunks.js';
import fc from 'fast-check';
import { serializeSseEvent } from '../../src/mcp/sse.js';
import { referenceSse, jsonRpcBodyArb } from './parsers.js';
import { scan, serialize, styleArb, lit, obj, type Style, type Tree } from './json-text.js';
import { hidden, mcpMessageArb, resolveIds, serverMessageArb, wellFormedMessageArb, whatwgRewrites, type ItemKind } from './mcp-messages.js';
import { msg, runExchange, runRaw, UPSTREAM_SESSION, type ClientView, type Exchange, type Harness, type Headers } from './exchange-harness.js';
import { violated, type Target } from './target.js';
import type { ProcessingRequest } from '../../src/extproc/messages.js';

const show = (v: unknown): string => JSON.stringify(v)?.slice(0, 400) ?? String(v);

// ---- generators ------------------------------------------------------------------

const VERSIONS = ['2025-03-26', '2025-06-18', '2025-11-25', '2026-07-28'];
/** `usual` `weight` times in `weight + 1`, else one of `others`. */
const mostly = <T>(usual: T, weight: number, others: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ weight, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: others });
/** `a` one time in `oneIn`, else undefined. */
const sometimes = <T>(a: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | undefined> => fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: a });

interface RequestSide {
  method: string;
  path: string;
  authority: string;
  version: string | undefined;
  mcpMethod: 'match' | 'mismatch' | 'absent' | 'case';
  mcpName: 'match' | 'base64' | 'mismatch' | 'absent';
  /** Mcp-Session-Id: none, the one the gateway sealed for this caller, or forged/foreign ones. */
  session: 'none' | 'sealed' | 'raw-upstream' | 'forged' | 'other-server';
  extra: Headers;
  body: Buffer | undefined;
  trailers: Headers | undefined;
}

const requestArb: fc.Arbitrary<RequestSide> = fc.record({
  method: mostly('POST', 8, fc.constantFrom('GET', 'GET', 'DELETE', 'OPTIONS', 'PUT', 'HEAD', 'post', 'CONNECT', '')),
  path: mostly('/mcp/s', 12, fc.constantFrom('/mcp/s?x=1', '/mcp/open', '/mcp/nope', '/MCP/s', '/mcp/s/', '', '/.well-known/oauth-protected-resource/mcp/s')),
  authority: mostly('localhost:10000', 15, fc.constantFrom('127.0.0.1:10000', 'evil.example', '')),
  version: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 10, arbitrary: fc.constantFrom(...VERSIONS, '2026-07-28') }, { weight: 1, arbitrary: fc.constantFrom('2099-01-01', '') }),
  mcpMethod: mostly<RequestSide['mcpMethod']>('match', 6, fc.constantFrom('mismatch', 'absent', 'case')),
  session: mostly<RequestSide['session']>('none', 3, fc.constantFrom('sealed', 'sealed', 'sealed', 'raw-upstream', 'forged', 'other-server')),
  mcpName: mostly<RequestSide['mcpName']>('match', 4, fc.constantFrom('base64', 'base64', 'mismatch', 'absent')),
  extra: fc
    .tuple(
      fc.subarray<[string, string]>([
        ['content-type', 'application/json'],
        ['accept', 'application/json, text/event-stream'],
        ['x-mcp-gateway-identity', 'admin'],
        ['cookie', 'a=b'],
        ['accept-encoding', 'gzip'],
        ['traceparent', '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01'],
      ]),
      sometimes(fc.constantFrom<[string, string]>(['origin', 'http://localhost'], ['origin', 'https://evil.example'], ['content-length', '99999999999'], ['content-length', 'abc']), 8),
    )
    .map(([common, rare]) => (rare ? [...common, rare] : common)),
  body: fc.oneof(
    { weight: 12, arbitrary: fc.tuple(wellFormedMessageArb, styleArb).map(([t, st]) => Buffer.from(serialize(t, st))) },
    { weight: 6, arbitrary: jsonRpcBodyArb },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  ),
  trailers: sometimes(fc.constantFrom<Headers>([['authorization', 'Bearer x']], [['x-any', '1'], ['grpc-status', '0']], []), 6),
});

/** A body's method and named target, read as a lenient upstream would (JSON.parse, no strictness). */
function lenientRead(body: Buffer | undefined): { id: unknown; method: string; params: Record<string, unknown> | undefined }[] {
  if (!body) return [];
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return [];
  }
  const out = [];
  for (const m of Array.isArray(v) ? v : [v]) {
    if (m === null || typeof m !== 'object' || typeof (m as Record<string, unknown>).method !== 'string') continue;
    const r = m as Record<string, unknown>;
    out.push({ id: r.id, method: r.method as string, params: r.params !== null && typeof r.params === 'object' ? (r.params as Record<string, unknown>) : undefined });
  }
  return out;
}

/** Stand-in for the sealed session id, which only the running harness knows (see toExchange). */
const SEALED = '\u0000sealed';

function requestHeaders(r: RequestSide): Headers {
  const h: Headers = [[':method', r.method], [':path', r.path], [':authority', r.authority], ['x-request-id', 'fuzz']];
  if (r.session !== 'none') h.push(['mcp-session-id', { sealed: SEALED, 'raw-upstream': UPSTREAM_SESSION, forged: 'v1.zzzz.dXAtMQ.AAAA.BBBB', 'other-server': `${SEALED}:open` }[r.session]]);
  if (r.version !== undefined) h.push(['mcp-protocol-version', r.version]);
  const m = lenientRead(r.body)[0];
  if (m && r.mcpMethod !== 'absent') h.push(['mcp-method', r.mcpMethod === 'match' ? m.method : r.mcpMethod === 'case' ? m.method.toUpperCase() : m.method === 'ping' ? 'tools/list' : 'ping']);
  const name = m?.params?.name ?? m?.params?.uri;
  if (typeof name === 'string' && r.mcpName !== 'absent') {
    const v = r.mcpName === 'match' ? name : r.mcpName === 'base64' ? `=?base64?${Buffer.from(name).toString('base64')}?=` : 'echo';
    h.push(['mcp-name', /^[\x20-\x7e]*$/.test(v) ? v : `=?base64?${Buffer.from(v).toString('base64')}?=`]);
  }
  return [...h, ...r.extra];
}

interface ResponseSide {
  status: string;
  contentType: string | undefined;
  encoding: string | undefined;
  sessionId: boolean;
  kind: 'json' | 'sse' | 'raw';
  messages: Tree[];
  batch: boolean;
  style: Style;
  sseOptions: { eol: string; splitData: boolean; comments: boolean; ids: boolean; bom: boolean; junk: boolean; noFinalBlank: boolean };
  cuts: number[];
}

/** 'dual': two Content-Type headers (Envoy sends both; the client sees them joined with ", "). */
const CONTENT_TYPES = ['dual', 'application/json', 'text/event-stream', 'text/event-stream; charset=utf-8', 'application/json; charset=utf-8', 'application/json; profile="text/event-stream"', 'TEXT/EVENT-STREAM', 'Application/JSON', 'application/json, text/event-stream', 'text/plain', 'application/octet-stream', ' text/event-stream', ''];

const responseArb: fc.Arbitrary<ResponseSide> = (() => {
  return fc.record({
    status: fc.constantFrom('200', '200', '200', '200', '200', '202', '204', '299', '300', '400', '500', '200 ', 'abc', ''),
    // 'match': the type that fits the body; otherwise an odd one, or none.
    contentType: fc.oneof({ weight: 6, arbitrary: fc.constant('match') }, { weight: 3, arbitrary: fc.constantFrom(...CONTENT_TYPES) }, { weight: 1, arbitrary: fc.constant(undefined) }),
    encoding: sometimes(fc.constantFrom('gzip', 'identity', ' Identity ', 'br', 'x'), 8),
    sessionId: fc.boolean(),
    kind: fc.constantFrom('json', 'sse', 'sse', 'raw'),
    messages: fc.array(serverMessageArb, { minLength: 1, maxLength: 4 }),
    batch: fc.boolean(),
    style: styleArb,
    sseOptions: fc.record({ eol: fc.constantFrom('\n', '\r\n', '\r'), splitData: fc.boolean(), comments: fc.boolean(), ids: fc.boolean(), bom: fc.boolean(), junk: fc.boolean(), noFinalBlank: fc.boolean() }),
    cuts: fc.array(fc.nat(), { maxLength: 6 }),
  });
})();

function responseBytes(r: ResponseSide): Buffer {
  if (r.kind === 'raw') return Buffer.from(`tools: ${serialize(r.messages[0]!)} not json`);
  if (r.kind === 'json') return Buffer.from(r.batch ? serialize({ t: 'arr', items: r.messages }, r.style) : serialize(r.messages[0]!, r.style));
  const o = r.sseOptions;
  let out = o.bom ? '\ufeff' : '';
  r.messages.forEach((m, i) => {
    if (o.comments) out += `: keep-alive${o.eol}`;
    let data = serialize(m, r.style);
    if (o.splitData) data = data.replace(/,/g, ',\n'); // data split over lines stays JSON once joined with "\n"
    const ev = serializeSseEvent({ event: 'message', data, ...(o.ids && { id: `e${i}` }) });
    out += ev.replace(/\n/g, o.eol);
    if (o.junk && i === 0) out += `data: {"tools": [ not json${o.eol}${o.eol}`;
  });
  if (o.noFinalBlank) out = out.slice(0, -o.eol.length);
  return Buffer.from(out);
}

/** Chunks as Envoy may send them; an empty chunk only as the last one (end of stream). */
function cut(b: Buffer, cuts: readonly number[]): Buffer[] {
  const out = splitAt(b, cuts);
  return out.filter((c, i) => c.length > 0 || i === out.length - 1);
}

export interface ExchangeInput {
  request: RequestSide;
  response: ResponseSide;
  localReply: string | undefined;
}

export const exchangeArb: fc.Arbitrary<ExchangeInput> = fc.record({
  request: requestArb,
  response: responseArb,
  localReply: sometimes(fc.constantFrom('400', '413', '426', '431', 'x'), 20),
});

export function toExchange(x: ExchangeInput, h?: Harness): Exchange {
  const own = lenientRead(x.request.body)[0]?.id ?? 1;
  const r = { ...x.response, messages: x.response.messages.map((m) => resolveIds(m, own)) };
  const rh: Headers = [[':status', r.status]];
  if (r.contentType === 'dual') rh.push(['content-type', 'application/json'], ['content-type', 'text/event-stream']);
  else if (r.contentType !== undefined) rh.push(['content-type', r.contentType === 'match' ? (r.kind === 'json' ? 'application/json' : 'text/event-stream') : r.contentType]);
  if (r.encoding !== undefined) rh.push(['content-encoding', r.encoding]);
  if (r.sessionId) rh.push(['mcp-session-id', UPSTREAM_SESSION]);
  const body = responseBytes(r);
  const sealed = h?.sealedSession ?? 'unsealed';
  return {
    requestHeaders: requestHeaders(x.request).map(([k, v]): [string, string] => [k, v === SEALED ? sealed : v === `${SEALED}:open` ? h?.sealedOpen ?? 'x' : v]),
    requestBody: x.request.body,
    requestTrailers: x.request.trailers,
    localReply: x.localReply === undefined ? undefined : [[':status', x.localReply]],
    responseHeaders: rh,
    responseChunks: r.kind === 'sse' ? cut(body, r.cuts) : [body],
  };
}

// ---- the invariant checker ------------------------------------------------------

const LISTS: [string, string, ItemKind][] = [
  ['tools', 'name', 'tool'],
  ['prompts', 'name', 'prompt'],
  ['resources', 'uri', 'resource'],
  ['resourceTemplates', 'uriTemplate', 'resource'],
];

const LIST_OF: Record<string, string> = { 'tools/list': 'tools', 'prompts/list': 'prompts', 'resources/list': 'resources', 'resources/templates/list': 'resourceTemplates' };

/**
 * Hidden items in positions a client reads as list items or resource notifications. The
 * answer to the exchange's own request (same id, same type) is read as that request's
 * result: only its own list key counts (a tools/call result's stray "tools" is ignored by
 * the client's schema). Any other answer may be matched to some other pending request
 * (clients compare ids loosely), so every list key counts.
 */
function leaks(value: unknown, own?: { id: unknown; method: string }): string[] {
  const out: string[] = [];
  for (const m of Array.isArray(value) ? value : [value]) {
    if (m === null || typeof m !== 'object') continue;
    const r = m as Record<string, unknown>;
    if (r.method === 'notifications/resources/updated') {
      const uri = (r.params as Record<string, unknown> | undefined)?.uri;
      if (typeof uri === 'string' && hidden('resource', uri)) out.push(`resources/updated ${uri}`);
    }
    const result = r.result;
    if (result === null || typeof result !== 'object') continue;
    const isOwn = own !== undefined && typeof r.id === typeof own.id && r.id === own.id;
    for (const [key, itemKey, kind] of LISTS) {
      if (isOwn && LIST_OF[own.method] !== key) continue;
      const items = (result as Record<string, unknown>)[key];
      if (!Array.isArray(items)) continue;
      for (const it of items) {
        const name = it !== null && typeof it === 'object' ? (it as Record<string, unknown>)[itemKey] : undefined;
        if (typeof name === 'string' && hidden(kind, name)) out.push(`${key}: ${name}`);
      }
    }
  }
  return out;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Every JSON value the client could read from the body, by how it reads the content type. */
function clientValues(view: ClientView): unknown[] {
  const ct = (view.contentType ?? '').toLowerCase();
  const text = new TextDecoder().decode(view.body);
  const sse = () => referenceSse(view.body).filter((e) => e.hasData).map((e) => tryJson(e.data));
  // The SDK reads SSE when "text/event-stream" appears anywhere; JSON when application/json does.
  if (ct.includes('text/event-stream')) return sse();
  if (ct.includes('application/json')) return [tryJson(text)];
  return [tryJson(text), ...sse()]; // anything else: a lenient client might read either
}

const NAMED: Record<string, [ItemKind, string]> = { 'tools/call': ['tool', 'name'], 'prompts/get': ['prompt', 'name'], 'resources/read': ['resource', 'uri'], 'resources/subscribe': ['resource', 'uri'], 'resources/unsubscribe': ['resource', 'uri'] };

/** The hidden item a (lenient) upstream would act on for this message, if any. */
function hiddenTarget(m: { method: string; params: Record<string, unknown> | undefined }): string | undefined {
  const method = m.method.normalize('NFKC').replace(/\u200b/g, '').trim().toLowerCase();
  const named = NAMED[method];
  if (named) {
    const v = m.params?.[named[1]];
    return typeof v === 'string' && hidden(named[0], v) ? `${method} ${v}` : undefined;
  }
  if (method === 'completion/complete') {
    const ref = m.params?.ref as Record<string, unknown> | undefined;
    if (ref?.type === 'ref/prompt' && typeof ref.name === 'string' && hidden('prompt', ref.name)) return `completion of prompt ${ref.name}`;
    if (ref?.type === 'ref/resource' && typeof ref.uri === 'string' && hidden('resource', ref.uri)) return `completion of resource ${ref.uri}`;
  }
  return undefined;
}

/** Whether the body is one JSON-RPC object by the strict rules (reference, not the gateway's code). */
function strictlyValid(body: Buffer): boolean {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    return false;
  }
  const v = tryJson(text);
  if (v === undefined || text.charCodeAt(0) === 0xfeff) return false;
  const s = scan(text);
  if (s.duplicate || s.depth > 64) return false;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const m = v as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return false;
  if (m.method !== undefined) return typeof m.method === 'string' && m.method !== '' && m.result === undefined && m.error === undefined && (m.params === undefined || (m.params !== null && typeof m.params === 'object' && !Array.isArray(m.params)));
  return m.id !== undefined && m.params === undefined && (m.result === undefined) !== (m.error === undefined);
}

const isId = (v: unknown): boolean => typeof v === 'string' || Number.isSafeInteger(v);
const METADATA = '/.well-known/oauth-protected-resource';

export function checkExchange(x: ExchangeInput, ex: Exchange, view: ClientView): void {
  const req = x.request;
  const ctx = () => `\n  request: ${req.method} ${req.path} body ${show(req.body?.toString('utf8'))}\n  replies: ${show(view.replies.map((r) => r.phase + ':' + Object.keys(r.reply).join('+')))}`;
  // 1. No crash: in-order input never fails the stream.
  if (view.error) violated('no-grpc-error', `stream failed with ${view.error.code} ${view.error.details} on in-order input${ctx()}`);
  // 2. Exactly one audit event for the exchange (plus one per server message dropped or filtered).
  const own = view.events.filter((e) => e.type !== 'mcp.server_message');
  const path = req.path.split('?')[0]!;
  const unaudited = x.localReply === undefined && (path.startsWith(METADATA) || (req.method === 'OPTIONS' && !view.immediate));
  if (unaudited ? own.length > 1 : own.length !== 1) violated('one-audit-event', `${own.length} audit events (${own.map((e) => `${e.type}/${e.reason}`).join(', ')})${ctx()}`);
  if (x.localReply !== undefined) {
    if (own[0]?.type !== 'http.local_reply') violated('local-reply', `a local reply audited as ${own[0]?.type}`);
    return;
  }
  // 3. Every immediate response is a JSON-RPC error (the RFC 9728 metadata documents are not MCP).
  if (view.immediate && !path.startsWith(METADATA)) {
    const b = tryJson(view.immediate.body) as Record<string, unknown> | undefined;
    const err = b?.error as Record<string, unknown> | undefined;
    if (b?.jsonrpc !== '2.0' || !err || !Number.isInteger(err.code) || typeof err.message !== 'string' || !('id' in b)) violated('refusal-is-jsonrpc-error', `immediate response body ${show(view.immediate.body)}${ctx()}`);
    if (view.immediate.contentType !== 'application/json') violated('refusal-is-jsonrpc-error', `immediate response content-type ${show(view.immediate.contentType)}`);
  }
  const body = req.body;
  const posted = req.method === 'POST' && body !== undefined && body.length > 0 && (path === '/mcp/s' || path === '/mcp/open');
  // 4. An invalid body is refused with a JSON-RPC error, with its id when that is known.
  if (posted && !strictlyValid(body) && view.requestForwarded) violated('invalid-body-refused', `an invalid body reached the upstream: ${show(body.toString('latin1'))}${ctx()}`);
  if (posted && view.immediate?.phase === 'request_body') {
    const text = body.toString('utf8');
    const v = tryJson(text) as Record<string, unknown> | undefined;
    const known = v !== null && typeof v === 'object' && !Array.isArray(v) && isId(v.id) && v.method !== undefined && text.charCodeAt(0) !== 0xfeff && scan(text).topLevelIds === 1 && Buffer.from(text, 'utf8').equals(body);
    const got = (tryJson(view.immediate.body) as Record<string, unknown> | undefined)?.id;
    if (known && got !== v.id) violated('refusal-carries-id', `refusal id ${show(got)}, request id ${show(v.id)}: ${show(text)}${ctx()}`);
  }
  // 5. Nothing hidden is called, read or got upstream, in any spelling JSON.parse decodes.
  if (view.requestForwarded && path === '/mcp/s' && req.method === 'POST') {
    for (const m of lenientRead(body)) {
      const t = hiddenTarget(m);
      const uri = m.params?.uri ?? (m.params?.ref as Record<string, unknown> | undefined)?.uri;
      if (t) violated('no-hidden-call', `${t} reached the upstream: ${show(body?.toString('utf8'))}${ctx()}`, { method: m.method, exactMethod: m.method in NAMED || m.method === 'completion/complete', uriRewritten: typeof uri === 'string' && whatwgRewrites(uri) });
    }
    // 2026-07-28: Mcp-Method must agree with the body.
    if (body && strictlyValid(body) && req.version === '2026-07-28' && req.mcpMethod !== 'match') {
      const m = lenientRead(body)[0];
      if (m && m.id !== undefined) violated('standard-headers', `Mcp-Method ${req.mcpMethod} passed for ${m.method}${ctx()}`);
    }
  }
  // GET, DELETE and OPTIONS carry no body in the MCP transport: one that has a body is refused.
  const served = path === '/mcp/s' || path === '/mcp/open';
  if (served && ['GET', 'DELETE', 'OPTIONS'].includes(req.method) && body !== undefined && body.length > 0 && view.requestForwarded) violated('bodyless-methods', `a ${req.method} with a ${body.length}-byte body reached the upstream${ctx()}`);
  // Sessions: the client only ever sees sealed ids; the upstream only ever gets the id it issued,
  // and only from the caller it was sealed for (on this server).
  if (view.clientSession === UPSTREAM_SESSION) violated('session-sealed', `the client got the upstream's raw session id${ctx()}`);
  if (view.requestForwarded && served && req.session !== 'none') {
    // A CORS preflight has no session: the gateway removes whatever id it carries.
    const opened = req.method !== 'OPTIONS' && ((req.session === 'sealed' && path === '/mcp/s') || (req.session === 'other-server' && path === '/mcp/open'));
    const expected = opened ? UPSTREAM_SESSION : undefined;
    if (view.upstreamSession !== expected) violated('session-bound', `${req.method} with session ${req.session} on ${path}: the upstream got ${show(view.upstreamSession)}, expected ${show(expected)}${ctx()}`, { method: req.method });
  }
  if (view.trailersKept) violated('trailers-removed', `request trailers kept: ${view.trailersKept.join(', ')}`);
  // 6. No hidden item reaches the client.
  if (view.immediate) {
    const l = leaks(tryJson(view.immediate.body));
    if (l.length) violated('no-hidden-item-out', `immediate response shows ${l.join('; ')}`);
  }
  const status = Number(view.status);
  const clientReads = path === '/mcp/s' && (req.method === 'POST' || req.method === 'GET') && status >= 200 && status < 300 && view.status !== undefined && view.status.trim() === view.status;
  if (clientReads && view.body.length) {
    const sent = lenientRead(body)[0];
    const own = sent && sent.id !== undefined ? { id: sent.id, method: sent.method } : undefined;
    for (const v of clientValues(view)) {
      const l = leaks(v, own);
      if (l.length) violated('no-hidden-item-out', `the client reads ${l.join('; ')}\n  sent: ${show(ex.responseChunks.map((c) => Buffer.from(c).toString('utf8')))}\n  client got (${view.contentType}): ${show(view.body.toString('utf8'))}${ctx()}`, { leaks: l, uriRewritten: l.every((x) => whatwgRewrites(x.slice(x.indexOf(' ') + 1))) });
    }
  }
}

/** A plain exchange that must work after anything: the server is still serving. */
export async function sanity(h: Harness): Promise<void> {
  const list = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'echo' }, { name: 'secret-x' }] } });
  const view = await runExchange(h, {
    requestHeaders: [[':method', 'POST'], [':path', '/mcp/s'], [':authority', 'localhost:10000']],
    requestBody: Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/list"}'),
    requestTrailers: undefined,
    localReply: undefined,
    responseHeaders: [[':status', '200'], ['content-type', 'application/json']],
    responseChunks: [Buffer.from(list)],
  });
  const got = tryJson(view.body.toString()) as { result?: { tools?: { name: string }[] } } | undefined;
  if (view.error || view.events.length !== 1 || JSON.stringify(got?.result?.tools) !== '[{"name":"echo"}]') violated('still-serving', `the sanity exchange failed: ${show({ error: view.error?.message, events: view.events.length, body: view.body.toString() })}`);
}

export function exchangeTarget(h: () => Harness): Target<ExchangeInput> {
  return {
    name: 'exchange',
    about: 'whole exchanges in Envoy order: request headers, body, trailers, local replies, response headers and bodies (JSON, SSE in random chunks) with hidden items under own/other/twin ids',
    arb: exchangeArb,
    async: true,
    async check(x) {
      const ex = toExchange(x, h());
      const view = await runExchange(h(), ex);
      checkExchange(x, ex, view);
    },
  };
}

// ---- out-of-order streams ---------------------------------------------------------

const anyMessageArb: fc.Arbitrary<ProcessingRequest> = fc.oneof(
  fc.tuple(fc.constantFrom<Headers>([[':method', 'POST'], [':path', '/mcp/s'], [':authority', 'localhost:10000']], [[':method', 'GET'], [':path', '/mcp/s'], [':authority', 'localhost:10000']], [[':method', 'OPTIONS'], [':path', '/mcp/s'], [':authority', 'localhost:10000']], []), fc.boolean()).map(([h, e]) => msg.requestHeaders(h, e)),
  fc.tuple(fc.oneof(mcpMessageArb.map((t) => Buffer.from(serialize(t))), fc.constant(Buffer.alloc(0))), fc.boolean()).map(([b, e]) => msg.requestBody(b, e)),
  fc.constant(msg.requestTrailers([['x', '1']])),
  fc.tuple(fc.constantFrom<Headers>([[':status', '200'], ['content-type', 'text/event-stream']], [[':status', '200'], ['content-type', 'application/json']], [[':status', '503']], []), fc.boolean()).map(([h, e]) => msg.responseHeaders(h, e)),
  fc.tuple(fc.constantFrom('data: {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"secret-x"}]}}\n\n', '{"tools":[]}', ''), fc.boolean()).map(([b, e]) => msg.responseBody(Buffer.from(b), e)),
  fc.constant(msg.responseTrailers([])),
  fc.constant({} as ProcessingRequest),
);

export function disorderTarget(h: () => Harness): Target<ProcessingRequest[]> {
  return {
    name: 'exchange-disorder',
    about: 'ext_proc messages in any order (phases repeated, skipped, responses before requests, empty messages)',
    arb: fc.array(anyMessageArb, { minLength: 1, maxLength: 6 }),
    async: true,
    async check(reqs) {
      const r = await runRaw(h(), reqs);
      // A gRPC error only as the adapter's answer to out-of-order input, never another exception.
      if (r.error && !/^mcp-gateway: (unexpected |A POST)/.test(r.error.details)) violated('only-phase-errors', `stream failed with ${show(r.error.details)} on ${show(reqs.map((q) => Object.keys(q).join('+')))}`);
      const own = r.events.filter((e) => e.type !== 'mcp.server_message');
      const at = reqs.findIndex((q) => q.request_headers !== undefined);
      const method = reqs[at]?.request_headers?.headers?.headers?.find((x) => x.key === ':method')?.raw_value?.toString('latin1');
      // A CORS preflight that is let through is not audited (src/gateway/exchange.ts, by design).
      const optionsOrMeta = method === 'OPTIONS' && r.replies[at] !== undefined && r.replies[at]!.immediate_response === undefined;
      if (optionsOrMeta ? own.length > 1 : own.length !== 1) violated('one-audit-event', `${own.length} audit events for ${show(reqs.map((q) => Object.keys(q).join('+')))}: ${own.map((e) => `${e.type}/${e.reason}`).join(', ')}`);
    },
  };
}


/** What a replay changes in a plain POST (test/fuzz/known-bugs.ts minimal inputs). */
export interface PlainRequest {
  body: string;
  method?: string;
  session?: RequestSide['session'];
}

/** A plain POST to the curated server with this body, answered by a small JSON tool result (for replays). */
export function plainExchange(r: PlainRequest): ExchangeInput {
  return {
    request: { method: r.method ?? 'POST', path: '/mcp/s', authority: 'localhost:10000', version: undefined, mcpMethod: 'absent', mcpName: 'absent', session: r.session ?? 'none', extra: [], body: Buffer.from(r.body), trailers: undefined },
    response: {
      status: '200',
      contentType: 'match',
      encoding: undefined,
      sessionId: false,
      kind: 'json',
      messages: [obj([['jsonrpc', lit('2.0')], ['id', lit(1)], ['result', obj([['content', { t: 'arr', items: [] }]])]])],
      batch: false,
      style: { escape: 0, ws: [''], seed: 1 },
      sseOptions: { eol: '\n', splitData: false, comments: false, ids: false, bom: false, junk: false, noFinalBlank: false },
      cuts: [],
    },
    localReply: undefined,
  };
}
