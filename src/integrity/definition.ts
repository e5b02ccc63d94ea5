// What of a listed tool, prompt or resource template is pinned, and its digest: the
// fields that tell a model what the item is and does, in canonical JSON (RFC 8785 JCS:
// sorted keys, one number form, no white space), hashed with SHA-256. `_meta`, icons and
// other presentation fields are not pinned (they change without changing what the item
// does).
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

export type PinnedKind = 'tool' | 'prompt' | 'resourceTemplate' | 'resource';

/** Per kind: the list's result key, the item's name key, and the fields pinned. */
export interface PinnedList {
  kind: PinnedKind;
  method: 'tools/list' | 'prompts/list' | 'resources/templates/list' | 'resources/list';
  resultKey: 'tools' | 'prompts' | 'resourceTemplates' | 'resources';
  itemKey: 'name' | 'uriTemplate' | 'uri';
  fields: readonly string[];
}

export const PINNED_LISTS: readonly PinnedList[] = [
  { kind: 'tool', method: 'tools/list', resultKey: 'tools', itemKey: 'name', fields: ['title', 'description', 'inputSchema', 'outputSchema', 'annotations'] },
  { kind: 'prompt', method: 'prompts/list', resultKey: 'prompts', itemKey: 'name', fields: ['title', 'description', 'arguments'] },
  { kind: 'resourceTemplate', method: 'resources/templates/list', resultKey: 'resourceTemplates', itemKey: 'uriTemplate', fields: ['name', 'title', 'description', 'mimeType', 'annotations'] },
  // Static resources, by URI: a resources/read must match one of these or a pinned template.
  { kind: 'resource', method: 'resources/list', resultKey: 'resources', itemKey: 'uri', fields: ['name', 'title', 'description', 'mimeType', 'annotations'] },
];

export const PINNED_BY_RESULT_KEY: ReadonlyMap<string, PinnedList> = new Map(PINNED_LISTS.map((l) => [l.resultKey, l]));

/** The pinned fields of one listed item (absent fields stay absent). */
export function definitionOf(list: PinnedList, item: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const def: Record<string, unknown> = {};
  for (const f of list.fields) if (item[f] !== undefined) def[f] = item[f];
  return def;
}

/** RFC 8785 canonical JSON of a JSON value. */
export function canonicalJson(value: unknown): string {
  return canonicalize(value) ?? 'null';
}

/** `sha256:<hex>` of the definition's canonical JSON. */
export function digestOf(definition: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(definition)).digest('hex')}`;
}

/** Which pinned fields differ between two definitions (by canonical JSON). */
export function changedFields(list: PinnedList, before: Readonly<Record<string, unknown>>, after: Readonly<Record<string, unknown>>): string[] {
  return list.fields.filter((f) => canonicalJson(before[f] ?? null) !== canonicalJson(after[f] ?? null));
}
