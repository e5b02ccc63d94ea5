// Result scanning for one server (servers[].scan_results): every string in a tool result
// (content text, structured content, embedded resources; keys are not scanned) goes
// through the scanners; what they find is redacted in place (`[REDACTED:<kind>]`), or
// the whole result is replaced by an error (`block`), or only counted (`flag`). The
// audit event gets the kinds and counts, never the values. Prompt-injection detections
// are only ever counted.
import { compileGlobs, type GlobSet } from '../curation/glob.js';
import type { AsyncTextScanner, Detection, TextScanner } from './scanner.js';
import { httpScanner } from './http-scanner.js';
import { secretScanner } from './secrets.js';
import { piiScanner } from './pii.js';
import { injectionScanner } from './injection.js';

export type ResultScanAction = 'redact' | 'block' | 'flag';
export type Detector = 'secrets' | 'pii' | 'prompt_injection';

export interface ResultScanConfig {
  action: ResultScanAction;
  detect: readonly Detector[];
  /** Tool-name globs whose results are scanned. */
  tools: readonly string[];
  /** An external guardrail asked beside the built-in detectors (fails closed: kind guardrail_unavailable). */
  external?: { url: string; timeoutMs: number } | undefined;
}

/** Detections an async scanner made for the strings of one body, looked up by the string. */
export type Prefetched = ReadonlyMap<string, readonly Detection[]>;

/** What an unanswered external guardrail makes of every string it was asked about: all of it. */
export const UNAVAILABLE = 'guardrail_unavailable';

/** The audit event's `result_scan` member. */
export interface ResultScanRecord {
  action: 'redacted' | 'blocked' | 'flagged';
  /** Detections by kind (values are never recorded). */
  counts: Record<string, number>;
}

const FLAG_ONLY = new Set(['prompt_injection']);
const MAX_DEPTH = 64;

export type Inspection = { record: ResultScanRecord; value: unknown; blocked: boolean } | undefined;

export class ResultGuard {
  private readonly tools: GlobSet;
  readonly scanners: readonly TextScanner[];
  /** Every tool's results are scanned, so an answer whose request is unknown (a replay, another id) is scanned too. */
  readonly coversAll: boolean;

  /** The external guardrail, if any: asked per body before the (synchronous) scan. */
  readonly external: AsyncTextScanner | undefined;

  constructor(
    readonly config: ResultScanConfig,
    /** Scanners besides the built-in ones (an external guardrail). */
    extra: readonly TextScanner[] = [],
    external?: AsyncTextScanner,
  ) {
    this.external = external ?? (config.external && httpScanner(config.external));
    const built: TextScanner[] = [];
    if (config.detect.includes('secrets')) built.push(secretScanner());
    if (config.detect.includes('pii')) built.push(piiScanner());
    if (config.detect.includes('prompt_injection')) built.push(injectionScanner());
    this.scanners = [...built, ...extra];
    this.tools = compileGlobs(config.tools);
    this.coversAll = config.tools.includes('*');
  }

  /** Whether a tools/call of this tool has its result scanned. */
  appliesTo(tool: string): boolean {
    return this.tools.test(tool);
  }

  /**
   * Asks the external guardrail about every string in these results, once; a failure or
   * timeout marks every string as guardrail_unavailable (so it is redacted or blocked).
   */
  async prefetch(results: readonly unknown[]): Promise<Prefetched> {
    const texts = new Set<string>();
    const collect = (v: unknown, depth: number): void => {
      if (typeof v === 'string') return void (v.length && texts.add(v));
      if (v === null || typeof v !== 'object' || depth >= MAX_DEPTH) return;
      for (const x of Array.isArray(v) ? v : Object.values(v)) collect(x, depth + 1);
    };
    for (const r of results) collect(r, 0);
    const list = [...texts];
    const out = new Map<string, readonly Detection[]>();
    if (!this.external || list.length === 0) return out;
    try {
      const found = await this.external.scanMany(list);
      list.forEach((t, i) => out.set(t, found[i] ?? []));
    } catch {
      for (const t of list) out.set(t, [{ kind: UNAVAILABLE, start: 0, end: t.length }]);
    }
    return out;
  }

  /** Scans one result (with what the external guardrail said about its strings); undefined when nothing was found. */
  inspect(result: unknown, prefetched?: Prefetched): Inspection {
    const counts: Record<string, number> = {};
    let found = false;
    let act = false;
    const redact = this.config.action === 'redact';
    const visit = (v: unknown, depth: number): unknown => {
      if (typeof v === 'string') {
        const ds = this.detect(v, prefetched);
        if (ds.length === 0) return v;
        found = true;
        for (const d of ds) counts[d.kind] = (counts[d.kind] ?? 0) + 1;
        const hard = ds.filter((d) => !FLAG_ONLY.has(d.kind));
        if (hard.length) act = true;
        return redact && hard.length ? redactSpans(v, hard) : v;
      }
      if (v === null || typeof v !== 'object' || depth >= MAX_DEPTH) return v;
      if (Array.isArray(v)) {
        let out: unknown[] | undefined;
        v.forEach((x, i) => {
          const y = visit(x, depth + 1);
          if (y !== x) (out ??= [...v])[i] = y;
        });
        return out ?? v;
      }
      let out: Record<string, unknown> | undefined;
      for (const [k, x] of Object.entries(v)) {
        const y = visit(x, depth + 1);
        if (y !== x) (out ??= { ...(v as Record<string, unknown>) })[k] = y;
      }
      return out ?? v;
    };
    const value = visit(result, 0);
    if (!found) return undefined;
    const action = !act || this.config.action === 'flag' ? 'flagged' : this.config.action === 'block' ? 'blocked' : 'redacted';
    return { record: { action, counts }, value: action === 'redacted' ? value : result, blocked: action === 'blocked' };
  }

  private detect(text: string, prefetched: Prefetched | undefined): Detection[] {
    const own = this.scanners.length === 1 ? this.scanners[0]!.scan(text) : this.scanners.flatMap((s) => s.scan(text));
    if (!this.external || text === '') return own;
    // A string the guardrail was not asked about (should not happen) fails closed too.
    const ext = prefetched?.get(text) ?? [{ kind: UNAVAILABLE, start: 0, end: text.length }];
    return ext.length ? [...own, ...ext] : own;
  }
}

/** Replaces each detected span (overlaps merged, the earliest and longest first) with its kind. */
export function redactSpans(text: string, ds: readonly Detection[]): string {
  const sorted = [...ds].sort((a, b) => a.start - b.start || b.end - a.end);
  let out = '';
  let at = 0;
  for (const d of sorted) {
    if (d.start < at) {
      // Overlaps the span before it: that marker covers this one too.
      if (d.end > at) at = d.end;
      continue;
    }
    out += `${text.slice(at, d.start)}[REDACTED:${d.kind}]`;
    at = d.end;
  }
  return out + text.slice(at);
}
