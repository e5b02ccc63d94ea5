// A limit's `match` and `key`, compiled once at config load into plain functions.
import { createHash } from 'node:crypto';
import type { LimitDimension, LimitMatch, RateLimitConfig } from '../config/types.js';
import { compileGlobs, type GlobSet } from '../curation/glob.js';
import type { LimitFacts } from './types.js';

export interface CompiledLimit {
  config: RateLimitConfig;
  matches(f: LimitFacts): boolean;
  /** The counter's dimension values for this request, or undefined when one is missing (no claim): not counted. */
  values(f: LimitFacts): string[] | undefined;
}

type Test = (f: LimitFacts) => boolean;

function compileMatch(m: LimitMatch): Test {
  const tests: Test[] = [];
  const g = (p: readonly string[] | undefined): GlobSet | undefined => (p === undefined ? undefined : compileGlobs(p));
  const servers = g(m.servers);
  if (servers) tests.push((f) => servers.test(f.server));
  const methods = g(m.methods);
  if (methods) tests.push((f) => methods.test(f.method));
  for (const [kind, patterns] of [['tool', m.tools], ['prompt', m.prompts], ['resource', m.resources]] as const) {
    const set = g(patterns);
    if (set) tests.push((f) => f.target?.kind === kind && set.test(f.target.name));
  }
  const subjects = g(m.subjects);
  if (subjects) tests.push((f) => subjects.test(f.identity.subject));
  const groups = g(m.groups);
  if (groups) tests.push((f) => f.identity.groups.some((x) => groups.test(x)));
  const methodsOfAuth = m.authMethods;
  if (methodsOfAuth) tests.push((f) => methodsOfAuth.includes(f.identity.method));
  for (const [claim, patterns] of Object.entries(m.claims ?? {})) {
    const set = compileGlobs(patterns);
    tests.push((f) => {
      const v = claimValue(f, claim);
      return v !== undefined && set.test(v);
    });
  }
  return (f) => {
    for (const t of tests) if (!t(f)) return false;
    return true;
  };
}

/** A claim as a key value: strings and numbers as they are, anything else is no value. */
function claimValue(f: LimitFacts, name: string): string | undefined {
  const v = f.identity.claims[name];
  return typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
}

function dimension(d: LimitDimension): (f: LimitFacts) => string | undefined {
  switch (d) {
    case 'caller':
      return (f) => f.identity.subject;
    case 'server':
      return (f) => f.server;
    case 'method':
      return (f) => f.method;
    case 'tool':
      // A request that addresses no item (tools/list) counts under "" for this dimension.
      return (f) => f.target?.name ?? '';
    default: {
      const claim = d.slice('claim:'.length);
      return (f) => claimValue(f, claim);
    }
  }
}

/** Longer key values (a made-up tool name can be as long as the body) count under their digest. */
export const MAX_KEY_VALUE = 256;

function bounded(v: string): string {
  return v.length <= MAX_KEY_VALUE ? v : `sha256:${createHash('sha256').update(v).digest('hex')}`;
}

export function compileLimit(c: RateLimitConfig): CompiledLimit {
  const matches = compileMatch(c.match);
  const dims = c.key.map(dimension);
  return {
    config: c,
    matches,
    values(f) {
      const out: string[] = [];
      for (const d of dims) {
        const v = d(f);
        if (v === undefined) return undefined;
        out.push(bounded(v));
      }
      return out;
    },
  };
}
