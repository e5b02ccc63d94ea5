// A byte-level reading of a list answer (`{"result":{"tools":[…]},"jsonrpc":"2.0","id":…}`):
// one validating pass over the upstream's JSON bytes that finds each item of the list and the
// one field curation needs (name / uri / uriTemplate), without building the items as objects.
// The caller then copies the kept items' bytes verbatim (src/curation/filter-list-bytes.ts).
//
// It must never read a body differently from JSON.parse, which the parsed path uses. So it
// accepts only a subset of what JSON.parse accepts, and gives up (undefined: take the parsed
// path) on anything where a verbatim copy could be read otherwise than the parsed path's output:
// - invalid UTF-8 (the parsed path decodes it to U+FFFD), or bytes JSON.parse would refuse;
// - a duplicate key in any object, or a key with an escape (no first-wins/last-wins ambiguity);
// - numbers JSON.stringify would rewrite: beyond ±Number.MAX_VALUE (→ null), or -0 (→ 0);
// - nesting deeper than MAX_DEPTH; a top level that is not an object (a batch).
// Escapes in the item's name are decoded (by JSON.parse of that one string) before matching.
import { isUtf8 } from 'node:buffer';

export const MAX_DEPTH = 64;

/** One element of the list array: its bytes, and its name field when it is an object with a string there. */
export interface ScannedItem {
  start: number;
  end: number;
  /** undefined: not an object, or no string in the name field (the parsed path drops it). */
  name: string | undefined;
}

export interface ScannedListAnswer {
  /** The bytes of the top-level `id` value, if there is one. */
  id: { start: number; end: number } | undefined;
  /** The top level has a `method` (a request or notification, not an answer). */
  hasMethod: boolean;
  /** What `result` is: absent, an object, or another JSON value. */
  result: 'absent' | 'object' | 'other';
  /** The list array inside result (undefined: result has no such key, or it is not an array). */
  list: { open: number; close: number; items: ScannedItem[] } | undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJ = 0x7b;
const CLOSE_OBJ = 0x7d;
const OPEN_ARR = 0x5b;
const CLOSE_ARR = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const D0 = 0x30;
const D9 = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

/** Valid characters after a backslash: " \ / b f n r t (u is handled apart). */
const SIMPLE_ESCAPE = new Uint8Array(128);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(128);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

/** Thrown to give up; caught once, at the top. */
const GIVE_UP = Symbol('give up');

/** What a hook does with one member of an object: parse its value itself, and return the index after it. */
type MemberHook = (s: Scanner, keyStart: number, keyEnd: number, valueAt: number, depth: number) => number;

class Scanner {
  /** Key spans (start, end) of the objects open now, up to `top`; each object owns the tail from its base. */
  private keys = new Int32Array(256);
  private top = 0;
  /** Set by string(): whether the string just scanned held an escape. */
  escaped = false;

  constructor(readonly b: Buffer) {}

  ws(i: number): number {
    const b = this.b;
    for (;;) {
      const c = b[i];
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else return i;
    }
  }

  /** A string whose opening quote is at i; returns the index after its closing quote. */
  string(i: number): number {
    const b = this.b;
    const n = b.length;
    let escaped = false;
    i++;
    for (;;) {
      if (i >= n) throw GIVE_UP;
      const c = b[i]!;
      if (c === QUOTE) break;
      if (c < 0x20) throw GIVE_UP;
      if (c !== BACKSLASH) {
        i++;
        continue;
      }
      escaped = true;
      const d = b[i + 1] ?? 0;
      if (d === 0x75) {
        if (!(HEX[b[i + 2]!] && HEX[b[i + 3]!] && HEX[b[i + 4]!] && HEX[b[i + 5]!])) throw GIVE_UP;
        i += 6;
      } else if (d < 128 && SIMPLE_ESCAPE[d]) i += 2;
      else throw GIVE_UP;
    }
    this.escaped = escaped;
    return i + 1;
  }

  number(i: number): number {
    const b = this.b;
    const start = i;
    let rewritable = false;
    if (b[i] === MINUS) {
      i++;
      rewritable = true;
    }
    const first = b[i];
    if (first === D0) i++;
    else if (first !== undefined && first > D0 && first <= D9) while (isDigit(b[i])) i++;
    else throw GIVE_UP;
    if (b[i] === DOT) {
      i++;
      if (!isDigit(b[i])) throw GIVE_UP;
      while (isDigit(b[i])) i++;
    }
    if (b[i] === LOWER_E || b[i] === UPPER_E) {
      rewritable = true;
      i++;
      if (b[i] === PLUS || b[i] === MINUS) i++;
      if (!isDigit(b[i])) throw GIVE_UP;
      while (isDigit(b[i])) i++;
    }
    // Only an exponent, a minus sign or 309+ digits can make ±Infinity or -0.
    if (rewritable || i - start > 308) {
      const v = Number(b.toString('latin1', start, i));
      if (!Number.isFinite(v) || Object.is(v, -0)) throw GIVE_UP;
    }
    return i;
  }

  literal(i: number, word: string): number {
    const b = this.b;
    for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) throw GIVE_UP;
    return i + word.length;
  }

  /** Any JSON value at i (no leading whitespace); returns the index after it. */
  value(i: number, depth: number): number {
    const c = this.b[i];
    if (c === QUOTE) return this.string(i);
    if (c === OPEN_OBJ) return this.object(i, depth, undefined);
    if (c === OPEN_ARR) return this.array(i, depth, undefined);
    if (c === 0x74) return this.literal(i, 'true');
    if (c === 0x66) return this.literal(i, 'false');
    if (c === 0x6e) return this.literal(i, 'null');
    return this.number(i);
  }

  /** An object at i; `hook` parses the members' values at this level (the default: value()). */
  object(i: number, depth: number, hook: MemberHook | undefined): number {
    if (depth >= MAX_DEPTH) throw GIVE_UP;
    const b = this.b;
    const base = this.top;
    i = this.ws(i + 1);
    if (b[i] === CLOSE_OBJ) return i + 1;
    for (;;) {
      if (b[i] !== QUOTE) throw GIVE_UP;
      const keyStart = i + 1;
      i = this.string(i);
      if (this.escaped) throw GIVE_UP;
      const keyEnd = i - 1;
      this.addKey(base, keyStart, keyEnd);
      i = this.ws(i);
      if (b[i] !== COLON) throw GIVE_UP;
      i = this.ws(i + 1);
      i = hook ? hook(this, keyStart, keyEnd, i, depth + 1) : this.value(i, depth + 1);
      i = this.ws(i);
      const c = b[i];
      if (c === COMMA) i = this.ws(i + 1);
      else if (c === CLOSE_OBJ) break;
      else throw GIVE_UP;
    }
    this.top = base;
    return i + 1;
  }

  /** Records a key of the object whose keys start at `base`; a key it already has gives up. */
  private addKey(base: number, start: number, end: number): void {
    let keys = this.keys;
    for (let k = base; k < this.top; k += 2) if (sameBytes(this.b, keys[k]!, keys[k + 1]!, start, end)) throw GIVE_UP;
    if (this.top + 2 > keys.length) {
      keys = new Int32Array(keys.length * 2);
      keys.set(this.keys);
      this.keys = keys;
    }
    keys[this.top++] = start;
    keys[this.top++] = end;
  }

  /** An array at i; `each` parses every element (the default: value()). */
  array(i: number, depth: number, each: ((s: Scanner, at: number, depth: number) => number) | undefined): number {
    if (depth >= MAX_DEPTH) throw GIVE_UP;
    const b = this.b;
    i = this.ws(i + 1);
    if (b[i] === CLOSE_ARR) return i + 1;
    for (;;) {
      i = each ? each(this, i, depth + 1) : this.value(i, depth + 1);
      i = this.ws(i);
      const c = b[i];
      if (c === COMMA) i = this.ws(i + 1);
      else if (c === CLOSE_ARR) return i + 1;
      else throw GIVE_UP;
    }
  }

  /** Whether the key at [start, end) is exactly `word` (keys have no escapes here). */
  keyIs(start: number, end: number, word: Buffer): boolean {
    return end - start === word.length && sameBytes(this.b, start, end, 0, word.length, word);
  }
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= D0 && c <= D9;
}

function sameBytes(b: Buffer, s1: number, e1: number, s2: number, e2: number, other: Buffer = b): boolean {
  if (e1 - s1 !== e2 - s2) return false;
  for (let k = 0; k < e1 - s1; k++) if (b[s1 + k] !== other[s2 + k]) return false;
  return true;
}

/** Whether bytes [start, end) are exactly one JSON string or number (by the same rules as the scan). */
export function isPrimitiveToken(bytes: Buffer, start: number, end: number): boolean {
  const c = bytes[start];
  if (c !== QUOTE && c !== MINUS && !isDigit(c)) return false;
  const s = new Scanner(bytes);
  try {
    return s.value(start, 0) === end;
  } catch (e) {
    if (e === GIVE_UP) return false;
    throw e;
  }
}

const ID = Buffer.from('id');
const METHOD = Buffer.from('method');
const RESULT = Buffer.from('result');

/**
 * Reads a JSON body as a list answer for `resultKey` (tools, prompts, …) whose items are named by
 * `itemKey` (name, uri, uriTemplate); undefined when the byte path must not be trusted with it.
 */
export function scanListAnswer(bytes: Buffer, resultKey: string, itemKey: string): ScannedListAnswer | undefined {
  if (!isUtf8(bytes)) return undefined;
  const listKey = Buffer.from(resultKey);
  const nameKey = Buffer.from(itemKey);
  const out: ScannedListAnswer = { id: undefined, hasMethod: false, result: 'absent', list: undefined };

  // The name field of the item being read (one hook for all items, no closure per item).
  let name: string | undefined;
  const inItem: MemberHook = (s, ks, ke, v, d) => {
    if (!s.keyIs(ks, ke, nameKey) || s.b[v] !== QUOTE) return s.value(v, d);
    const after = s.string(v);
    name = s.escaped ? (JSON.parse(s.b.toString('utf8', v, after)) as string) : s.b.toString('utf8', v + 1, after - 1);
    return after;
  };
  const item = (s: Scanner, at: number, depth: number): number => {
    name = undefined;
    const end = s.b[at] === OPEN_OBJ ? s.object(at, depth, inItem) : s.value(at, depth);
    out.list!.items.push({ start: at, end, name });
    return end;
  };
  const inResult: MemberHook = (s, ks, ke, v, d) => {
    if (!s.keyIs(ks, ke, listKey) || s.b[v] !== OPEN_ARR) return s.value(v, d);
    out.list = { open: v, close: -1, items: [] };
    const end = s.array(v, d, item);
    out.list.close = end - 1;
    return end;
  };
  const top: MemberHook = (s, ks, ke, v, d) => {
    if (s.keyIs(ks, ke, RESULT)) {
      if (s.b[v] !== OPEN_OBJ) {
        out.result = 'other';
        return s.value(v, d);
      }
      out.result = 'object';
      return s.object(v, d, inResult);
    }
    const end = s.value(v, d);
    if (s.keyIs(ks, ke, ID)) out.id = { start: v, end };
    else if (s.keyIs(ks, ke, METHOD)) out.hasMethod = true;
    return end;
  };

  const s = new Scanner(bytes);
  try {
    const start = s.ws(0);
    if (bytes[start] !== OPEN_OBJ) return undefined;
    const end = s.ws(s.object(start, 0, top));
    return end === bytes.length ? out : undefined;
  } catch (e) {
    if (e === GIVE_UP) return undefined;
    throw e;
  }
}
