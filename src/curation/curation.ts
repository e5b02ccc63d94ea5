// A virtual server's curated view: which tools, prompts and resources exist for
// its callers. The same Curation answers "may this be listed?" and "may this be
// called?", so listing and calling can never disagree.
import type { CurationRules, ServerConfig } from '../config/types.js';
import { compileGlobs, type GlobSet } from './glob.js';
import { withoutQuery } from '../mcp/resource-uri.js';
import { canonicalName } from './canonical.js';

export type ItemKind = 'tool' | 'prompt' | 'resource';

export interface Curation {
  /** True when the item is part of the curated view. */
  visible(kind: ItemKind, name: string): boolean;
  /** True when every item of this kind is visible (nothing to filter). */
  isOpen(kind: ItemKind): boolean;
}

interface CompiledRules {
  allow: GlobSet;
  deny: GlobSet;
  open: boolean;
}

function compileRules(r: CurationRules): CompiledRules {
  return {
    allow: compileGlobs(r.allow),
    // Deny is matched case-insensitively and against a canonical form too, so that
    // "GET-ENV", "get-env " or a full-width "ｇｅｔ-env" cannot slip past a deny rule
    // on an upstream that is lenient about names.
    deny: compileGlobs(r.deny, { caseInsensitive: true }),
    open: r.deny.length === 0 && r.allow.includes('*'),
  };
}

export function compileCuration(server: Pick<ServerConfig, 'tools' | 'prompts' | 'resources'>): Curation {
  const byKind: Record<ItemKind, CompiledRules> = {
    tool: compileRules(server.tools),
    prompt: compileRules(server.prompts),
    resource: compileRules(server.resources),
  };
  return {
    visible(kind, name) {
      const r = byKind[kind];
      if (r.open) return true;
      if (!r.allow.test(name)) return false;
      if (r.deny.patterns.length === 0) return true;
      if (r.deny.test(name) || r.deny.test(canonicalName(name))) return false;
      // A lenient upstream may ignore a resource URI's query: a deny rule covers it either way.
      return kind !== 'resource' || !r.deny.test(withoutQuery(name));
    },
    isOpen: (kind) => byKind[kind].open,
  };
}
