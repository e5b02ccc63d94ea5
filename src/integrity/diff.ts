// What changed upstream against the lock, per item: added (the lock does not know it),
// removed (locked, no longer listed) or changed (and which pinned fields).
import { PINNED_LISTS, changedFields, type PinnedKind } from './definition.js';
import type { LockEntry, ServerLock } from './lockfile.js';

export interface ItemChange {
  kind: PinnedKind;
  name: string;
  change: 'added' | 'removed' | 'changed';
  /** For `changed`: the pinned fields that differ. */
  fields: string[];
  before: LockEntry | undefined;
  after: LockEntry | undefined;
}

export function diffServer(locked: ServerLock, live: ServerLock): ItemChange[] {
  const out: ItemChange[] = [];
  for (const list of PINNED_LISTS) {
    const a = locked[list.kind];
    const b = live[list.kind];
    for (const name of [...new Set([...a.keys(), ...b.keys()])].sort()) {
      const before = a.get(name);
      const after = b.get(name);
      if (!after) out.push({ kind: list.kind, name, change: 'removed', fields: [], before, after });
      else if (!before) out.push({ kind: list.kind, name, change: 'added', fields: [], before, after });
      else if (before.digest !== after.digest) out.push({ kind: list.kind, name, change: 'changed', fields: changedFields(list, before.definition, after.definition), before, after });
    }
  }
  return out;
}

const NOUN: Record<PinnedKind, string> = { tool: 'tool', prompt: 'prompt', resourceTemplate: 'resource template', resource: 'resource' };

/** A reviewer's view of the changes: each changed field's old and new value, line by line. */
export function formatChanges(server: string, changes: readonly ItemChange[]): string {
  if (changes.length === 0) return `${server}: up to date with the lock\n`;
  let out = `${server}: ${changes.length} change(s) against the lock\n`;
  for (const c of changes) {
    const what = `${NOUN[c.kind]} ${JSON.stringify(c.name)}`;
    if (c.change === 'added') out += `  + ${what}: not in the lock (${c.after!.digest})\n${indent(show(c.after!.definition), '      + ')}`;
    else if (c.change === 'removed') out += `  - ${what}: locked, no longer listed upstream\n`;
    else {
      out += `  ~ ${what}: ${c.fields.join(', ')} changed (${c.before!.digest.slice(0, 19)}… → ${c.after!.digest.slice(0, 19)}…)\n`;
      for (const f of c.fields) {
        out += `      ${f}:\n`;
        out += indent(show(c.before!.definition[f]), '        - ');
        out += indent(show(c.after!.definition[f]), '        + ');
      }
    }
  }
  return out;
}

function show(v: unknown): string {
  if (v === undefined) return '(absent)';
  return typeof v === 'string' ? v : JSON.stringify(v, null, 2);
}

function indent(text: string, prefix: string): string {
  return text.split('\n').map((l) => `${prefix}${l}\n`).join('');
}
