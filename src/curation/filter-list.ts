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
  const template = list.itemKey === 'uriTemplate';
  const kept = items.filter((item: unknown) => {
    // An item without a readable name cannot be judged: it is dropped (fail closed).
    const key = item !== null && typeof item === 'object' ? (item as Record<string, unknown>)[list.itemKey] : undefined;
    if (typeof key !== 'string') return false;
    // A resource whose URI is not in canonical form could not be read through the gateway:
    // it is not listed either (listing and reading never disagree).
    if (list.kind === 'resource' && !checkResourceUri(key, { template }).ok) return false;
    return curation.visible(list.kind, key);
  });
  if (kept.length === items.length) return { result, returned: items.length, visible: items.length, changed: false };
  return { result: { ...result, [list.resultKey]: kept }, returned: items.length, visible: kept.length, changed: true };
}
