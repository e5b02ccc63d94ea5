// The tools a server has, for the catalog: from its lockfile when one is configured (the
// reviewed definitions), else read from the upstream as `tools lock` reads it, and kept
// for a short while (cache_ttl_ms) so a busy catalog does not list every upstream each time.
// Concurrent readers share one read; a failed read is remembered briefly, then retried.
import type { ServerConfig } from '../config/types.js';
import { fetchDefinitions } from '../integrity/fetch.js';
import { readLockfile } from '../integrity/lockfile.js';

export interface CatalogTool {
  name: string;
  title?: string;
  description?: string;
  /** The definition as listed (what a policy judging list items sees). */
  definition: Record<string, unknown>;
}

export type ToolList = { source: 'lockfile' | 'upstream'; tools: readonly CatalogTool[] } | { source: 'unavailable'; reason: string };

/** How long a failed read is remembered before the next request tries again. */
const FAILURE_TTL_MS = 5000;

function toolOf(name: string, definition: Record<string, unknown>): CatalogTool {
  return {
    name,
    ...(typeof definition.title === 'string' && { title: definition.title }),
    ...(typeof definition.description === 'string' && { description: definition.description }),
    definition: { name, ...definition },
  };
}

export type DefinitionsReader = typeof fetchDefinitions;

export class ToolSource {
  private readonly cache = new Map<string, { until: number; list: Promise<ToolList> }>();

  constructor(
    private readonly ttlMs: number,
    private readonly read: DefinitionsReader = fetchDefinitions,
    private readonly now: () => number = Date.now,
  ) {}

  toolsOf(s: ServerConfig): Promise<ToolList> {
    const hit = this.cache.get(s.name);
    if (hit && hit.until > this.now()) return hit.list;
    const list = this.load(s);
    const entry = { until: this.now() + this.ttlMs, list };
    this.cache.set(s.name, entry);
    void list.then((l) => {
      if (l.source === 'unavailable') entry.until = Math.min(entry.until, this.now() + FAILURE_TTL_MS);
    });
    return list;
  }

  private async load(s: ServerConfig): Promise<ToolList> {
    const file = s.integrity.lockfile;
    try {
      if (file !== undefined) {
        const lock = (await readLockfile(file)).servers.get(s.name);
        if (!lock) return { source: 'unavailable', reason: `the lockfile has no entry for server "${s.name}"` };
        return { source: 'lockfile', tools: [...lock.tool].map(([name, e]) => toolOf(name, e.definition)) };
      }
      if (s.upstreamAuth.kind === 'token_exchange') return { source: 'unavailable', reason: 'the upstream takes exchanged tokens only: configure a lockfile to list its tools' };
      const lock = await this.read(s, s.url, 5000);
      return { source: 'upstream', tools: [...lock.tool].map(([name, e]) => toolOf(name, e.definition)) };
    } catch (err) {
      return { source: 'unavailable', reason: (err as Error).message };
    }
  }
}
