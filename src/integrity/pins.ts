// One server's pins at run time: the lock's entries, what this process last saw listed
// that differed from them, and the compiled argument validators.
//
// Every list answer is checked item by item (there is no cache to go stale, so
// `notifications/tools/list_changed` needs nothing special: the next list is checked
// again). A locked item last listed with another definition is "drifted": calls to it
// are refused until a list shows it as locked again (or the lock is approved). An item
// the lock does not know is refused whether or not it was ever listed: a caller can call
// a tool it never saw, in any spelling; names are matched exactly, so every spelling but
// the locked one is unknown.
import { PINNED_BY_RESULT_KEY, changedFields, definitionOf, digestOf, type PinnedKind, type PinnedList } from './definition.js';
import type { LockEntry, ServerLock } from './lockfile.js';
import type { IntegrityFinding } from './findings.js';
import { argumentCompiler, type ArgumentValidator } from './arguments.js';
import { compileTemplates, type TemplateMatcher } from './resource-templates.js';

export class ServerPins {
  /** Locked items last listed with another definition: name → the fields that differed. */
  private readonly drifted: Record<PinnedKind, Map<string, string[]>> = { tool: new Map(), prompt: new Map(), resourceTemplate: new Map(), resource: new Map() };
  private readonly validators = new Map<string, ArgumentValidator | { error: string }>();
  /** The lock's resource templates, compiled once (RFC 6570, matched as the MCP SDK's servers match them). */
  private readonly templates: TemplateMatcher;

  constructor(
    readonly lock: ServerLock,
    readonly pinning: 'enforce' | 'observe' | 'off',
    validateArguments: boolean,
  ) {
    this.templates = compileTemplates(lock.resourceTemplate.keys());
    if (!validateArguments) return;
    const compile = argumentCompiler();
    for (const [name, e] of lock.tool) this.validators.set(name, compile(e.definition.inputSchema ?? { type: 'object' }));
  }

  /** Tools whose pinned schema cannot be validated against (reported at start-up). */
  get uncompilable(): { name: string; error: string }[] {
    return [...this.validators].flatMap(([name, v]) => (typeof v === 'function' ? [] : [{ name, error: v.error }]));
  }

  /** The pinned list of a result key (`tools`, `prompts`, `resourceTemplates`), if pinning applies to it. */
  listOf(resultKey: string): PinnedList | undefined {
    return this.pinning === 'off' ? undefined : PINNED_BY_RESULT_KEY.get(resultKey);
  }

  /** The findings of one list answer's items, in order; a name listed twice is a finding for every entry (and drifts). */
  checkList(list: PinnedList, items: readonly Record<string, unknown>[]): (IntegrityFinding | undefined)[] {
    const seen = new Map<string, number>();
    for (const i of items) seen.set(i[list.itemKey] as string, (seen.get(i[list.itemKey] as string) ?? 0) + 1);
    return items.map((i) => {
      const name = i[list.itemKey] as string;
      if (seen.get(name)! === 1) return this.checkListed(list, i);
      if (this.lock[list.kind].has(name)) this.drifted[list.kind].set(name, ['listed more than once']);
      return { kind: list.kind, name, finding: 'duplicate' };
    });
  }

  /** Checks one listed item against the lock, and remembers whether it drifted. */
  checkListed(list: PinnedList, item: Record<string, unknown>): IntegrityFinding | undefined {
    const name = item[list.itemKey] as string;
    const locked = this.lock[list.kind].get(name);
    if (!locked) return { kind: list.kind, name, finding: 'not_pinned' };
    const def = definitionOf(list, item);
    if (digestOf(def) === locked.digest) {
      this.drifted[list.kind].delete(name);
      return undefined;
    }
    const fields = changedFields(list, locked.definition, def);
    this.drifted[list.kind].set(name, fields);
    return { kind: list.kind, name, finding: 'changed', fields };
  }

  /** Why a call to (or get of) this item is not what was reviewed, if it is not. */
  checkCall(kind: 'tool' | 'prompt', name: string): IntegrityFinding | undefined {
    if (!this.lock[kind].has(name)) return { kind, name, finding: 'not_pinned' };
    const fields = this.drifted[kind].get(name);
    return fields ? { kind, name, finding: 'changed', fields } : undefined;
  }

  /**
   * Why a resources/read of this URI is not what was reviewed, if it is not: it must be a
   * locked resource's URI, or match a locked template whose last listed definition was the
   * locked one. A URI that matches only drifted templates is `changed` (the first one).
   */
  checkRead(uri: string): IntegrityFinding | undefined {
    if (this.lock.resource.has(uri)) {
      const fields = this.drifted.resource.get(uri);
      return fields ? { kind: 'resource', name: uri, finding: 'changed', fields } : undefined;
    }
    let changed: IntegrityFinding | undefined;
    for (const t of this.templates.matching(uri)) {
      const fields = this.drifted.resourceTemplate.get(t);
      if (!fields) return undefined;
      changed ??= { kind: 'resourceTemplate', name: t, finding: 'changed', fields };
    }
    return changed ?? { kind: 'resource', name: uri, finding: 'not_pinned' };
  }

  /** Locked templates that cannot be parsed (they match nothing; reported at start-up). */
  get unparsableTemplates(): { template: string; error: string }[] {
    return this.templates.invalid;
  }

  entry(kind: PinnedKind, name: string): LockEntry | undefined {
    return this.lock[kind].get(name);
  }

  /** The validator of a locked tool's arguments (undefined: not locked, or validation is off). */
  validator(name: string): ArgumentValidator | { error: string } | undefined {
    return this.validators.get(name);
  }
}
