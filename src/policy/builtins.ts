// Builtins that `opa build -t wasm` leaves to the host SDK, supplied here.
//
// OPA compiles most builtins into the WASM module itself (strings, regex.match,
// glob.match, net.cidr_*, json.*, base64, object.*, …). The rest are imported: the
// module lists them in its `builtins()` export, and @open-policy-agent/opa-wasm
// implements only a few (SDK_BUILTINS). Of the remainder, those a gateway policy
// commonly needs are provided here, with OPA's semantics (checked against the real
// `opa eval` in test/unit/policy-builtins.test.ts). A bundle that needs anything
// else is refused at load, with the list, rather than failing on some request.
//
// As in OPA (non-strict mode), a builtin given bad input makes its expression
// undefined: it returns undefined here and never throws.
//
// Integers wider than 2^53 (nanosecond timestamps) are handed back to the policy as
// exact JSON text; arguments arrive through JSON.parse, so a nanosecond argument is
// read as a double (within 256 ns today), which no date, clock or weekday can notice.
import { createHash } from 'node:crypto';

/** Builtins @open-policy-agent/opa-wasm 1.10 implements itself (its src/builtins), which it consults first. */
export const SDK_BUILTINS: ReadonlySet<string> = new Set(['json.is_valid', 'sprintf', 'regex.split', 'yaml.is_valid', 'yaml.marshal', 'yaml.unmarshal']);

export type BuiltinImpl = (...args: unknown[]) => unknown;

export interface GatewayBuiltins {
  /** Name → implementation, for opa-wasm's customBuiltins. */
  readonly impls: Readonly<Record<string, BuiltinImpl>>;
  /** Call before each evaluation: time.now_ns() is constant within one evaluation, as in OPA. */
  beginEvaluation(): void;
}

const encoder = new TextEncoder();
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const NS_PER_MS = 1_000_000n;
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'] as const;

/** An integer as exact JSON text: opa-wasm passes an ArrayBuffer result to the policy verbatim. */
function exactInt(n: bigint): ArrayBuffer {
  const bytes = encoder.encode(n.toString());
  return bytes.buffer.byteLength === bytes.byteLength ? bytes.buffer : bytes.slice().buffer;
}

/** @param clockMs wall-clock milliseconds since the epoch (Date.now by default; tests pass a fixed one). */
export function createGatewayBuiltins(clockMs: () => number = Date.now): GatewayBuiltins {
  let now: ArrayBuffer | undefined;
  const impls: Record<string, BuiltinImpl> = {
    'time.now_ns': () => (now ??= exactInt(BigInt(Math.trunc(clockMs())) * NS_PER_MS)),
    'time.parse_rfc3339_ns': (s) => {
      const ns = typeof s === 'string' ? parseRfc3339(s) : undefined;
      return ns === undefined ? undefined : exactInt(ns);
    },
    'time.parse_duration_ns': (s) => {
      const ns = typeof s === 'string' ? parseGoDuration(s) : undefined;
      return ns === undefined ? undefined : exactInt(ns);
    },
    'time.date': (x) => {
      const p = zonedTime(x)?.parts;
      return p && [p.year, p.month, p.day];
    },
    'time.clock': (x) => {
      const p = zonedTime(x)?.parts;
      return p && [p.hour, p.minute, p.second];
    },
    'time.weekday': (x) => zonedTime(x)?.parts.weekday,
    'time.add_date': (x, years, months, days) => {
      if (!isInt(years) || !isInt(months) || !isInt(days)) return undefined;
      const t = zonedTime(x);
      if (!t) return undefined;
      const p = t.parts;
      // Go's AddDate: the same wall-clock time, the date moved and normalized (Oct 31 + 1 month = Dec 1).
      const wall = utcWall(p.year + years, p.month - 1 + months, p.day + days, p.hour, p.minute, p.second) + t.msInSecond;
      const instant = t.zone === undefined ? wall : wallToInstant(t.zone, wall);
      if (!Number.isFinite(instant)) return undefined;
      const out = BigInt(instant) * NS_PER_MS + BigInt(Math.round(t.subMsNs));
      return out < INT64_MIN || out > INT64_MAX ? undefined : exactInt(out);
    },
    'strings.any_prefix_match': (search, base) => anyMatch(search, base, (s, b) => s.startsWith(b)),
    'strings.any_suffix_match': (search, base) => anyMatch(search, base, (s, b) => s.endsWith(b)),
    'strings.count': (search, sub) => {
      if (typeof search !== 'string' || typeof sub !== 'string') return undefined;
      // Go's strings.Count: non-overlapping; an empty substring counts rune boundaries.
      if (sub === '') return [...search].length + 1;
      let n = 0;
      for (let i = search.indexOf(sub); i !== -1; i = search.indexOf(sub, i + sub.length)) n++;
      return n;
    },
    'crypto.sha256': (s) => (typeof s === 'string' ? createHash('sha256').update(s, 'utf8').digest('hex') : undefined),
  };
  for (const name of Object.keys(impls)) {
    const f = impls[name]!;
    impls[name] = (...args) => {
      try {
        return f(...args);
      } catch {
        return undefined; // OPA (non-strict): a builtin error makes the expression undefined.
      }
    };
  }
  return {
    impls,
    beginEvaluation: () => {
      now = undefined;
    },
  };
}

/** Names of every builtin this module provides. */
export const GATEWAY_BUILTIN_NAMES: readonly string[] = Object.keys(createGatewayBuiltins().impls);

function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x);
}

function stringsOf(x: unknown): string[] | undefined {
  if (typeof x === 'string') return [x];
  if (!Array.isArray(x)) return undefined; // sets arrive as arrays
  for (const s of x) if (typeof s !== 'string') return undefined;
  return x as string[];
}

function anyMatch(search: unknown, base: unknown, match: (s: string, b: string) => boolean): boolean | undefined {
  const ss = stringsOf(search);
  const bs = stringsOf(base);
  if (!ss || !bs) return undefined;
  return ss.some((s) => bs.some((b) => match(s, b)));
}

// ---- RFC 3339 (Go's time.Parse(time.RFC3339, s)) ----------------------------------

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

function parseRfc3339(s: string): bigint | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMin = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 24 || om > 60) return undefined; // Go's bounds
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  // Go reads at most nine fractional digits and ignores the rest.
  const frac = BigInt((m[7] ?? '').slice(0, 9).padEnd(9, '0'));
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute - offsetMin, second, 0);
  const ns = BigInt(d.getTime()) * NS_PER_MS + frac;
  return ns < INT64_MIN || ns > INT64_MAX ? undefined : ns; // OPA: "time outside of valid range" (1678..2262)
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeap(year) ? 1 : 0);
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

// ---- Go durations (time.ParseDuration) --------------------------------------------

const HOUR_NS = 3_600_000_000_000n;
// Go's units plus the d, w and y (24 h, 7 d, 365 d) that OPA accepts.
const UNIT_NS: Readonly<Record<string, bigint>> = { ns: 1n, us: 1000n, 'µs': 1000n, 'μs': 1000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: HOUR_NS, d: 24n * HOUR_NS, w: 168n * HOUR_NS, y: 8760n * HOUR_NS };
const DURATION_PART = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h|d|w|y)/;

function parseGoDuration(input: string): bigint | undefined {
  let s = input;
  let negative = false;
  if (s[0] === '-' || s[0] === '+') {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') return undefined;
  let total = 0n;
  while (s !== '') {
    const m = DURATION_PART.exec(s);
    if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) return undefined;
    const unit = UNIT_NS[m[3]!]!;
    let v = BigInt(m[1] || '0') * unit;
    const frac = m[2] ?? '';
    if (frac !== '') {
      // As Go: the fraction is scaled in floating point and truncated.
      v += BigInt(Math.trunc(Number(frac) * (Number(unit) / 10 ** frac.length)));
    }
    total += v;
    if (total > INT64_MAX + (negative ? 1n : 0n)) return undefined;
    s = s.slice(m[0].length);
  }
  return negative ? -total : total;
}

// ---- time zones (time.date / time.clock / time.weekday) -----------------------------

interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: string;
}

// Formatters per zone name, bounded: zone names can come from the input.
const formatters = new Map<string, Intl.DateTimeFormat | null>();
const MAX_FORMATTERS = 64;

/** A formatter for an IANA zone (or "Local"); null when Go's time.LoadLocation would refuse the name. */
function formatterFor(tz: string): Intl.DateTimeFormat | null {
  let f = formatters.get(tz);
  if (f !== undefined) return f;
  try {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz === 'Local' ? undefined : tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'long',
    });
    // Intl matches zone names case-insensitively; Go's zoneinfo lookup does not ("utc", "europe/berlin").
    const resolved = f.resolvedOptions().timeZone;
    if (tz !== 'Local' && resolved !== tz && resolved.toLowerCase() === tz.toLowerCase()) f = null;
  } catch {
    f = null; // unknown zone
  }
  if (formatters.size < MAX_FORMATTERS) formatters.set(tz, f);
  return f;
}

interface ZonedTime {
  parts: Parts;
  /** undefined for UTC. */
  zone: Intl.DateTimeFormat | undefined;
  /** Milliseconds within the second, and nanoseconds within the millisecond. */
  msInSecond: number;
  subMsNs: number;
}

const TWO_63 = 2 ** 63;

/** OPA's tzTime operand: nanoseconds since the epoch, or `[ns, zone(, layout)]`, zone "", "UTC", "Local" or an IANA name. */
function zonedTime(x: unknown): ZonedTime | undefined {
  let ns: unknown = x;
  let tz = 'UTC';
  if (Array.isArray(x)) {
    if (x.length === 0) return undefined;
    ns = x[0];
    if (x.length > 1) {
      if (typeof x[1] !== 'string') return undefined;
      tz = x[1] === '' ? 'UTC' : x[1];
    }
    if (x.length > 2 && typeof x[2] !== 'string') return undefined;
  }
  if (!isInt(ns) || ns < -TWO_63 || ns >= TWO_63) return undefined;
  const ms = Math.floor(ns / 1e6);
  const subMsNs = ns - ms * 1e6;
  const msInSecond = ((ms % 1000) + 1000) % 1000;
  if (tz === 'UTC') {
    const d = new Date(ms);
    const parts = { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(), weekday: WEEKDAYS[d.getUTCDay()]! };
    return { parts, zone: undefined, msInSecond, subMsNs };
  }
  const zone = formatterFor(tz);
  if (!zone) return undefined;
  return { parts: partsIn(zone, ms), zone, msInSecond, subMsNs };
}

function partsIn(zone: Intl.DateTimeFormat, ms: number): Parts {
  const p: Record<string, string> = {};
  for (const part of zone.formatToParts(ms)) p[part.type] = part.value;
  return { year: Number(p.year), month: Number(p.month), day: Number(p.day), hour: Number(p.hour), minute: Number(p.minute), second: Number(p.second), weekday: p.weekday ?? '' };
}

/** Date.UTC without its 1900 offset for years below 100; overflowing fields normalize. */
function utcWall(year: number, monthIndex: number, day: number, hour: number, minute: number, second: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, monthIndex, day);
  d.setUTCHours(hour, minute, second, 0);
  return d.getTime();
}

/** The zone's UTC offset at an instant, in ms. */
function offsetAt(zone: Intl.DateTimeFormat, ms: number): number {
  const p = partsIn(zone, ms);
  const wall = utcWall(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - (ms - (((ms % 1000) + 1000) % 1000));
}

/** The instant a wall-clock time (as if UTC) names in a zone. Around a transition either reading may win, as Go allows. */
function wallToInstant(zone: Intl.DateTimeFormat, wall: number): number {
  const guess = wall - offsetAt(zone, wall);
  return wall - offsetAt(zone, guess);
}
