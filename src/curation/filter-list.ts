// Filters a tools/prompts/resources list result down to the curated view.
// Pagination keeps working: nextCursor and every other result field pass unchanged.
import type { Curation } from './curation.js';
import type { ListMethod } from '../mcp/protocol.js';

export interface FilterOutcome {
  /** The result to send (the same object when nothing was removed). */
  result: Record<string, unknown>;
  returned: number;
  visible: number;
  changed: boolean;
}

export function filterListResult(result: Record<string, unknown>, list: ListMethod, curation: Curation): FilterOutcome | { error: string } {
  const items = result[list.resultKey];
  if (!Array.isArray(items)) return { error: `upstream ${list.resultKey} result has no "${list.resultKey}" array` };
  const kept = items.filter((item: unknown) => {
    // An item without a readable name cannot be judged: it is dropped (fail closed).
    const key = item !== null && typeof item === 'object' ? (item as Record<string, unknown>)[list.itemKey] : undefined;
    return typeof key === 'string' && curation.visible(list.kind, key);
  });
  if (kept.length === items.length) return { result, returned: items.length, visible: items.length, changed: false };
  return { result: { ...result, [list.resultKey]: kept }, returned: items.length, visible: kept.length, changed: true };
}
