// Byte-level list filtering (src/mcp/list-scan.ts, src/curation/filter-list-bytes.ts) against
// the parsed path it stands in for: for random lists, random formatting and escaping, random
// curation and policies, and random corruption of the bytes, the response filter with the byte
// path sends what it sends without it (the same body after JSON.parse, the same report).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { scanListAnswer } from '../../src/mcp/list-scan.js';
import { filterListBytes } from '../../src/curation/filter-list-bytes.js';
import { recall, REMEMBERED_ANSWERS } from '../../src/curation/list-memo.js';
import { compileCuration } from '../../src/curation/curation.js';
import { LIST_METHODS, type ListMethod } from '../../src/mcp/protocol.js';
import { ResponseFilter, type BodyMode } from '../../src/gateway/response-filter.js';
import type { ServerRuntime } from '../../src/gateway/runtime.js';
import type { ListItem, PolicyInput } from '../../src/policy/input.js';
import type { JsonRpcId } from '../../src/mcp/jsonrpc.js';

const TOOLS = LIST_METHODS.get('tools/list')!;
const RESOURCES = LIST_METHODS.get('resources/list')!;

// ---- JSON written with random whitespace, escapes, duplicate keys and number spellings ----

/** A JSON tree whose objects keep their member order and may repeat keys; raw is a number as spelled. */
type Node = null | boolean | number | string | Node[] | { obj: [string, Node][] } | { raw: string };

/** A small deterministic PRNG, so that one fast-check integer drives every formatting choice. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

interface Style {
  ws: number; // chance of whitespace at each spot
  escape: number; // chance of escaping a character
  dup: number; // chance of repeating a key in an object
}

function render(n: Node, r: () => number, st: Style): string {
  const sp = () => (r() < st.ws ? [' ', '\n', '\t', '\r', '  '][Math.floor(r() * 5)]! : '');
  const str = (s: string) => {
    let out = '"';
    for (const ch of s) {
      if (r() < st.escape) for (let k = 0; k < ch.length; k++) out += `\\u${ch.charCodeAt(k).toString(16).padStart(4, '0')}`;
      else out += JSON.stringify(ch).slice(1, -1);
    }
    return `${out}"`;
  };
  const go = (v: Node): string => {
    if (v === null || typeof v === 'boolean' || typeof v === 'number') return JSON.stringify(v);
    if (typeof v === 'string') return str(v);
    if (Array.isArray(v)) return `[${sp()}${v.map((x) => `${go(x)}${sp()}`).join(`,${sp()}`)}]`;
    if ('raw' in v) return v.raw;
    const members = [...v.obj];
    if (members.length && r() < st.dup) members.splice(Math.floor(r() * (members.length + 1)), 0, [members[Math.floor(r() * members.length)]![0], 'dup']);
    return `{${sp()}${members.map(([k, x]) => `${str(k)}${sp()}:${sp()}${go(x)}${sp()}`).join(`,${sp()}`)}}`;
  };
  return `${sp()}${go(n)}${sp()}`;
}

const NAMES = ['tool-000', 'tool-001', 'tool-003', 'tool-042', 'echo', 'ECHO', 'progress', 'tool-1', '', 'ｔool-000', 'tool\u2028x', '\ud800', 'e\u0000cho', 'tool-000 ', 'é', '😀tool'];
const URIS = ['file:///a', 'file:///a/../b', 'https://x.test/y?q=1', 'file:///docs/%41', 'mem://one', 'file:///secret'];

const rawNumber = fc.constantFrom('-0', '1e400', '-1e400', '-1e-400', '1E2', '0.5e-3', '-12', '123456789012345678901234567890', '-0.0', '0');
const leaf: fc.Arbitrary<Node> = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string({ maxLength: 6 }), fc.constantFrom(...NAMES), fc.constant<Node>({ obj: [] }));
const leafOrRaw: fc.Arbitrary<Node> = fc.oneof({ weight: 12, arbitrary: leaf }, { weight: 1, arbitrary: rawNumber.map((raw): Node => ({ raw })) });
const { tree } = fc.letrec<{ tree: Node }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafOrRaw,
    fc.array(tie('tree'), { maxLength: 3 }),
    fc.uniqueArray(fc.tuple(fc.constantFrom('name', 'uri', 'tools', 'type', 'properties', 'x', '__proto__', 'description'), tie('tree')), { maxLength: 3, selector: ([k]) => k }).map((obj) => ({ obj })),
  ),
}));

/** One list item: an object with its name field (or a wrong one, or none) among other members; sometimes not an object. */
function itemArb(list: ListMethod): fc.Arbitrary<Node> {
  const names = list.kind === 'resource' ? URIS : NAMES;
  const nameField = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...names) }, { weight: 1, arbitrary: tree });
  const schema: Node = { obj: [['type', 'object'], ['properties', { obj: [[list.itemKey, { obj: [['type', 'string']] }], ['tools', ['tool-100']]] }]] };
  const obj = fc
    .record({ name: fc.option(nameField, { nil: undefined, freq: 8 }), extra: fc.uniqueArray(fc.tuple(fc.constantFrom('description', 'title', '_meta', 'annotations'), tree), { maxLength: 2, selector: ([k]) => k }), schema: fc.boolean(), order: fc.integer() })
    .map(({ name, extra, schema: withSchema, order }): Node => {
      const members: [string, Node][] = [...extra];
      if (withSchema) members.push(['inputSchema', schema]);
      if (name !== undefined) members.splice(Math.abs(order) % (members.length + 1), 0, [list.itemKey, name]);
      return { obj: members };
    });
  return fc.oneof({ weight: 12, arbitrary: obj }, { weight: 1, arbitrary: tree });
}

interface Case {
  list: ListMethod;
  body: string;
  /** The same answer under another id (the same bytes around it for a number id). */
  primer: string;
  id: JsonRpcId;
  allow: string[];
  deny: string[];
  policy: number; // 0: none; k: names whose char-code sum % k === 0 are hidden
}

function caseArb(style: fc.Arbitrary<Style>): fc.Arbitrary<Case> {
  return fc.constantFrom(TOOLS, RESOURCES).chain((list) =>
    fc
      .record({
        items: fc.array(itemArb(list), { maxLength: 14 }),
        id: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('1', 'a')),
        answered: fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('1', 'a')) }),
        shape: fc.constantFrom(...Array<'ok'>(14).fill('ok'), 'method', 'error', 'result-array', 'list-object', 'no-list', 'batch'),
        extra: fc.uniqueArray(fc.tuple(fc.constantFrom('nextCursor', '_meta', 'prompts', 'tools'), tree), { maxLength: 2, selector: ([k]) => k }),
        allow: fc.subarray(list.kind === 'resource' ? ['file:///*', 'mem://*', '*'] : ['tool-00?', 'echo', 'progress', 'tool-*', '*', 'é', '\ud800']),
        deny: fc.subarray(list.kind === 'resource' ? ['file:///secret', '*'] : ['tool-003', 'Echo', 'tool-000']),
        policy: fc.integer({ min: 0, max: 4 }),
        seed: fc.integer(),
        style,
      })
      .map(({ items, id, answered, shape, extra, allow, deny, policy, seed, style: st }): Case => {
        const listValue: Node = shape === 'list-object' ? { obj: [['0', items[0] ?? null]] } : items;
        const result: Node = shape === 'result-array' ? [listValue] : { obj: [...extra.filter(([k]) => k !== list.resultKey), ...(shape === 'no-list' ? [] : ([[list.resultKey, listValue]] as [string, Node][]))] };
        // The same answer under another id first: the byte path remembers it (src/curation/list-memo.ts).
        const renderAs = (idValue: JsonRpcId) => {
          const members: [string, Node][] = [['jsonrpc', '2.0'], ['id', idValue]];
          if (shape === 'method') members.push(['method', 'tools/list']);
          members.push(shape === 'error' ? ['error', { obj: [['code', -32000], ['message', 'x']] }] : ['result', result]);
          const r = prng(seed);
          members.sort(() => r() - 0.5);
          const message: Node = { obj: members };
          return render(shape === 'batch' ? [message] : message, r, st);
        };
        const sent = answered ?? id;
        return { list, body: renderAs(sent), primer: renderAs(typeof sent === 'number' ? sent + 10 : `b${sent}`), id, allow, deny, policy };
      }),
  );
}

// ---- The response filter, with and without the byte path ----

function hidden(name: string, k: number): boolean {
  let sum = 0;
  for (let i = 0; i < name.length; i++) sum += name.charCodeAt(i);
  return sum % k === 0;
}

function runtimeOf(c: Pick<Case, 'allow' | 'deny' | 'policy'>): ServerRuntime {
  const rules = { allow: c.allow, deny: c.deny };
  return {
    curation: compileCuration({ tools: rules, prompts: rules, resources: rules }),
    policy: c.policy ? ({} as ServerRuntime['policy']) : undefined,
    visibleSet: c.policy ? (_input: PolicyInput, items: readonly ListItem[]) => new Set(items.filter((i) => !hidden(i.name, c.policy)).map((i) => i.name)) : undefined,
    pins: undefined,
    screen: undefined,
    resultGuard: undefined,
  } as unknown as ServerRuntime;
}

interface Seen {
  body: unknown; // 'unchanged', or the body sent, parsed
  filtered: unknown;
  failure: unknown;
}

function filterOnce(c: Case, bytes: Buffer, listBytes: boolean, mode: BodyMode = 'json', server = runtimeOf(c)): Seen {
  const f = new ResponseFilter({ server, request: { id: c.id, list: c.list }, input: () => ({}) as PolicyInput, maxEventBytes: 1 << 20, listBytes }, mode);
  const v = f.chunk(bytes, true);
  assert.ok(!(v instanceof Promise) && v.kind === 'continue');
  let body: unknown = 'unchanged';
  if (v.body instanceof Uint8Array) {
    // Fatal: a body that is not UTF-8 (bytes the parsed path would have decoded to U+FFFD) fails here.
    const text = new TextDecoder('utf-8', { fatal: true }).decode(v.body);
    if (mode === 'json') {
      const length = v.headers?.set?.find(([k]) => k === 'content-length')?.[1];
      assert.equal(length, String(v.body.length), 'content-length matches the body sent');
      body = JSON.parse(text);
    } else body = sseData(text).map((d) => JSON.parse(d));
  }
  return { body, filtered: f.report.filtered, failure: f.report.failure?.reason };
}

/** The data of each event in an SSE text (the filter writes "data: " lines, "\n" line ends). */
function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .map((ev) => ev.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)))
    .filter((lines) => lines.length)
    .map((lines) => lines.join('\n'));
}

/** The byte path agrees with the parsed path: on a first answer (scanned), and after the primer (remembered). */
function agree(c: Case, bytes: Buffer, mode: BodyMode = 'json', primer?: Buffer): void {
  const parsed = filterOnce(c, bytes, false, mode);
  assert.deepStrictEqual(filterOnce(c, bytes, true, mode), parsed, `body: ${JSON.stringify(bytes.toString('latin1'))}`);
  if (!primer) return;
  const server = runtimeOf(c);
  filterOnce(c, primer, true, mode, server);
  assert.deepStrictEqual(filterOnce(c, bytes, true, mode, server), parsed, `after ${JSON.stringify(primer.toString('latin1'))}, body: ${JSON.stringify(bytes.toString('latin1'))}`);
}

/** Whether the body was read from what the primer left (not scanned again). */
function rememberedAfter(c: Case, primer: Buffer, bytes: Buffer): boolean {
  const rt = runtimeOf(c);
  filterListBytes(primer, c.id, c.list, rt.curation, undefined);
  return recall(rt.curation, c.list.resultKey, bytes) !== undefined;
}

/** How many cases the byte path itself answered (rather than handing them to the parsed path). */
function tookBytePath(c: Case, bytes: Buffer): boolean {
  const rt = runtimeOf(c);
  return filterListBytes(bytes, c.id, c.list, rt.curation, undefined) !== undefined;
}

const clean = fc.record({ ws: fc.constant(0), escape: fc.constant(0), dup: fc.constant(0) });
const messy = fc.record({ ws: fc.double({ min: 0, max: 0.5, noNaN: true }), escape: fc.double({ min: 0, max: 0.3, noNaN: true }), dup: fc.constantFrom(0, 0, 0.1) });

describe('list answers filtered on their bytes', () => {
  it('send what the parsed path sends: random lists, curation and policies, compact JSON', () => {
    let fast = 0;
    let remembered = 0;
    let all = 0;
    fc.assert(
      fc.property(caseArb(clean), (c) => {
        const bytes = Buffer.from(c.body);
        agree(c, bytes, 'json', Buffer.from(c.primer));
        all++;
        if (tookBytePath(c, bytes)) fast++;
        if (rememberedAfter(c, Buffer.from(c.primer), bytes)) remembered++;
      }),
      { numRuns: 1500 },
    );
    // The property means little if the byte path always handed the body over.
    assert.ok(fast > all / 3, `byte path taken in ${fast} of ${all} cases`);
    assert.ok(remembered > all / 6, `remembered in ${remembered} of ${all} cases`);
  });

  it('…with random whitespace, \\u escapes (names too), duplicate keys and number spellings', () => {
    fc.assert(fc.property(caseArb(messy), (c) => agree(c, Buffer.from(c.body), 'json', Buffer.from(c.primer))), { numRuns: 1500 });
  });

  it('…with the bytes corrupted: replaced, inserted or deleted (invalid JSON, invalid UTF-8)', () => {
    const edit = fc.record({ at: fc.nat(), op: fc.constantFrom('set', 'insert', 'delete'), byte: fc.oneof(fc.constantFrom(0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x20, 0x00, 0x80, 0xc3, 0xed, 0xff), fc.nat(255)) });
    fc.assert(
      fc.property(caseArb(messy), fc.array(edit, { minLength: 1, maxLength: 3 }), (c, edits) => {
        const b = [...Buffer.from(c.body)];
        for (const e of edits) {
          const at = e.at % (b.length + 1);
          if (e.op === 'set' && at < b.length) b[at] = e.byte;
          else if (e.op === 'insert') b.splice(at, 0, e.byte);
          else b.splice(at, 1);
        }
        agree(c, Buffer.from(b));
        // …and after the intact answer under another id was remembered.
        agree(c, Buffer.from(b), 'json', Buffer.from(c.primer));
      }),
      { numRuns: 1500 },
    );
  });

  it('…in an SSE event', () => {
    fc.assert(
      fc.property(caseArb(messy), (c) => {
        // A line break in the JSON's whitespace starts another data line (joined with "\n" by the reader).
        const sse = (body: string) => Buffer.from(`event: message\nid: 7\n${body.split(/\r\n|\r|\n/).map((l) => `data: ${l}`).join('\n')}\n\n`);
        agree(c, sse(c.body), 'sse', sse(c.primer));
      }),
      { numRuns: 500 },
    );
  });

  const rt = runtimeOf({ allow: ['tool-00?', 'echo'], deny: [], policy: 0 });
  const filter = (body: string, id: JsonRpcId = 1) => filterListBytes(Buffer.from(body), id, TOOLS, rt.curation, undefined);
  const names = (out: ReturnType<typeof filter>, body: string) => (JSON.parse(out?.body?.toString() ?? body).result.tools as { name: string }[]).map((t) => t.name);

  it('decodes escapes in names before matching: "tool\\u002d000" is tool-000', () => {
    const body = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"tool\\u002d000"},{"name":"tool\\u002d100"},{"name":"\\u0065cho"}]}}';
    const out = filter(body);
    assert.deepEqual(names(out, body), ['tool-000', 'echo']);
    assert.deepEqual([out?.returned, out?.visible], [3, 2]);
    // Kept items are copied as they were, escapes and all.
    assert.ok(out!.body!.toString().includes('"tool\\u002d000"'));
  });

  it('reads only the item\'s own name: not "name" inside inputSchema, not a nested "tools"', () => {
    const body =
      '{"jsonrpc":"2.0","id":1,"result":{"_meta":{"tools":[{"name":"tool-100"}]},"tools":[{"inputSchema":{"properties":{"name":{"type":"string","default":"echo"}}},"name":"tool-100"},{"name":"tool-001","inputSchema":{"name":"tool-100"}}]}}';
    const out = filter(body);
    assert.deepEqual(names(out, body), ['tool-001']);
    assert.ok(out!.body!.toString().includes('"_meta":{"tools":[{"name":"tool-100"}]}'), 'other members pass unchanged');
  });

  it('hands to the parsed path what it must not judge alone', () => {
    const wrap = (tools: string, extra = '') => `{"jsonrpc":"2.0","id":1${extra},"result":{"tools":${tools}}}`;
    for (const [why, body] of [
      ['a duplicate name in an item', wrap('[{"name":"tool-000","name":"tool-100"}]')],
      ['a duplicate key deep inside an item', wrap('[{"name":"tool-000","inputSchema":{"type":"object","type":"string"}}]')],
      ['a duplicate "tools"', '{"jsonrpc":"2.0","id":1,"result":{"tools":[],"tools":[{"name":"tool-100"}]}}'],
      ['a duplicate "result"', '{"jsonrpc":"2.0","id":1,"result":{"tools":[]},"result":{"tools":[{"name":"tool-100"}]}}'],
      ['an escaped key', wrap('[{"n\\u0061me":"tool-100"}]')],
      ['an escaped "tools"', '{"jsonrpc":"2.0","id":1,"result":{"t\\u006fols":[{"name":"tool-100"}]}}'],
      ['invalid UTF-8', wrap('[{"name":"tool-000","description":"\xff"}]')],
      ['-0, which JSON.stringify writes as 0', wrap('[{"name":"tool-000","x":-0}]')],
      ['1e400, which JSON.stringify writes as null', wrap('[{"name":"tool-000","x":1e400}]')],
      ['a method', wrap('[]', ',"method":"x"')],
      ['another id', wrap('[]').replace('"id":1', '"id":"1"')],
      ['no id', '{"jsonrpc":"2.0","result":{"tools":[]}}'],
      ['a batch', `[${wrap('[]')}]`],
      ['trailing bytes', `${wrap('[]')}x`],
      ['a byte-order mark', `\ufeff${wrap('[]')}`],
      ['a raw control character in a string', wrap('[{"name":"tool\u0001"}]')],
      ['nesting beyond the limit', wrap(`[{"name":"tool-000","x":${'['.repeat(70)}${']'.repeat(70)}}]`)],
    ] as const) {
      const bytes = why === 'invalid UTF-8' ? Buffer.from(body, 'latin1') : Buffer.from(body);
      assert.equal(filterListBytes(bytes, 1, TOOLS, rt.curation, undefined), undefined, why);
    }
  });

  it('passes the body as it is when every item is visible, and finds the item bytes exactly', () => {
    const body = ' { "id" : 1 , "result" : { "tools" : [ { "name" : "echo" } , 5 , { "name" : "tool-001" , "d" : [1, {"a": null}] } ] } } ';
    const scanned = scanListAnswer(Buffer.from(body), 'tools', 'name')!;
    assert.deepEqual(
      scanned.list!.items.map((i) => [body.slice(i.start, i.end), i.name]),
      [
        ['{ "name" : "echo" }', 'echo'],
        ['5', undefined],
        ['{ "name" : "tool-001" , "d" : [1, {"a": null}] }', 'tool-001'],
      ],
    );
    assert.equal(body.slice(scanned.id!.start, scanned.id!.end), '1');
    assert.deepEqual(filter('{"id":1,"result":{"tools":[{"name":"echo"}]}}'), { body: undefined, returned: 1, visible: 1 });
    assert.deepEqual(names(filter(body), body), ['echo', 'tool-001']);
  });

  it('remembers the last answer: the same bytes under another id are not scanned again, anything else is', () => {
    const { curation } = runtimeOf({ allow: ['tool-00?', 'echo'], deny: [], policy: 0 });
    const answer = (id: string) => `{"result":{"tools":[{"name":"tool-001"},{"name":"tool-100"}]},"jsonrpc":"2.0","id":${id}}`;
    const first = filterListBytes(Buffer.from(answer('1')), 1, TOOLS, curation, undefined);
    assert.deepEqual(JSON.parse(first!.body!.toString()), { result: { tools: [{ name: 'tool-001' }] }, jsonrpc: '2.0', id: 1 });
    for (const [id, want] of [
      ['12345', 12345],
      ['"s"', 's'],
      ['"a\\"b"', 'a"b'],
    ] as const) {
      const body = Buffer.from(answer(id));
      assert.ok(recall(curation, 'tools', body), `${id}: remembered`);
      assert.deepEqual(JSON.parse(filterListBytes(body, want, TOOLS, curation, undefined)!.body!.toString()).id, want);
    }
    // Not one token where the id was: a member smuggled in, a duplicate result, an object; another list.
    for (const id of ['1,"result":{"tools":[{"name":"tool-100"}]}', '1,"x":2', '{"a":1}', '1 ', '-0', '"\\ud800', '01']) {
      assert.equal(recall(curation, 'tools', Buffer.from(answer(id))), undefined, id);
    }
    assert.equal(filterListBytes(Buffer.from(answer('1,"result":{"tools":[{"name":"tool-100"}]}')), 1, TOOLS, curation, undefined), undefined, 'a duplicate result goes the parsed way');
    assert.equal(recall(curation, 'tools', Buffer.from(answer('2').replace('tool-100', 'tool-101'))), undefined, 'another list');
    assert.equal(recall(curation, 'prompts', Buffer.from(answer('2'))), undefined, 'another result key');
    assert.equal(recall(runtimeOf({ allow: ['*'], deny: [], policy: 0 }).curation, 'tools', Buffer.from(answer('2'))), undefined, 'another curation (a reload)');
  });

  it(`remembers the last ${REMEMBERED_ANSWERS} answers per server and list (the pages of a list)`, () => {
    const { curation } = runtimeOf({ allow: ['tool-00?'], deny: [], policy: 0 });
    const page = (n: number, id: number) => Buffer.from(`{"result":{"tools":[{"name":"tool-00${n}"},{"name":"x"}],"nextCursor":"${n + 1}"},"jsonrpc":"2.0","id":${id}}`);
    for (let n = 0; n <= REMEMBERED_ANSWERS; n++) filterListBytes(page(n, 1), 1, TOOLS, curation, undefined);
    assert.equal(recall(curation, 'tools', page(0, 2)), undefined, 'the oldest is forgotten');
    for (let n = 1; n <= REMEMBERED_ANSWERS; n++) {
      assert.ok(recall(curation, 'tools', page(n, 2)), `page ${n}`);
      assert.deepEqual(JSON.parse(filterListBytes(page(n, 2), 2, TOOLS, curation, undefined)!.body!.toString()).result, { tools: [{ name: `tool-00${n}` }], nextCursor: String(n + 1) });
    }
  });

  it('asks the policy once, about the curated names only', () => {
    const asked: string[][] = [];
    const body = '{"id":1,"result":{"tools":[{"name":"tool-001"},{"name":"tool-100"},{"name":"echo"}]}}';
    const out = filterListBytes(Buffer.from(body), 1, TOOLS, rt.curation, (n) => (asked.push(n), new Set(['echo'])));
    assert.deepEqual(asked, [['tool-001', 'echo']]);
    assert.deepEqual(names(out, body), ['echo']);
  });
});
