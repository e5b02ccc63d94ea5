// Filters a list answer on its bytes: the items the caller may see are copied verbatim,
// the others left out, and nothing else of the body changes. What filterListResult and the
// policy decide on the parsed answer is decided here on the same names, so the output
// parses to what the parsed path would have sent (test/unit/list-bytes.test.ts checks that).
// undefined: not an answer this path is sure about; the caller parses it instead.
import type { JsonRpcId } from '../mcp/jsonrpc.js';
import type { ListMethod } from '../mcp/protocol.js';
import { scanListAnswer, type ScannedItem } from '../mcp/list-scan.js';
import type { Curation } from './curation.js';
import { isListed } from './filter-list.js';
import { recall, remember, type ListReading } from './list-memo.js';

export interface ByteFilterOutcome {
  /** The body to send instead; undefined when every item is visible (the body passes as it is). */
  body: Buffer | undefined;
  returned: number;
  visible: number;
}

/** The policy's visibility: which of these names (in list order, repeats kept) the caller may see. */
export type VisibleNames = (names: string[]) => Set<string>;

export function filterListBytes(body: Buffer, id: JsonRpcId, list: ListMethod, curation: Curation, policy: VisibleNames | undefined): ByteFilterOutcome | undefined {
  const r = recall(curation, list.resultKey, body) ?? read(body, list, curation);
  if (!r) return undefined;
  const answered: unknown = JSON.parse(body.toString('utf8', r.idStart, r.idEnd));
  if (typeof answered !== typeof id || answered !== id) return undefined;
  const { items, listed } = r;
  let visible: ScannedItem[] = items.filter((_, n) => listed[n]);
  if (policy && visible.length) {
    const seen = policy(visible.map((i) => i.name!));
    visible = visible.filter((i) => seen.has(i.name!));
  }
  if (visible.length === items.length) return { body: undefined, returned: items.length, visible: items.length };
  return { body: spliceItems(body, r, visible), returned: items.length, visible: visible.length };
}

/** A full scan of the body, remembered for the next answer (src/curation/list-memo.ts). */
function read(body: Buffer, list: ListMethod, curation: Curation): ListReading | undefined {
  const scanned = scanListAnswer(body, list.resultKey, list.itemKey);
  // Requests, notifications, errors, answers without an id and malformed results go the parsed way.
  if (!scanned || scanned.hasMethod || scanned.result !== 'object' || !scanned.list || !scanned.id) return undefined;
  const { open, close, items } = scanned.list;
  const reading = { idStart: scanned.id.start, idEnd: scanned.id.end, open, close, items, listed: items.map((i) => isListed(i.name, list, curation)) };
  remember(curation, list.resultKey, body, reading);
  return { ...reading, after: body.length, delta: 0 };
}

/** The body with the list array holding only `items`, byte for byte. */
function spliceItems(body: Buffer, r: ListReading, items: readonly ScannedItem[]): Buffer {
  const at = (o: number) => (o >= r.after ? o + r.delta : o);
  const open = at(r.open);
  const close = at(r.close);
  let size = open + 1 + (body.length - close) + Math.max(0, items.length - 1);
  for (const i of items) size += i.end - i.start;
  const out = Buffer.allocUnsafe(size);
  let o = body.copy(out, 0, 0, open + 1);
  items.forEach((i, n) => {
    if (n > 0) out[o++] = 0x2c; // ,
    o += body.copy(out, o, at(i.start), at(i.end));
  });
  body.copy(out, o, close);
  return out;
}
