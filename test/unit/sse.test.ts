import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SseFramer, serializeSseEvent, type SseBlock, type SseEvent } from '../../src/mcp/sse.js';

const enc = new TextEncoder();
const BOM = [0xef, 0xbb, 0xbf];

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Feeds `input` cut at `cuts`; returns every block and the end() tail. */
function frame(input: Uint8Array, cuts: number[] = []): { blocks: SseBlock[]; tail: Uint8Array; pendingBeforeEnd: number } {
  const framer = new SseFramer();
  const blocks: SseBlock[] = [];
  let prev = 0;
  for (const c of [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b).concat(input.length)) {
    blocks.push(...framer.push(input.subarray(prev, c)));
    prev = c;
  }
  const pendingBeforeEnd = framer.pendingBytes;
  const tail = framer.end();
  assert.equal(framer.pendingBytes, 0);
  return { blocks, tail, pendingBeforeEnd };
}

const ev = (e: Partial<SseEvent>): SseEvent => ({ event: undefined, data: '', id: undefined, retry: undefined, hasData: false, ...e });

/**
 * The WHATWG algorithm applied to the whole stream at once, as an oracle: one entry per blank
 * line, holding what the framer must report for that block.
 */
function reference(bytes: Uint8Array): (SseEvent | undefined)[] {
  const text = new TextDecoder().decode(bytes); // the spec's "UTF-8 decode": replacement chars, leading BOM dropped
  const out: (SseEvent | undefined)[] = [];
  let cur: SseEvent | undefined;
  const re = /([^\r\n]*)(\r\n|\r|\n)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const line = m[1]!;
    if (line === '') {
      out.push(cur);
      cur = undefined;
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    const e = cur ?? ev({});
    if (name === 'data') {
      e.data = e.hasData ? `${e.data}\n${value}` : value;
      e.hasData = true;
    } else if (name === 'event') e.event = value;
    else if (name === 'id' && !value.includes('\0')) e.id = value;
    else if (name === 'retry' && /^[0-9]+$/.test(value) && Number.isSafeInteger(Number(value))) e.retry = Number(value);
    else continue; // an ignored field: the block stays without an event
    cur = e;
  }
  return out;
}

// ---- generators --------------------------------------------------------------

/** Field values: no line breaks; non-ASCII, emoji, colons and leading spaces included. */
const value = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('a', ' ', ':', 'é', '😀', '\t', '\0', '{', '"'), maxLength: 8 }),
).map((s) => s.replace(/[\r\n]/g, ''));

type GenBlock = { lines: string[]; expected: SseEvent | undefined };

function fieldLine(name: string, v: string, style: number): string {
  if (v.startsWith(' ')) return `${name}: ${v}`; // the one optional space would be stripped otherwise
  if (v === '') return [name, `${name}:`, `${name}: `][style % 3]!;
  return style % 2 === 0 ? `${name}:${v}` : `${name}: ${v}`;
}

const comment = value.map((v) => `:${v}`);

const eventBlock: fc.Arbitrary<GenBlock> = fc
  .record({
    event: fc.option(value, { nil: undefined }),
    id: fc.option(value.map((v) => v.replaceAll('\0', '')), { nil: undefined }),
    retry: fc.option(fc.nat(), { nil: undefined }),
    data: fc.option(fc.array(value, { minLength: 1, maxLength: 4 }), { nil: undefined }),
    comments: fc.array(comment, { maxLength: 2 }),
    unknown: fc.option(value.map((v) => `x-unknown:${v}`), { nil: undefined }),
    style: fc.nat(),
  })
  .map(({ event, id, retry, data, comments, unknown, style }) => {
    const lines: string[] = [...comments];
    if (event !== undefined) lines.push(fieldLine('event', event, style));
    if (id !== undefined) lines.push(fieldLine('id', id, style >> 2));
    if (unknown !== undefined) lines.push(unknown);
    for (const d of data ?? []) lines.push(fieldLine('data', d, style >> 4));
    if (retry !== undefined) lines.push(`retry:${retry}`);
    const any = event !== undefined || id !== undefined || retry !== undefined || data !== undefined;
    const expected = any ? ev({ event, id, retry, data: (data ?? []).join('\n'), hasData: data !== undefined }) : undefined;
    return { lines, expected };
  });

const commentBlock: fc.Arbitrary<GenBlock> = fc.array(comment, { minLength: 1, maxLength: 3 }).map((lines) => ({ lines, expected: undefined }));
const emptyBlock: fc.Arbitrary<GenBlock> = fc.constant({ lines: [], expected: undefined });
const block = fc.oneof({ weight: 6, arbitrary: eventBlock }, { weight: 1, arbitrary: commentBlock }, { weight: 1, arbitrary: emptyBlock });

const ending = fc.constantFrom('\n', '\r\n', '\r');

/** A stream: blocks, then maybe an unterminated tail, with random line endings. */
const stream = fc
  .record({
    bom: fc.boolean(),
    blocks: fc.array(block, { maxLength: 6 }),
    tail: fc.array(value.map((v) => `data: ${v}`), { maxLength: 2 }),
    endings: fc.array(ending, { minLength: 64, maxLength: 64 }),
  })
  .map(({ bom, blocks, tail, endings }) => {
    let k = 0;
    let prev = '';
    const lineEnd = (line: string): string => {
      let e = endings[k++ % endings.length]!;
      // CR then an empty LF-terminated line would read as one CRLF: the blank line would vanish.
      if (prev === '\r' && line === '' && e === '\n') e = '\r\n';
      prev = e;
      return e;
    };
    const blockTexts = blocks.map((b) => {
      let t = '';
      for (const l of b.lines) t += l + lineEnd(l);
      return t + lineEnd('');
    });
    let tailText = '';
    tail.forEach((l, i) => (tailText += l + (i < tail.length - 1 ? lineEnd(l) : '')));
    const blockBytes = blockTexts.map((t) => enc.encode(t));
    if (bom && blockBytes.length > 0) blockBytes[0] = new Uint8Array([...BOM, ...blockBytes[0]!]);
    const tailBytes = enc.encode(tailText);
    return { input: concat([...blockBytes, tailBytes]), blockBytes, tailBytes, expected: blocks.map((b) => b.expected) };
  });

const cuts = (maxLen = 400) => fc.array(fc.nat({ max: maxLen }), { maxLength: 12 });

// ---- tests ---------------------------------------------------------------------

describe('SseFramer: round trip under arbitrary chunking', () => {
  it('re-emits the exact bytes and parses the original events, wherever chunks split', () => {
    fc.assert(
      fc.property(stream, cuts(), ({ input, tailBytes, expected }, cutAt) => {
        const { blocks, tail, pendingBeforeEnd } = frame(input, cutAt);
        assert.deepStrictEqual(concat([...blocks.map((b) => b.bytes), tail]), input);
        assert.deepStrictEqual(
          blocks.map((b) => b.event),
          expected,
        );
        assert.equal(pendingBeforeEnd, tail.length);
        // The tail is the unterminated lines (plus, at most, the LF of a CRLF split across chunks).
        assert.ok(tail.length === tailBytes.length || tail.length === tailBytes.length + 1);
        assert.deepStrictEqual(tail.subarray(tail.length - tailBytes.length), tailBytes);
      }),
      { numRuns: 1000 },
    );
  });

  it('gives each block exactly its own bytes when the stream arrives whole', () => {
    fc.assert(
      fc.property(stream, ({ input, blockBytes, tailBytes }) => {
        const { blocks, tail } = frame(input);
        assert.deepStrictEqual(
          blocks.map((b) => b.bytes),
          blockBytes,
        );
        assert.deepStrictEqual(tail, tailBytes);
      }),
      { numRuns: 300 },
    );
  });

  it('survives 1-byte chunks', () => {
    fc.assert(
      fc.property(stream, ({ input, expected }) => {
        const framer = new SseFramer();
        const blocks: SseBlock[] = [];
        for (let i = 0; i < input.length; i++) blocks.push(...framer.push(input.subarray(i, i + 1)));
        const tail = framer.end();
        assert.deepStrictEqual(concat([...blocks.map((b) => b.bytes), tail]), input);
        assert.deepStrictEqual(
          blocks.map((b) => b.event),
          expected,
        );
      }),
      { numRuns: 200 },
    );
  });

  it('matches the WHATWG algorithm on byte soup (odd line endings, BOMs, NUL, broken UTF-8)', () => {
    const piece = fc.constantFrom<number[]>(
      [0x0a], [0x0d], [0x0d, 0x0a], [0x3a], [0x20], [0x00], [0x31], [0x78], BOM, [0xef, 0xbb], [0xff], [0xe2, 0x82], [0xf0, 0x9f, 0x98, 0x80],
      [...enc.encode('data')], [...enc.encode('event')], [...enc.encode('id')], [...enc.encode('retry')],
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), cuts(120), (pieces, cutAt) => {
        const input = new Uint8Array(pieces.flat());
        const { blocks, tail } = frame(input, cutAt);
        assert.deepStrictEqual(concat([...blocks.map((b) => b.bytes), tail]), input);
        assert.deepStrictEqual(
          blocks.map((b) => b.event),
          reference(input),
        );
      }),
      { numRuns: 3000 },
    );
  });
});

describe('SseFramer: field rules', () => {
  const cases: [string, string, (SseEvent | undefined)[]][] = [
    ['one data line', 'data: a\n\n', [ev({ data: 'a', hasData: true })]],
    ['data lines joined with LF, empty ones kept', 'data:a\ndata: b\ndata\ndata:\n\n', [ev({ data: 'a\nb\n\n', hasData: true })]],
    ['only one leading space removed', 'data:  two\n\n', [ev({ data: ' two', hasData: true })]],
    ['value split at the first colon only', 'data: a:b: c\n\n', [ev({ data: 'a:b: c', hasData: true })]],
    ['comment-only block', ': keep-alive\n\n', [undefined]],
    ['blank lines are empty blocks', '\n\n\r\n', [undefined, undefined, undefined]],
    ['event without data (not dispatched by browsers)', 'event: ping\n\n', [ev({ event: 'ping' })]],
    ['last event/id win', 'event: a\nevent: b\nid: 1\nid: 2\ndata: x\n\n', [ev({ event: 'b', id: '2', data: 'x', hasData: true })]],
    ['empty id resets', 'id\ndata: x\n\n', [ev({ id: '', data: 'x', hasData: true })]],
    ['id with NUL ignored', 'id: a\0b\ndata: x\n\n', [ev({ data: 'x', hasData: true })]],
    ['id with NUL alone is no field', 'id: a\0b\n\n', [undefined]],
    ['retry with digits', 'retry: 1500\n\n', [ev({ retry: 1500 })]],
    ['retry with non-digits ignored', 'retry: 10a\ndata: x\n\n', [ev({ data: 'x', hasData: true })]],
    ['negative retry ignored', 'retry: -1\n\n', [undefined]],
    ['retry in exponent or hex form ignored', 'retry: 1e3\n\nretry: 0x10\n\nretry: 1.5\n\n', [undefined, undefined, undefined]],
    ['empty retry ignored', 'retry:\n\n', [undefined]],
    ['non-ASCII digits ignored', 'retry: ١٢\n\n', [undefined]],
    ['retry beyond 2^53 ignored', 'retry: 99999999999999999999\n\n', [undefined]],
    ['field names are case-sensitive', 'Data: x\n\n', [undefined]],
    ['a space before the colon makes another field', 'data : x\n\n', [undefined]],
    ['unknown fields ignored', 'foo: bar\n\n', [undefined]],
    ['CR line endings', 'data: a\rdata: b\r\r', [ev({ data: 'a\nb', hasData: true })]],
    ['CRLF line endings', 'event: e\r\ndata: a\r\n\r\n', [ev({ event: 'e', data: 'a', hasData: true })]],
    ['mixed line endings', 'data: a\rdata: b\r\ndata: c\n\r\n', [ev({ data: 'a\nb\nc', hasData: true })]],
    ['non-ASCII and emoji data', 'data: héllo 😀 世界\n\n', [ev({ data: 'héllo 😀 世界', hasData: true })]],
    ['JSON-RPC payload', 'event: message\nid: 7\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n', [ev({ event: 'message', id: '7', data: '{"jsonrpc":"2.0","id":1,"result":{}}', hasData: true })]],
  ];
  for (const [name, text, expected] of cases) {
    it(name, () => {
      const input = enc.encode(text);
      const { blocks, tail } = frame(input);
      assert.deepStrictEqual(
        blocks.map((b) => b.event),
        expected,
      );
      assert.equal(tail.length, 0);
      assert.deepStrictEqual(reference(input), expected, 'the oracle agrees');
    });
  }

  it('parses the same at every single split point (including inside UTF-8 characters)', () => {
    const input = enc.encode('event: ü\r\nid: 😀\r\ndata: 世界\r\ndata: {"a":"é"}\r\n\r\n');
    for (let i = 0; i <= input.length; i++) {
      const { blocks } = frame(input, [i]);
      assert.deepStrictEqual(
        blocks.map((b) => b.event),
        [ev({ event: 'ü', id: '😀', data: '世界\n{"a":"é"}', hasData: true })],
        `split at ${i}`,
      );
    }
  });
});

describe('SseFramer: CR at the end of a chunk', () => {
  it('does not read a CRLF split across chunks as two line ends', () => {
    const f = new SseFramer();
    const first = f.push(enc.encode('data: x\r\n\r'));
    assert.equal(first.length, 1, 'the block ends at the CR, without waiting for the next chunk');
    assert.deepStrictEqual(first[0]!.event, ev({ data: 'x', hasData: true }));
    assert.deepStrictEqual(first[0]!.bytes, enc.encode('data: x\r\n\r'));
    const second = f.push(enc.encode('\ndata: y\r\n\r\n'));
    assert.equal(second.length, 1, 'the LF completes the CRLF; it is no extra blank line');
    assert.deepStrictEqual(second[0]!.event, ev({ data: 'y', hasData: true }));
    assert.deepStrictEqual(second[0]!.bytes, enc.encode('\ndata: y\r\n\r\n'));
    assert.equal(f.end().length, 0);
  });

  it('joins a CR ending a field line with the LF that starts the next chunk', () => {
    const f = new SseFramer();
    assert.equal(f.push(enc.encode('data: x\r')).length, 0);
    assert.equal(f.push(enc.encode('\n')).length, 0, 'CR LF is one line end: no blank line yet');
    const blocks = f.push(enc.encode('\n'));
    assert.equal(blocks.length, 1);
    assert.deepStrictEqual(blocks[0]!.bytes, enc.encode('data: x\r\n\n'));
  });

  it('treats a CR at a chunk end followed by another CR as two line ends', () => {
    const f = new SseFramer();
    assert.equal(f.push(enc.encode('data: x\r')).length, 0);
    const blocks = f.push(enc.encode('\rdata: y\r\r'));
    assert.deepStrictEqual(
      blocks.map((b) => b.event?.data),
      ['x', 'y'],
    );
  });

  it('holds a lone LF after a block-ending CR as pending bytes', () => {
    const f = new SseFramer();
    assert.equal(f.push(enc.encode('data: x\r\r')).length, 1);
    assert.equal(f.push(enc.encode('\n')).length, 0);
    assert.equal(f.pendingBytes, 1);
    assert.deepStrictEqual(f.end(), enc.encode('\n'));
  });
});

describe('SseFramer: byte order mark', () => {
  it('ignores a BOM at the start of the stream but keeps its bytes', () => {
    const input = new Uint8Array([...BOM, ...enc.encode('data: x\n\n')]);
    const { blocks } = frame(input);
    assert.equal(blocks.length, 1);
    assert.deepStrictEqual(blocks[0]!.event, ev({ data: 'x', hasData: true }));
    assert.deepStrictEqual(blocks[0]!.bytes, input);
  });

  it('recognises a BOM split across chunks', () => {
    const f = new SseFramer();
    assert.equal(f.push(new Uint8Array([0xef])).length, 0);
    assert.equal(f.push(new Uint8Array([0xbb])).length, 0);
    const blocks = f.push(new Uint8Array([0xbf, ...enc.encode('data: x\n\n')]));
    assert.deepStrictEqual(
      blocks.map((b) => b.event),
      [ev({ data: 'x', hasData: true })],
    );
  });

  it('treats BOM + LF as a blank line', () => {
    const { blocks } = frame(new Uint8Array([...BOM, 0x0a, ...enc.encode('data: y\n\n')]), [1, 2]);
    assert.deepStrictEqual(
      blocks.map((b) => b.bytes),
      [new Uint8Array([...BOM, 0x0a]), enc.encode('data: y\n\n')],
    );
    assert.deepStrictEqual(
      blocks.map((b) => b.event),
      [undefined, ev({ data: 'y', hasData: true })],
    );
  });

  it('treats a BOM later in the stream, or an incomplete one, as ordinary bytes', () => {
    const later = frame(new Uint8Array([...enc.encode('data: a\n\n'), ...BOM, ...enc.encode('data: b\n\n')]));
    assert.deepStrictEqual(
      later.blocks.map((b) => b.event),
      [ev({ data: 'a', hasData: true }), undefined],
    );
    const partial = frame(new Uint8Array([0xef, 0xbb, ...enc.encode('\ndata: c\n\n')]), [1, 2]);
    assert.deepStrictEqual(
      partial.blocks.map((b) => b.event),
      [ev({ data: 'c', hasData: true })],
      'the partial BOM is line content, so its LF is no blank line',
    );
  });
});

describe('SseFramer: holding back', () => {
  it('reports pending bytes and returns the tail at end()', () => {
    const f = new SseFramer();
    assert.equal(f.push(enc.encode('data: partial')).length, 0);
    assert.equal(f.pendingBytes, 13);
    assert.equal(f.push(enc.encode('\n')).length, 0);
    assert.equal(f.pendingBytes, 14);
    assert.equal(f.push(enc.encode('\n')).length, 1);
    assert.equal(f.pendingBytes, 0);
    f.push(enc.encode('id: 1\ndata: unfinished'));
    assert.deepStrictEqual(f.end(), enc.encode('id: 1\ndata: unfinished'));
    assert.equal(f.pendingBytes, 0);
    assert.equal(f.end().length, 0);
  });

  it('returns views into the pushed chunk for blocks that lie within it', () => {
    const chunk = enc.encode('data: a\n\ndata: b\n\n');
    const blocks = new SseFramer().push(chunk);
    assert.equal(blocks.length, 2);
    for (const b of blocks) assert.equal(b.bytes.buffer, chunk.buffer);
    assert.equal(blocks[1]!.bytes.byteOffset, 9);
  });

  it('ignores empty chunks', () => {
    const f = new SseFramer();
    f.push(enc.encode('data: x\r'));
    assert.equal(f.push(new Uint8Array(0)).length, 0);
    assert.equal(f.push(enc.encode('\n\n')).length, 1, 'the CR state survives an empty chunk');
  });

  it('stays linear: a 512 KiB event in 1-byte chunks', () => {
    const input = enc.encode(`data: ${'x'.repeat(512 * 1024)}\n\n`);
    const f = new SseFramer();
    const start = performance.now();
    let blocks: SseBlock[] = [];
    for (let i = 0; i < input.length; i++) {
      const out = f.push(input.subarray(i, i + 1));
      if (out.length) blocks = out;
    }
    const ms = performance.now() - start;
    assert.equal(blocks.length, 1);
    assert.equal(blocks[0]!.event!.data.length, 512 * 1024);
    assert.ok(ms < 5000, `took ${ms} ms`);
  });
});

describe('serializeSseEvent', () => {
  it('writes data lines and a blank line', () => {
    assert.equal(serializeSseEvent({ data: 'x' }), 'data: x\n\n');
    assert.equal(serializeSseEvent({ data: '' }), 'data: \n\n');
    assert.equal(serializeSseEvent({ data: 'a\nb\r\nc\rd' }), 'data: a\ndata: b\ndata: c\ndata: d\n\n');
    assert.equal(serializeSseEvent({ data: 'a\n' }), 'data: a\ndata: \n\n');
  });

  it('writes event, id and retry before the data', () => {
    assert.equal(serializeSseEvent({ event: 'message', id: '42', retry: 1000, data: '{}' }), 'event: message\nid: 42\nretry: 1000\ndata: {}\n\n');
    assert.equal(serializeSseEvent({ id: '', data: 'x' }), 'id: \ndata: x\n\n');
  });

  it('refuses what SSE cannot carry', () => {
    assert.throws(() => serializeSseEvent({ event: 'a\nb', data: '' }), TypeError);
    assert.throws(() => serializeSseEvent({ id: 'a\rb', data: '' }), TypeError);
    assert.throws(() => serializeSseEvent({ id: 'a\0b', data: '' }), TypeError);
    assert.throws(() => serializeSseEvent({ retry: -1, data: '' }), TypeError);
    assert.throws(() => serializeSseEvent({ retry: 1.5, data: '' }), TypeError);
  });

  it('round-trips through the framer (line breaks in data become LF)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.option(value, { nil: undefined }),
        fc.option(value.map((v) => v.replaceAll('\0', '')), { nil: undefined }),
        fc.option(fc.nat(), { nil: undefined }),
        (data, event, id, retry) => {
          const text = serializeSseEvent({ data, ...(event !== undefined && { event }), ...(id !== undefined && { id }), ...(retry !== undefined && { retry }) });
          const { blocks, tail } = frame(enc.encode(text));
          assert.equal(tail.length, 0);
          assert.deepStrictEqual(
            blocks.map((b) => b.event),
            [ev({ event, id, retry, data: data.replace(/\r\n|\r/g, '\n'), hasData: true })],
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});
