// One server's definition scanning at run time (servers[].scan_definitions): every listed
// tool, prompt and resource template is scanned (scan-definitions.ts); `hide` removes the
// ones with a signal from the list and refuses calls to an item last listed with one,
// `flag` lets them through, recorded.
import { compileGlobs } from '../curation/glob.js';
import type { PinnedKind, PinnedList } from './definition.js';
import { PINNED_BY_RESULT_KEY, definitionOf } from './definition.js';
import { scanDefinition, type DefinitionSignal, type ScanSignal } from './scan-definitions.js';
import { MAX_RECORDED } from './findings.js';

export interface ScanFinding {
  kind: PinnedKind;
  name: string;
  signals: DefinitionSignal[];
}

/** The audit event's `definition_scan` member. */
export interface ScanRecord {
  action: 'hidden' | 'refused' | 'flagged';
  /** The first MAX_RECORDED items with signals. */
  findings: ScanFinding[];
  /** Signals of all of them, by signal. */
  counts: Partial<Record<ScanSignal, number>>;
}

export function scanRecord(action: ScanRecord['action'], findings: readonly ScanFinding[]): ScanRecord {
  const counts: Partial<Record<ScanSignal, number>> = {};
  for (const f of findings) for (const s of f.signals) counts[s.signal] = (counts[s.signal] ?? 0) + 1;
  return { action, findings: findings.slice(0, MAX_RECORDED), counts };
}

/** Names an upstream can make up without end: the memory of suspicious ones is bounded. */
const MAX_REMEMBERED = 10_000;

export class DefinitionScreen {
  private readonly suspicious: Record<PinnedKind, Map<string, DefinitionSignal[]>> = { tool: new Map(), prompt: new Map(), resourceTemplate: new Map(), resource: new Map() };
  private readonly opts;

  constructor(
    readonly action: 'flag' | 'hide',
    upstreamHost: string,
    allowedUrlHosts: readonly string[],
  ) {
    this.opts = { upstreamHost: upstreamHost.toLowerCase(), allowedHosts: compileGlobs(allowedUrlHosts, { caseInsensitive: true }) };
  }

  listOf(resultKey: string): PinnedList | undefined {
    return PINNED_BY_RESULT_KEY.get(resultKey);
  }

  checkListed(list: PinnedList, item: Record<string, unknown>): ScanFinding | undefined {
    const name = item[list.itemKey] as string;
    const signals = scanDefinition(definitionOf(list, item), this.opts);
    const seen = this.suspicious[list.kind];
    if (signals.length === 0) {
      seen.delete(name);
      return undefined;
    }
    if (seen.size >= MAX_REMEMBERED && !seen.has(name)) seen.delete(seen.keys().next().value!);
    seen.set(name, signals);
    return { kind: list.kind, name, signals };
  }

  /** The signals of an item last listed with some. */
  checkCall(kind: 'tool' | 'prompt', name: string): ScanFinding | undefined {
    const signals = this.suspicious[kind].get(name);
    return signals ? { kind, name, signals } : undefined;
  }

  /** Signals in a definition (lock time). */
  scan(definition: unknown): DefinitionSignal[] {
    return scanDefinition(definition, this.opts);
  }
}
