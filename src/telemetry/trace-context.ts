// The caller's W3C trace context (https://www.w3.org/TR/trace-context/), from the HTTP
// `traceparent`/`tracestate` headers and from the message's `params._meta` (where the
// OpenTelemetry MCP conventions and the 2026-07-28 spec put it). Attacker input: anything
// that is not exactly valid is treated as absent, never repaired.

export interface RemoteContext {
  /** 32 lower-case hex digits, not all zero. */
  traceId: string;
  /** 16 lower-case hex digits, not all zero. */
  spanId: string;
  /** The trace-flags byte (bit 0: sampled). */
  flags: number;
  /** The caller's vendor entries, when valid (an invalid tracestate is dropped, the traceparent kept). */
  traceState: string | undefined;
}

const HEX2 = /^[0-9a-f]{2}$/;
const VERSION_00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
// A later version must start like version 00 and may only add fields after a "-".
const FUTURE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** Longer than any sensible header: not even looked at. */
const MAX_TRACEPARENT = 256;
const MAX_TRACESTATE = 512;
const MAX_MEMBERS = 32;
// key = simple-key / tenant@system; value = printable ASCII without "," and "=", no trailing space.
const MEMBER = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/** A later version's first three fields (version ff is forbidden; 00 must be exactly 55 characters, matched before). */
function futureFields(value: string): string[] | undefined {
  const m = FUTURE.exec(value);
  return !m || m[1] === 'ff' || m[1] === '00' ? undefined : [m[2]!, m[3]!, m[4]!];
}

/** The parts of a traceparent value, or undefined unless it is exactly valid. */
export function parseTraceparent(value: unknown): Omit<RemoteContext, 'traceState'> | undefined {
  if (typeof value !== 'string' || value.length < 55 || value.length > MAX_TRACEPARENT) return undefined;
  const v00 = VERSION_00.exec(value);
  const m = v00 ? [v00[1], v00[2], v00[3]] : futureFields(value);
  if (!m) return undefined;
  const [traceId, spanId, flags] = m as [string, string, string];
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN || !HEX2.test(flags)) return undefined;
  return { traceId, spanId, flags: parseInt(flags, 16) };
}

/**
 * A tracestate value with its list members checked, or undefined (absent or invalid:
 * the spec has an invalid tracestate dropped, not passed on). Empty members (",,") are allowed.
 */
export function parseTracestate(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TRACESTATE) return undefined;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const raw of value.split(',')) {
    const member = raw.trim();
    if (member === '') continue;
    if (!MEMBER.test(member)) return undefined;
    const key = member.slice(0, member.indexOf('='));
    if (keys.has(key)) return undefined;
    keys.add(key);
    members.push(member);
  }
  if (members.length === 0 || members.length > MAX_MEMBERS) return undefined;
  return members.join(',');
}

function contextOf(traceparent: unknown, tracestate: unknown): RemoteContext | undefined {
  const p = parseTraceparent(traceparent);
  return p && { ...p, traceState: parseTracestate(tracestate) };
}

/** The context in the HTTP headers (lower-cased names; a repeated traceparent, joined with ",", is invalid). */
export function headerContext(headers: Readonly<Record<string, string>>): RemoteContext | undefined {
  const tp = headers['traceparent'];
  return tp === undefined ? undefined : contextOf(tp, headers['tracestate']);
}

/** The context in a message's `params._meta` (`traceparent`, `tracestate` string fields). */
export function metaContext(params: unknown): RemoteContext | undefined {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) return undefined;
  const meta = (params as Record<string, unknown>)['_meta'];
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return undefined;
  const m = meta as Record<string, unknown>;
  // Own properties only: a "__proto__" key in the JSON is data, not a prototype.
  if (!Object.prototype.hasOwnProperty.call(m, 'traceparent')) return undefined;
  return contextOf(m['traceparent'], Object.prototype.hasOwnProperty.call(m, 'tracestate') ? m['tracestate'] : undefined);
}

export interface CallerContext {
  /** The span's remote parent. */
  parent: RemoteContext | undefined;
  /** The other context, when both are present and differ: recorded as a span link. */
  link: RemoteContext | undefined;
  /** The raw `_meta.traceparent`, when it is the parent. */
  metaTraceparent: string | undefined;
}

/**
 * Precedence, as the OpenTelemetry MCP conventions have it: the message's `_meta` context
 * is the parent (one MCP request may travel over several HTTP requests, and a proxy's HTTP
 * span may sit between); the HTTP header's context, when it is another one, is a link.
 * Without a valid `_meta` context the header's is the parent.
 */
export function callerContext(headers: Readonly<Record<string, string>>, params: unknown): CallerContext {
  const http = headerContext(headers);
  const meta = params === undefined ? undefined : metaContext(params);
  if (!meta) return { parent: http, link: undefined, metaTraceparent: undefined };
  const same = http !== undefined && http.traceId === meta.traceId && http.spanId === meta.spanId;
  return { parent: meta, link: same ? undefined : http, metaTraceparent: (params as { _meta: { traceparent: string } })._meta.traceparent };
}

/** A traceparent header value for a span context (version 00). */
export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${(flags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * The request body with the caller's `params._meta.traceparent` value replaced by the
 * gateway's, so an upstream that follows the conventions (the `_meta` context first)
 * parents its spans on the gateway's span too. A splice of the raw bytes, not a re-encode:
 * only when the old value appears exactly once, as a plain JSON string of the same length
 * (any escape, a repeat or another length: undefined, and the body goes on unchanged), and
 * the result is checked to have changed `_meta`'s value and nothing else.
 */
export function replaceMetaTraceparent(body: Uint8Array, oldValue: string, newValue: string): Uint8Array | undefined {
  if (oldValue.length !== newValue.length) return undefined;
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const needle = Buffer.from(`"${oldValue}"`, 'latin1');
  const at = buf.indexOf(needle);
  if (at === -1 || buf.indexOf(needle, at + 1) !== -1) return undefined;
  const out = Buffer.from(buf);
  out.write(newValue, at + 1, 'latin1');
  // The one occurrence must have been _meta's (not, say, a tool argument while _meta's value was escaped).
  try {
    const meta = (JSON.parse(out.toString('utf8')) as { params?: { _meta?: { traceparent?: unknown } } }).params?._meta;
    return meta?.traceparent === newValue ? out : undefined;
  } catch {
    return undefined;
  }
}
