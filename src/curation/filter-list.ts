// Filters a tools/prompts/resources list result down to the curated view.
// Pagination keeps working: nextCursor and every other result field pass unchanged.
import type { Curation } from './curation.js';
import type { ListMethod } from '../mcp/protocol.js';
import { checkResourceUri } from '../mcp/resource-uri.js';

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
  const kept = items.filter((item: unknown) => isListed(item !== null && typeof item === 'object' ? (item as Record<string, unknown>)[list.itemKey] : undefined, list, curation));
  if (kept.length === items.length) return { result, returned: items.length, visible: items.length, changed: false };
  return { result: { ...result, [list.resultKey]: kept }, returned: items.length, visible: kept.length, changed: true };
}

/** Whether an item whose name field holds `key` is listed (curation alone; the policy comes after). */
export function isListed(key: unknown, list: ListMethod, curation: Curation): boolean {
  // An item without a readable name cannot be judged: it is dropped (fail closed).
  if (typeof key !== 'string') return false;
  // A resource whose URI is not in canonical form could not be read through the gateway:
  // it is not listed either (listing and reading never disagree).
  if (list.kind === 'resource' && !checkResourceUri(key, { template: list.itemKey === 'uriTemplate' }).ok) return false;
  return curation.visible(list.kind, key);
}
