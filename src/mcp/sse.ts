// Incremental Server-Sent Events framing for a proxy that inspects events and re-emits them.
//
// Parsing follows the WHATWG "event stream interpretation" rules. Framing works on bytes:
// block boundaries are found without decoding (line terminators are ASCII, so they never
// occur inside a multi-byte UTF-8 character), and only complete blocks are decoded, so a
// chunk may end anywhere, even inside a character.

export interface SseEvent {
  /** The last `event:` value in the block; undefined when none (the type is then "message"). */
  event: string | undefined;
  /** The `data:` lines joined with "\n" ("" when there were none). */
  data: string;
  /** The last `id:` value in the block ("" resets the last event id); ids containing NUL are ignored. */
  id: string | undefined;
  /** The last `retry:` value made only of ASCII digits (and within the safe integer range). */
  retry: number | undefined;
  /** Whether the block had a `data` field, i.e. whether a browser would dispatch an event. */
  hasData: boolean;
}

export interface SseBlock {
  /**
   * The exact original bytes of the block, including the blank line that ends it. Concatenating
   * every block's bytes and the final end() gives back the stream byte for byte. When a CRLF is
   * split across chunks and its CR ends a block, the LF is carried by the next block's bytes
   * (the block is emitted without waiting for a chunk that may come much later).
   */
  bytes: Uint8Array;
  /** Undefined for blocks with no effective field: blank, comment-only or unknown fields only. */
  event: SseEvent | undefined;
}

const LF = 0x0a;
const CR = 0x0d;
const BOM = [0xef, 0xbb, 0xbf] as const;

// Not fatal: SSE decodes with replacement characters. ignoreBOM: only the BOM at the very start
// of the stream is dropped (the framer does that); by default the decoder would strip one at the
// start of every block it decodes.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Splits an SSE byte stream into whole blocks (the lines up to and including a blank line).
 *
 * Zero-copy where it can be: a block that lies within one chunk is a view into that chunk, and
 * held-back bytes are kept as views until their block completes (then copied once). So a pushed
 * chunk must not be modified afterwards.
 */
export class SseFramer {
  /** Views of the bytes of the incomplete block, in order. */
  #pieces: Uint8Array[] = [];
  #pendingLen = 0;
  /** The current (unterminated) line has a byte other than a stream-start BOM. */
  #lineHasContent = false;
  /** The last byte pushed was a CR: a LF first in the next chunk completes that CRLF. */
  #afterCR = false;
  /** BOM bytes matched so far at the start of the stream; -1 once decided. */
  #bomMatched = 0;
  /** The pending block starts with the stream's BOM, which is not part of its text. */
  #skipBom = false;

  /** Bytes held back waiting for the end of their block (so the caller can cap them). */
  get pendingBytes(): number {
    return this.#pendingLen;
  }

  /** Feeds the next chunk; returns the blocks it completes, in order. */
  push(chunk: Uint8Array): SseBlock[] {
    const out: SseBlock[] = [];
    const n = chunk.length;
    if (n === 0) return out;
    let i = 0;
    if (this.#afterCR) {
      // Completes the CRLF. If that CR ended a block, this LF opens the next block's bytes,
      // where parseBlock reads it as an empty line, which it skips.
      this.#afterCR = false;
      if (chunk[0] === LF) i = 1;
    }
    if (this.#bomMatched >= 0) i = this.#matchBom(chunk, i);

    let content = this.#lineHasContent;
    let blockStart = 0;
    // Next LF / CR at or after i: found natively, reused until passed (-1: none left), so the
    // chunk is searched once in all instead of byte by byte in JS.
    let nextLF = -2;
    let nextCR = -2;
    for (; i < n; i++) {
      if (nextLF !== -1 && nextLF < i) nextLF = chunk.indexOf(LF, i);
      if (nextCR !== -1 && nextCR < i) nextCR = chunk.indexOf(CR, i);
      const eol = earliest(nextLF, nextCR, n);
      if (eol > i) {
        content = true;
        if (eol === n) break;
        i = eol;
      }
      if (chunk[i] === CR) {
        if (i + 1 === n) this.#afterCR = true;
        else if (chunk[i + 1] === LF) i++; // CRLF is one line end
      }
      if (content) {
        content = false;
        continue;
      }
      // A blank line: the block ends here.
      out.push(this.#complete(chunk, blockStart, i + 1));
      blockStart = i + 1;
    }
    this.#lineHasContent = content;
    if (blockStart < n) {
      this.#pieces.push(blockStart === 0 ? chunk : chunk.subarray(blockStart));
      this.#pendingLen += n - blockStart;
    }
    return out;
  }

  /** At end of stream: the incomplete tail (possibly empty), which SSE discards unparsed. Resets the framer. */
  end(): Uint8Array {
    const pieces = this.#pieces;
    const tail = pieces.length === 1 ? pieces[0]! : concat(pieces, this.#pendingLen, undefined);
    this.#pieces = [];
    this.#pendingLen = 0;
    this.#lineHasContent = false;
    this.#afterCR = false;
    this.#bomMatched = 0;
    this.#skipBom = false;
    return tail;
  }

  /** Matches a UTF-8 BOM at the start of the stream (it may be split across chunks); returns where scanning resumes. */
  #matchBom(chunk: Uint8Array, i: number): number {
    let k = this.#bomMatched;
    for (; i < chunk.length; i++, k++) {
      if (k === BOM.length) break;
      if (chunk[i] !== BOM[k]) {
        // Not a BOM: bytes taken as its start are ordinary line content.
        if (k > 0) this.#lineHasContent = true;
        this.#bomMatched = -1;
        return i;
      }
    }
    if (k === BOM.length) {
      this.#skipBom = true;
      this.#bomMatched = -1;
    } else {
      this.#bomMatched = k;
    }
    return i;
  }

  #complete(chunk: Uint8Array, start: number, end: number): SseBlock {
    let bytes: Uint8Array;
    if (this.#pendingLen === 0) {
      bytes = chunk.subarray(start, end);
    } else {
      bytes = concat(this.#pieces, this.#pendingLen + end - start, chunk.subarray(start, end));
      this.#pieces.length = 0;
      this.#pendingLen = 0;
    }
    const text = this.#skipBom ? bytes.subarray(BOM.length) : bytes;
    this.#skipBom = false;
    return { bytes, event: parseBlock(text) };
  }
}

function concat(pieces: Uint8Array[], total: number, last: Uint8Array | undefined): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of pieces) {
    out.set(p, off);
    off += p.length;
  }
  if (last !== undefined) out.set(last, off);
  return out;
}

/**
 * Interprets one complete block: field lines ending in a blank line. Empty lines are skipped: the
 * only one before the end is a LF completing a CRLF whose CR ended the previous block.
 */
function parseBlock(bytes: Uint8Array): SseEvent | undefined {
  const s = decoder.decode(bytes);
  const n = s.length;
  let event: string | undefined;
  let id: string | undefined;
  let retry: number | undefined;
  let data = '';
  let hasData = false;
  let seen = false;
  // Next LF / CR / colon at or after the cursor, found with native indexOf and reused until
  // passed (-1: none left). Reusing them keeps the scan O(n) even for many short lines.
  let nextLF = -2;
  let nextCR = -2;
  let nextColon = -2;
  let i = 0;
  while (i < n) {
    if (nextLF !== -1 && nextLF < i) nextLF = s.indexOf('\n', i);
    if (nextCR !== -1 && nextCR < i) nextCR = s.indexOf('\r', i);
    const eol = earliest(nextLF, nextCR, n);
    if (eol > i && s.charCodeAt(i) !== 0x3a /* ":" starts a comment */) {
      if (nextColon !== -1 && nextColon < i) nextColon = s.indexOf(':', i);
      const colon = nextColon !== -1 && nextColon < eol ? nextColon : eol;
      let valueStart = colon === eol ? eol : colon + 1;
      if (valueStart < eol && s.charCodeAt(valueStart) === 0x20) valueStart++; // one optional space
      switch (colon - i) {
        case 4:
          if (s.startsWith('data', i)) {
            const v = s.slice(valueStart, eol);
            data = hasData ? `${data}\n${v}` : v;
            hasData = seen = true;
          }
          break;
        case 5:
          if (s.startsWith('event', i)) {
            event = s.slice(valueStart, eol);
            seen = true;
          } else if (s.startsWith('retry', i)) {
            const r = parseRetry(s, valueStart, eol);
            if (r !== undefined) {
              retry = r;
              seen = true;
            }
          }
          break;
        case 2:
          if (s.startsWith('id', i)) {
            const v = s.slice(valueStart, eol);
            if (!v.includes('\0')) {
              id = v;
              seen = true;
            }
          }
          break;
      }
    }
    i = eol + (s.charCodeAt(eol) === CR && s.charCodeAt(eol + 1) === LF ? 2 : 1);
  }
  return seen ? { event, data, id, retry, hasData } : undefined;
}

/** The smaller of two indexOf results, ignoring -1; `none` when both are -1. */
function earliest(a: number, b: number, none: number): number {
  if (a === -1) return b === -1 ? none : b;
  return b === -1 || a < b ? a : b;
}

/** A retry value: ASCII digits only; values beyond the safe integer range are ignored too (they cannot be re-emitted exactly). */
function parseRetry(s: string, start: number, end: number): number | undefined {
  if (start === end) return undefined;
  for (let j = start; j < end; j++) {
    const c = s.charCodeAt(j);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  const r = Number(s.slice(start, end));
  return Number.isSafeInteger(r) ? r : undefined;
}

const LINE_BREAK = /\r\n|\r|\n/;

/**
 * One SSE event as text: `event:`, `id:`, `retry:`, then one `data:` line per line of data
 * (CRLF, CR and LF all split lines: SSE cannot carry a CR in data), ending with a blank line.
 * Throws on an event type or id that SSE cannot carry (line breaks, or NUL in an id).
 */
export function serializeSseEvent(ev: { event?: string; data: string; id?: string; retry?: number }): string {
  let out = '';
  if (ev.event !== undefined) {
    if (hasLineBreak(ev.event)) throw new TypeError('SSE event type must not contain CR or LF');
    out += `event: ${ev.event}\n`;
  }
  if (ev.id !== undefined) {
    if (hasLineBreak(ev.id) || ev.id.includes('\0')) throw new TypeError('SSE id must not contain CR, LF or NUL');
    out += `id: ${ev.id}\n`;
  }
  if (ev.retry !== undefined) {
    if (!Number.isSafeInteger(ev.retry) || ev.retry < 0) throw new TypeError(`SSE retry must be a non-negative integer, got ${ev.retry}`);
    out += `retry: ${ev.retry}\n`;
  }
  const data = ev.data;
  if (!hasLineBreak(data)) return `${out}data: ${data}\n\n`;
  for (const line of data.split(LINE_BREAK)) out += `data: ${line}\n`;
  return `${out}\n`;
}

function hasLineBreak(s: string): boolean {
  return s.includes('\n') || s.includes('\r');
}
