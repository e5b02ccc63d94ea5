// Result scanning for one server (servers[].scan_results): every string in a tool result
// (content text, structured content, embedded resources; keys are not scanned) goes
// through the scanners; what they find is redacted in place (`[REDACTED:<kind>]`), or
// the whole result is replaced by an error (`block`), or only counted (`flag`). The
// audit event gets the kinds and counts, never the values. Prompt-injection detections
// are only ever counted.
import { compileGlobs, type GlobSet } from '../curation/glob.js';
import type { Detection, TextScanner } from './scanner.js';
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
}

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

  constructor(
    readonly config: ResultScanConfig,
    /** Scanners besides the built-in ones (an external guardrail). */
    extra: readonly TextScanner[] = [],
  ) {
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

  /** Scans one result; undefined when nothing was found. */
  inspect(result: unknown): Inspection {
    const counts: Record<string, number> = {};
    let found = false;
    let act = false;
    const redact = this.config.action === 'redact';
    const visit = (v: unknown, depth: number): unknown => {
      if (typeof v === 'string') {
        const ds = this.detect(v);
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

  private detect(text: string): Detection[] {
    return this.scanners.length === 1 ? this.scanners[0]!.scan(text) : this.scanners.flatMap((s) => s.scan(text));
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
