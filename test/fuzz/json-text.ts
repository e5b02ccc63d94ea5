// JSON text for fuzzing: values serialised with the freedoms JSON allows (white space,
// escapes of any character, duplicate keys) and mutated into what it does not allow,
// plus a small reference scanner the parsers are judged against.
import fc from 'fast-check';

/** A JSON value whose objects are member lists, so a key may repeat. */
export type Tree =
  | { t: 'lit'; v: string | number | boolean | null }
  | { t: 'arr'; items: Tree[] }
  | { t: 'obj'; members: [string, Tree][] };

export const lit = (v: string | number | boolean | null): Tree => ({ t: 'lit', v });
export const arr = (items: Tree[]): Tree => ({ t: 'arr', items });
export const obj = (members: [string, Tree][]): Tree => ({ t: 'obj', members });

/** A plain JSON value as a tree (no duplicates). */
export function toTree(v: unknown): Tree {
  if (Array.isArray(v)) return arr(v.map(toTree));
  if (v !== null && typeof v === 'object') return obj(Object.entries(v).map(([k, x]) => [k, toTree(x)]));
  return lit(v as string | number | boolean | null);
}

/** How a tree is written: per string, whether characters are \u-escaped; the white space between tokens. */
export interface Style {
  /** 0..1: share of string characters written as \uXXXX (or a short escape). */
  escape: number;
  /** White space runs to draw from (all valid JSON white space). */
  ws: readonly string[];
  /** A seed that picks, deterministically, which characters are escaped and which white space goes where. */
  seed: number;
}

export const PLAIN: Style = { escape: 0, ws: [''], seed: 0 };

export const styleArb: fc.Arbitrary<Style> = fc.record({
  escape: fc.constantFrom(0, 0, 0.1, 0.5, 1),
  ws: fc.constantFrom([''], [' '], ['', ' ', '\n', '\t', '\r\n', '  ']),
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
});

/** Writes a tree as JSON text in a given style. */
export function serialize(tree: Tree, style: Style = PLAIN): string {
  let x = style.seed | 0 || 1;
  const rnd = (): number => {
    // xorshift32: cheap and deterministic per style.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
  const ws = (): string => (style.ws.length === 1 ? style.ws[0]! : style.ws[Math.floor(rnd() * style.ws.length)]!);
  const str = (s: string): string => {
    if (style.escape === 0) return JSON.stringify(s);
    let out = '"';
    for (const ch of s) {
      const code = ch.codePointAt(0)!;
      if (rnd() < style.escape) {
        // Any character may be escaped; astral ones as a surrogate pair.
        for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
      } else if (ch === '"' || ch === '\\' || code < 0x20) out += JSON.stringify(ch).slice(1, -1);
      else out += ch;
    }
    return `${out}"`;
  };
  const go = (t: Tree): string => {
    switch (t.t) {
      case 'lit':
        return typeof t.v === 'string' ? str(t.v) : JSON.stringify(t.v);
      case 'arr':
        return `[${ws()}${t.items.map((i) => go(i)).join(`${ws()},${ws()}`)}${ws()}]`;
      case 'obj':
        return `{${ws()}${t.members.map(([k, v]) => `${str(k)}${ws()}:${ws()}${go(v)}`).join(`${ws()},${ws()}`)}${ws()}}`;
    }
  };
  return `${ws()}${go(tree)}${ws()}`;
}

// ---- generators ---------------------------------------------------------------

// Code units picked from ranges, lone surrogates included: cheaper than fast-check's
// full-unicode character arbitrary (whose shrink map over every code point costs a
// second to build) and more pointed (controls, quotes, surrogates, BOM, NBSP, ...).
const UNIT = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0x1f }) },
  { weight: 2, arbitrary: fc.constantFrom(0x22, 0x5c, 0x7f, 0x85, 0xa0, 0xad, 0x2028, 0x2029, 0xfeff, 0x200b, 0xff21, 0xfffd, 0xfffe) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }) },
  { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xffff }) },
);

/** Any string of UTF-16 code units (not necessarily well-formed), up to `maxLength`. */
export function unitString(opts: { minLength?: number; maxLength: number }): fc.Arbitrary<string> {
  return fc.array(UNIT, opts).map((cs) => String.fromCharCode(...cs));
}

/** Keys from a small pool so that duplicates are frequent, with lookalikes of the same key. */
const KEY_POOL = ['a', 'b', 'id', 'name', 'method', '__proto__', 'constructor', 'toString', '', 'é', 'e\u0301', '\u0000', 'ａ', 'A'];

export const keyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KEY_POOL) },
  { weight: 1, arbitrary: unitString({ maxLength: 6 }) },
);

export const scalarArb: fc.Arbitrary<Tree> = fc.oneof(
  unitString({ maxLength: 8 }).map(lit),
  fc.constantFrom(0, -0, 1, -1, 1.5, 1e300, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 5e-324).map(lit),
  fc.integer().map(lit),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(lit),
  fc.constantFrom(true, false, null).map(lit),
);

/** Trees with duplicate keys in some objects (maybe deep), moderately nested. */
export const treeArb: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalarArb,
    fc.array(tie('tree'), { maxLength: 4 }).map(arr),
    fc.array(fc.tuple(keyArb, tie('tree')), { maxLength: 5 }).map(obj),
  ),
})).tree;

/** A value nested `depth` containers deep (objects and arrays alternating by a pattern). */
export function nested(depth: number, pattern: number): Tree {
  let t: Tree = lit(1);
  for (let i = 0; i < depth; i++) t = (pattern >> i % 16) & 1 ? arr([t]) : obj([['k', t]]);
  return t;
}

/** Text edits that mostly break JSON: a flipped, inserted or deleted character, a cut. */
export type Edit = { op: 'cut' | 'del' | 'ins' | 'set'; at: number; ch: string };

const EDIT_CHARS = ['"', '\\', '{', '}', '[', ']', ',', ':', ' ', '\u000b', '\u00a0', '\ufeff', '\u0000', '0', '-', 'e', '.', 'u', 'x', '\ud800', '\u2028', 'n', 't'];

export const editArb: fc.Arbitrary<Edit> = fc.record({
  op: fc.constantFrom('cut', 'del', 'ins', 'set'),
  at: fc.nat(),
  ch: fc.oneof(fc.constantFrom(...EDIT_CHARS), unitString({ minLength: 1, maxLength: 1 })),
});

export function applyEdits(text: string, edits: readonly Edit[]): string {
  let s = text;
  for (const e of edits) {
    const at = s.length === 0 ? 0 : e.at % (s.length + 1);
    if (e.op === 'cut') s = s.slice(0, at);
    else if (e.op === 'del') s = s.slice(0, at) + s.slice(at + 1);
    else if (e.op === 'ins') s = s.slice(0, at) + e.ch + s.slice(at);
    else s = s.slice(0, at) + e.ch + s.slice(at + 1);
  }
  return s;
}

/** JSON-ish text: valid (duplicates allowed), mutated, deep, or arbitrary. */
export const jsonTextArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(treeArb, styleArb).map(([t, s]) => serialize(t, s)) },
  { weight: 4, arbitrary: fc.tuple(treeArb, styleArb, fc.array(editArb, { minLength: 1, maxLength: 3 })).map(([t, s, e]) => applyEdits(serialize(t, s), e)) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 60, max: 70 }), fc.nat(0xffff), styleArb).map(([d, p, s]) => serialize(nested(d, p), s)) },
  { weight: 1, arbitrary: unitString({ maxLength: 24 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
);

// ---- reference scanner ----------------------------------------------------------

const STRING = /"(?:[^"\\]|\\.)*"/y;

export interface Scan {
  /** Some object has two members whose keys decode to the same string. */
  duplicate: boolean;
  /** Most containers open at once. */
  depth: number;
  /** Members named "id" in the top-level object (0 when it is not an object). */
  topLevelIds: number;
}

/** Facts about a text JSON.parse accepts, found by a scanner of its own (not the gateway's). */
export function scan(text: string): Scan {
  const stack: ({ keys: Set<string> } | null)[] = [];
  let expectKey = false;
  let duplicate = false;
  let depth = 0;
  let topLevelIds = 0;
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    if (c === '"') {
      STRING.lastIndex = i;
      const m = STRING.exec(text)!;
      i += m[0].length;
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const key = JSON.parse(m[0]) as string;
        if (top.keys.has(key)) duplicate = true;
        top.keys.add(key);
        if (stack.length === 1 && key === 'id') topLevelIds++;
      }
      expectKey = false;
      continue;
    }
    if (c === '{' || c === '[') {
      stack.push(c === '{' ? { keys: new Set() } : null);
      depth = Math.max(depth, stack.length);
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      expectKey = stack[stack.length - 1] != null;
    }
    i++;
  }
  return { duplicate, depth, topLevelIds };
}
