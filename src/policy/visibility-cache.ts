// A cache of the policy's list visibility per caller class: the answer of `visible_names`
// for an item, remembered for callers whose input agrees on the paths the operator names
// (policy.visibility_cache.key, e.g. identity.groups) under the same bundle revision.
// A tools/list of 500 names then costs one evaluation of the names not yet seen by that
// class instead of a full evaluation per list.
//
// It is only right when an item's visibility depends on nothing but the item and those
// input paths, which is the operator's promise when they configure it: visibility may
// not vary per request (time, headers, arguments) or with the other items of the list.
import type { PolicyBundle } from './engine.js';
import type { ListItem, PolicyInput } from './input.js';

export interface VisibilityCacheOptions {
  /** Dot paths into the policy input that make up the caller class (identity.groups, identity.claims.tenant…). */
  key: readonly string[];
  /** Caller classes kept (least recently used dropped first). */
  maxClasses: number;
  /** Items remembered per class. */
  maxItems: number;
}

export interface VisibilityCacheObserver {
  /** Items answered from the cache and items evaluated, per list. */
  looked(hits: number, misses: number): void;
}

function at(input: unknown, path: readonly string[]): unknown {
  let v = input;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

interface Known {
  /** Items remembered, over all kinds. */
  size: number;
  byKind: Map<string, Map<string, boolean>>;
}

export class VisibilityCache {
  private readonly paths: readonly (readonly string[])[];
  /** class key → kind → name → visible; Map order is recency (re-inserted on use). */
  private readonly classes = new Map<string, Known>();

  constructor(
    private readonly opts: VisibilityCacheOptions,
    private readonly observer?: VisibilityCacheObserver,
  ) {
    this.paths = opts.key.map((k) => k.split('.'));
  }

  /** bundle.visibleSet(input, items), with what this caller class already knows. */
  visibleSet(bundle: PolicyBundle, server: string, input: PolicyInput, items: readonly ListItem[]): Set<string> {
    const key = `${bundle.revision}\0${server}\0${JSON.stringify(this.paths.map((p) => at(input, p)))}`;
    let known = this.classes.get(key);
    if (known) {
      this.classes.delete(key);
      this.classes.set(key, known);
    } else {
      known = { size: 0, byKind: new Map() };
      this.classes.set(key, known);
      if (this.classes.size > this.opts.maxClasses) this.classes.delete(this.classes.keys().next().value!);
    }
    const out = new Set<string>();
    const missing: ListItem[] = [];
    // A list is of one kind: look its map up once.
    let kind: string | undefined;
    let names: Map<string, boolean> | undefined;
    for (const i of items) {
      if (i.kind !== kind) {
        kind = i.kind;
        names = known.byKind.get(kind);
      }
      const v = names?.get(i.name);
      if (v === undefined) missing.push(i);
      else if (v) out.add(i.name);
    }
    this.observer?.looked(items.length - missing.length, missing.length);
    if (missing.length === 0) return out;
    const failures = bundle.visibilityFailures;
    const seen = bundle.visibleSet(input, missing);
    // A failed evaluation answers "nothing visible" (fail closed): true for this list, not remembered.
    const remember = bundle.visibilityFailures === failures && known.size + missing.length <= this.opts.maxItems;
    for (const i of missing) {
      const v = seen.has(i.name);
      if (v) out.add(i.name);
      if (!remember) continue;
      let m = known.byKind.get(i.kind);
      if (!m) known.byKind.set(i.kind, (m = new Map()));
      if (!m.has(i.name)) known.size++;
      m.set(i.name, v);
    }
    return out;
  }
}
