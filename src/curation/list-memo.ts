// The last few list answers read on their bytes, per curated server and list: an upstream sends the
// same tools/list bytes again and again (until it changes its tools), only the JSON-RPC id
// differs. A new answer that is byte for byte the remembered one outside the id, with a valid
// id token in its place, is read by shifting the remembered positions instead of scanning
// ~100 kB again; curation's verdict on its names is remembered too (the same Curation, the
// same names). A few answers, not one: the pages of a paginated list, or replicas that differ. Two memcmp calls decide it: exact, no digest whose collisions to argue about.
// The policy is still asked on every answer (its answer depends on the caller).
import { isUtf8 } from 'node:buffer';
import { isPrimitiveToken, type ScannedItem } from '../mcp/list-scan.js';
import type { Curation } from './curation.js';

/** Where a list answer's parts lie in its bytes, and curation's verdicts on its items. */
export interface ListLayout {
  /** The id token. */
  idStart: number;
  idEnd: number;
  /** [ and ] of the list array, and its items. */
  open: number;
  close: number;
  items: readonly ScannedItem[];
  /** Curation's verdict on each item (isListed). */
  listed: readonly boolean[];
}

/** A body's layout: its id where it is, the rest at the positions of the remembered body, shifted by `delta` from `after` on. */
export interface ListReading extends ListLayout {
  after: number;
  delta: number;
}

interface Remembered extends ListLayout {
  bytes: Buffer;
}

/** Larger answers are not remembered: the copies per server and list stay small (a 500-tool list is ~100 kB). */
export const MAX_REMEMBERED_BYTES = 1 << 20;

/** Answers remembered per server and list, the most recent first. */
export const REMEMBERED_ANSWERS = 4;

/** Per Curation (one per server, rebuilt on reload: a reload starts afresh), per result key. */
const memos = new WeakMap<Curation, Map<string, Remembered[]>>();

/** The remembered reading of `body` when it is a remembered answer with another id; undefined otherwise. */
export function recall(curation: Curation, resultKey: string, body: Buffer): ListReading | undefined {
  for (const m of memos.get(curation)?.get(resultKey) ?? []) {
    const r = match(m, body);
    if (r) return r;
  }
  return undefined;
}

function match(m: Remembered, body: Buffer): ListReading | undefined {
  const old = m.bytes;
  const tail = old.length - m.idEnd;
  const idEnd = body.length - tail;
  if (idEnd <= m.idStart) return undefined;
  if (old.compare(body, 0, m.idStart, 0, m.idStart) !== 0 || old.compare(body, idEnd, body.length, m.idEnd, old.length) !== 0) return undefined;
  // The bytes around the id were valid and unambiguous; so is the whole when the id is one valid token.
  if (!isPrimitiveToken(body, m.idStart, idEnd) || !isUtf8(body.subarray(m.idStart, idEnd))) return undefined;
  return { idStart: m.idStart, idEnd, open: m.open, close: m.close, items: m.items, listed: m.listed, after: m.idEnd, delta: idEnd - m.idEnd };
}

/** Remembers a body that was read in full (its id token, list array, items and curation's verdicts). */
export function remember(curation: Curation, resultKey: string, body: Buffer, r: ListLayout): void {
  if (body.length > MAX_REMEMBERED_BYTES) return;
  let byKey = memos.get(curation);
  if (!byKey) memos.set(curation, (byKey = new Map()));
  const kept = byKey.get(resultKey) ?? [];
  byKey.set(resultKey, [{ ...r, bytes: Buffer.from(body) }, ...kept.slice(0, REMEMBERED_ANSWERS - 1)]);
}
