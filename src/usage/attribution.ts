// Usage attribution, compiled once from the config: who a call is attributed to
// (telemetry.usage.caller_label) and what a tool costs (servers[].tool_costs).
import type { UsageSection } from '../config/types.js';
import { compileGlobs } from '../curation/glob.js';
import type { Identity } from '../identity/types.js';

/** The caller key of a caller with no group, or without the configured claim. */
export const NO_CALLER = '_none';

export type CallerOf = (identity: Identity) => string;

/** The caller key for an identity, or undefined when no caller_label is configured. */
export function callerAttribution(label: UsageSection['callerLabel']): CallerOf | undefined {
  if (!label) return undefined;
  switch (label.kind) {
    case 'subject':
      return (id) => id.subject;
    case 'group':
      // The first group, as the token lists them: one caller key per call, so sums add up.
      return (id) => id.groups[0] ?? NO_CALLER;
    case 'claim': {
      const name = label.name;
      return (id) => claimKey(id.claims[name]);
    }
  }
}

function claimKey(v: unknown): string {
  const one = Array.isArray(v) ? v[0] : v;
  return typeof one === 'string' && one !== '' ? one : typeof one === 'number' || typeof one === 'boolean' ? String(one) : NO_CALLER;
}

export type ToolCost = (tool: string) => number | undefined;

/** The cost of a tool: the first pattern (name or glob) that matches, in the order written. */
export function compileToolCosts(costs: readonly { pattern: string; units: number }[]): ToolCost | undefined {
  if (costs.length === 0) return undefined;
  const rules = costs.map((c) => ({ glob: compileGlobs([c.pattern]), units: c.units }));
  const memo = new Map<string, number | undefined>();
  return (tool) => {
    if (memo.has(tool)) return memo.get(tool);
    const units = rules.find((r) => r.glob.test(tool))?.units;
    // Only names a server actually has reach here (the call passed curation), so the memo stays small.
    if (memo.size < 10_000) memo.set(tool, units);
    return units;
  };
}
