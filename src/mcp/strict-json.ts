// Strict JSON: accepts exactly what JSON.parse accepts (RFC 8259), and additionally
// refuses duplicate object keys at any depth and nesting beyond a limit.
//
// Why: a gateway and the upstream behind it must see the same message. With
// `{"name":"safe","name":"evil"}` JSON.parse keeps the last value while other
// parsers keep the first, so a policy could approve one tool and the server run
// another. Refusing duplicates removes the ambiguity.
//
// How: one validating pass over the text (syntax, duplicate keys, depth), then
// the native JSON.parse builds the value. The scan allocates only key strings,
// and building with JSON.parse gives its exact number parsing and `__proto__`
// handling (an own data property, never a prototype change) by construction.

export type StrictJsonErrorReason = 'invalid_json' | 'duplicate_key' | 'too_deep';

export interface StrictJsonOptions {
  /** Most containers (objects/arrays) that may be open at once; `[]` is depth 1. Default 64. */
  maxDepth?: number;
}

export const DEFAULT_MAX_DEPTH = 64;

/** Longest key or fragment quoted in an error message (messages end up in logs and responses). */
const MAX_QUOTED = 64;

const OPEN_OBJ = 0x7b; // {
const CLOSE_OBJ = 0x7d; // }
const OPEN_ARR = 0x5b; // [
const CLOSE_ARR = 0x5d; // ]
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** Objects with more keys than this switch from a linear duplicate check to a Set. */
const LINEAR_KEY_LIMIT = 8;

/** A run of string characters that need no attention: anything but a quote, a backslash or a control character. */
const STRING_RUN = /[^"\\\u0000-\u001f]*/y;

/** Set by scanString when the string held a backslash escape, so keys are unescaped only when needed. */
let sawEscape = false;

export class StrictJsonError extends SyntaxError {
  override readonly name = 'StrictJsonError';
  /**
   * @param reason   what went wrong
   * @param position UTF-16 offset in the text (a duplicate: its key's opening quote)
   * @param detail   the message without the position, for callers that report offsets their own way
   * @param key      the duplicated key, unescaped
   */
  constructor(
    readonly reason: StrictJsonErrorReason,
    readonly position: number,
    readonly detail: string,
    readonly key?: string,
  ) {
    super(`${detail} at position ${position}`);
  }
}

/** Parses `text` like JSON.parse, throwing StrictJsonError on invalid JSON, duplicate keys or excess depth. */
export function parseStrictJson(text: string, opts?: StrictJsonOptions): unknown {
  const maxDepth = opts?.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!(maxDepth >= 0)) throw new RangeError(`maxDepth must be a number >= 0, got ${String(maxDepth)}`);
  validate(text, maxDepth);
  try {
    return JSON.parse(text);
  } catch (e) {
    // Unreachable while validate() is exact; kept so the contract (only StrictJsonError) holds regardless.
    throw new StrictJsonError('invalid_json', 0, `JSON.parse: ${(e as Error).message}`);
  }
}

/**
 * How many members named `key` (compared after unescaping) the top-level object of `text` has;
 * 0 when the top level is not an object. Precondition: `text` is valid JSON (JSON.parse accepts
 * it); used on error paths, e.g. to tell whether a request id can be recovered unambiguously.
 */
export function countTopLevelKey(text: string, key: string): number {
  const n = text.length;
  let i = skipWs(text, 0);
  if (text.charCodeAt(i) !== OPEN_OBJ) return 0;
  let depth = 0;
  let count = 0;
  let expectKey = false;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      sawEscape = false;
      i = scanString(text, i);
      if (expectKey) {
        expectKey = false;
        if (keyAt(text, start, i) === key) count++;
      }
      continue;
    }
    if (c === OPEN_OBJ || c === OPEN_ARR) {
      if (++depth === 1) expectKey = true;
    } else if (c === CLOSE_OBJ || c === CLOSE_ARR) {
      depth--;
    } else if (c === COMMA && depth === 1) {
      expectKey = true;
    }
    i++;
  }
  return count;
}

function validate(s: string, maxDepth: number): void {
  const n = s.length;
  // Per open container: whether it is an object, where its keys start in `keys`, and
  // (once it is large) a Set of its keys. Stack discipline: closing an object truncates `keys`.
  const isObject: boolean[] = [];
  const keyBase: number[] = [];
  const keySets: (Set<string> | undefined)[] = [];
  const keys: string[] = [];
  let depth = 0;
  let i = skipWs(s, 0);

  for (;;) {
    // A value starts at i.
    if (i >= n) throw unexpectedEnd(n);
    const c = s.charCodeAt(i);
    if (c === OPEN_OBJ || c === OPEN_ARR) {
      if (depth >= maxDepth) {
        throw new StrictJsonError('too_deep', i, `Nesting deeper than ${maxDepth} levels`);
      }
      const obj = c === OPEN_OBJ;
      isObject[depth] = obj;
      i = skipWs(s, i + 1);
      if (i < n && s.charCodeAt(i) === (obj ? CLOSE_OBJ : CLOSE_ARR)) {
        i++; // empty container: a complete value, go on below
      } else {
        if (obj) {
          keyBase[depth] = keys.length;
          keySets[depth] = undefined;
        }
        depth++;
        if (obj) i = member(s, i, depth - 1, keys, keyBase, keySets);
        continue;
      }
    } else if (c === QUOTE) {
      i = scanString(s, i);
    } else if (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9)) {
      i = scanNumber(s, i);
    } else if (c === 0x74 /* t */ && s.startsWith('true', i)) {
      i += 4;
    } else if (c === 0x66 /* f */ && s.startsWith('false', i)) {
      i += 5;
    } else if (c === 0x6e /* n */ && s.startsWith('null', i)) {
      i += 4;
    } else {
      throw unexpected(s, i);
    }

    // A value ended at i: close containers until one wants another element.
    for (;;) {
      i = skipWs(s, i);
      if (depth === 0) {
        if (i < n) throw unexpected(s, i);
        return;
      }
      if (i >= n) throw unexpectedEnd(n);
      const d = s.charCodeAt(i);
      const obj = isObject[depth - 1]!;
      if (d === COMMA) {
        i = skipWs(s, i + 1);
        if (obj) i = member(s, i, depth - 1, keys, keyBase, keySets);
        break;
      }
      if (d !== (obj ? CLOSE_OBJ : CLOSE_ARR)) throw unexpected(s, i);
      i++;
      depth--;
      if (obj) keys.length = keyBase[depth]!;
    }
  }
}

/**
 * Reads `"key" :` at i as a member of the object open at stack index d, refusing a duplicate;
 * returns where the member's value starts. A plain function (not a closure) keeps the scan's
 * locals in registers.
 */
function member(
  s: string,
  i: number,
  d: number,
  keys: string[],
  keyBase: number[],
  keySets: (Set<string> | undefined)[],
): number {
  const n = s.length;
  if (i >= n) throw unexpectedEnd(n);
  if (s.charCodeAt(i) !== QUOTE) throw unexpected(s, i, 'expected a string key');
  const start = i;
  sawEscape = false;
  i = scanString(s, i);
  const key = keyAt(s, start, i);
  const set = keySets[d];
  if (set !== undefined) {
    if (set.has(key)) throw duplicate(key, start);
    set.add(key);
  } else {
    // Most objects are small: a linear scan beats allocating a Set per object.
    const base = keyBase[d]!;
    for (let k = base; k < keys.length; k++) if (keys[k] === key) throw duplicate(key, start);
    keys.push(key);
    if (keys.length - base > LINEAR_KEY_LIMIT) {
      keySets[d] = new Set(keys.slice(base));
      keys.length = base;
    }
  }
  i = skipWs(s, i);
  if (i >= n) throw unexpectedEnd(n);
  if (s.charCodeAt(i) !== COLON) throw unexpected(s, i, 'expected ":"');
  return skipWs(s, i + 1);
}

/** The key whose literal spans [start, end) (quotes included); scanString must have just validated it. */
function keyAt(s: string, start: number, end: number): string {
  // Escaped keys are rare; JSON.parse of the validated literal unescapes exactly as it will for the value.
  return sawEscape ? (JSON.parse(s.slice(start, end)) as string) : s.slice(start + 1, end - 1);
}

function skipWs(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    // JSON whitespace is exactly space, \t, \n, \r (not \v, \f, NBSP or BOM).
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** Validates the string literal whose opening quote is at i; returns the index after its closing quote. */
function scanString(s: string, i: number): number {
  const n = s.length;
  let j = i + 1;
  for (;;) {
    // Skip the run of ordinary characters natively: several times faster than a charCodeAt loop.
    STRING_RUN.lastIndex = j;
    STRING_RUN.test(s);
    j = STRING_RUN.lastIndex;
    if (j >= n) throw new StrictJsonError('invalid_json', i, 'Unterminated string');
    const c = s.charCodeAt(j);
    if (c === QUOTE) return j + 1;
    if (c === BACKSLASH) {
      sawEscape = true;
      const e = s.charCodeAt(j + 1);
      if (e === 0x75 /* u */) {
        if (!(isHex(s.charCodeAt(j + 2)) && isHex(s.charCodeAt(j + 3)) && isHex(s.charCodeAt(j + 4)) && isHex(s.charCodeAt(j + 5)))) {
          throw new StrictJsonError('invalid_json', j, 'Bad \\u escape in string');
        }
        j += 6;
      } else if (
        e === QUOTE || e === BACKSLASH || e === 0x2f /* / */ || e === 0x62 /* b */ || e === 0x66 /* f */ ||
        e === 0x6e /* n */ || e === 0x72 /* r */ || e === 0x74 /* t */
      ) {
        j += 2;
      } else if (j + 1 >= n) {
        throw new StrictJsonError('invalid_json', i, 'Unterminated string');
      } else {
        throw new StrictJsonError('invalid_json', j, 'Bad escape in string');
      }
    } else {
      // STRING_RUN stops only at a quote, a backslash or a control character.
      throw new StrictJsonError('invalid_json', j, `Unescaped control character U+${hex4(c)} in string`);
    }
  }
}

function isHex(c: number): boolean {
  return (c >= DIGIT_0 && c <= DIGIT_9) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

/** Validates `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` at i; returns the index after it. */
function scanNumber(s: string, i: number): number {
  let j = i;
  if (s.charCodeAt(j) === MINUS) j++;
  const first = s.charCodeAt(j);
  if (first === DIGIT_0) {
    j++;
  } else if (first > DIGIT_0 && first <= DIGIT_9) {
    j = digits(s, j + 1);
  } else {
    throw badNumber(s, j);
  }
  if (s.charCodeAt(j) === 0x2e /* . */) {
    const k = digits(s, j + 1);
    if (k === j + 1) throw badNumber(s, k);
    j = k;
  }
  const e = s.charCodeAt(j);
  if (e === 0x65 || e === 0x45 /* e E */) {
    j++;
    const sign = s.charCodeAt(j);
    if (sign === 0x2b || sign === MINUS) j++;
    const k = digits(s, j);
    if (k === j) throw badNumber(s, k);
    j = k;
  }
  return j;
}

function digits(s: string, j: number): number {
  for (;;) {
    const c = s.charCodeAt(j);
    if (!(c >= DIGIT_0 && c <= DIGIT_9)) return j; // NaN past the end fails too
    j++;
  }
}

function badNumber(s: string, at: number): StrictJsonError {
  if (at >= s.length) return unexpectedEnd(s.length);
  return new StrictJsonError('invalid_json', at, `Invalid number: unexpected ${quoteChar(s, at)}`);
}

function unexpectedEnd(n: number): StrictJsonError {
  return new StrictJsonError('invalid_json', n, 'Unexpected end of JSON input');
}

function unexpected(s: string, i: number, expected?: string): StrictJsonError {
  const what = `Unexpected ${quoteChar(s, i)}`;
  return new StrictJsonError('invalid_json', i, expected === undefined ? what : `${what}, ${expected}`);
}

function duplicate(key: string, position: number): StrictJsonError {
  return new StrictJsonError('duplicate_key', position, `Duplicate key ${quote(key)}`, key);
}

/** The character at i, quoted, or a U+XXXX name for invisible ones. */
function quoteChar(s: string, i: number): string {
  const c = s.codePointAt(i)!;
  return c < 0x20 || c === 0x7f || c === 0xfeff ? `character U+${hex4(c)}` : `character ${JSON.stringify(String.fromCodePoint(c))}`;
}

function quote(v: string): string {
  return JSON.stringify(v.length > MAX_QUOTED ? `${v.slice(0, MAX_QUOTED)}…` : v);
}

function hex4(c: number): string {
  return c.toString(16).toUpperCase().padStart(4, '0');
}
