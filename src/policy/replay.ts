// Policy replay: every decision recorded in an audit trail (with the input the policy
// saw, audit.policy_input) evaluated again by a candidate bundle, and what would change.
// The baseline is the recorded decision, or a second bundle evaluated on the same
// inputs (--against), which isolates the bundle change from anything else that differed.
import { POLICY_INPUT_VERSION } from '../audit/event.js';
import { NOT_JSON, readAuditLines } from '../audit/read-trail.js';
import { REDACTED } from '../audit/redact.js';
import type { PolicyBundle } from './engine.js';
import type { PolicyInput } from './input.js';

/** Loads a bundle whose time.now_ns() reads `clock` (the replayed event's time). */
export type BundleLoader = (path: string, clock: () => number) => Promise<PolicyBundle>;

export interface ReplayOptions {
  audit: string;
  candidate: string;
  /** A bundle for the baseline; undefined: the decisions as recorded. */
  against?: string;
  /** Examples kept per kind of change. */
  examples?: number;
  load: BundleLoader;
}

export type ChangeKind = 'newly_denied' | 'newly_allowed';

export interface ReplayExample {
  time: string | undefined;
  request_id: string | undefined;
  server: string | undefined;
  caller: string | undefined;
  target: string;
  before: { allowed: boolean; reasons: string[] };
  after: { allowed: boolean; reasons: string[] };
}

export interface ReplayGroup {
  key: string;
  count: number;
}

export interface ReplayChanges {
  count: number;
  by_server: ReplayGroup[];
  by_target: ReplayGroup[];
  by_caller: ReplayGroup[];
  by_reason: ReplayGroup[];
  examples: ReplayExample[];
}

export interface ReplayReport {
  candidate: string;
  /** "recorded", or the revision of the --against bundle. */
  baseline: string;
  lines: number;
  replayed: number;
  skipped: { not_json: number; no_policy: number; no_input: number; other_input_version: number };
  unchanged: number;
  /** Same allow/deny, other reasons. */
  reasons_changed: number;
  /** Replayed decisions whose recorded input had something redacted: the policy saw the value, the replay sees "[REDACTED]". */
  redacted_inputs: number;
  newly_denied: ReplayChanges;
  newly_allowed: ReplayChanges;
  seconds: number;
  decisions_per_second: number;
}

interface Tally {
  count: number;
  server: Map<string, number>;
  target: Map<string, number>;
  caller: Map<string, number>;
  reason: Map<string, number>;
  examples: ReplayExample[];
}

const newTally = (): Tally => ({ count: 0, server: new Map(), target: new Map(), caller: new Map(), reason: new Map(), examples: [] });
const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
const groups = (m: Map<string, number>): ReplayGroup[] => [...m].map(([key, count]) => ({ key, count })).sort((a, b) => b.count - a.count || a.key.localeCompare(b.key));

function containsRedacted(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return v.includes(REDACTED);
  if (v === null || typeof v !== 'object' || depth > 64) return false;
  for (const x of Array.isArray(v) ? v : Object.values(v)) if (containsRedacted(x, depth + 1)) return true;
  return false;
}

const sameReasons = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((r, i) => r === b[i]);

export async function replayPolicy(opts: ReplayOptions): Promise<ReplayReport> {
  let now = 0;
  const clock = () => now;
  const candidate = await opts.load(opts.candidate, clock);
  const against = opts.against === undefined ? undefined : await opts.load(opts.against, clock);
  const keep = opts.examples ?? 5;
  const report = {
    candidate: candidate.revision,
    baseline: against?.revision ?? 'recorded',
    lines: 0,
    replayed: 0,
    skipped: { not_json: 0, no_policy: 0, no_input: 0, other_input_version: 0 },
    unchanged: 0,
    reasons_changed: 0,
    redacted_inputs: 0,
  };
  const tallies: Record<ChangeKind, Tally> = { newly_denied: newTally(), newly_allowed: newTally() };
  const started = performance.now();
  for await (const parsed of readAuditLines(opts.audit)) {
    report.lines++;
    if (parsed === NOT_JSON) {
      report.skipped.not_json++;
      continue;
    }
    const ev = parsed as any;
    const p = ev?.policy;
    if (p === undefined || p === null || typeof p !== 'object') {
      report.skipped.no_policy++;
      continue;
    }
    if (p.input === undefined || p.input === null) {
      report.skipped.no_input++;
      continue;
    }
    if (p.input_version !== POLICY_INPUT_VERSION) {
      report.skipped.other_input_version++;
      continue;
    }
    const input = p.input as PolicyInput;
    const t = typeof ev.time === 'string' ? Date.parse(ev.time) : NaN;
    now = Number.isFinite(t) ? t : Date.now();
    report.replayed++;
    if (containsRedacted(input)) report.redacted_inputs++;
    const before = against ? against.decide(input) : { allowed: p.allowed === true, reasons: Array.isArray(p.reasons) ? (p.reasons as string[]) : [] };
    const after = candidate.decide(input);
    if (before.allowed === after.allowed) {
      if (sameReasons(before.reasons, after.reasons)) report.unchanged++;
      else report.reasons_changed++;
      continue;
    }
    const kind: ChangeKind = after.allowed ? 'newly_allowed' : 'newly_denied';
    const tally = tallies[kind];
    tally.count++;
    const target = ev.target ? `${ev.target.kind} ${ev.target.name}` : `${ev.rpc?.method ?? ev.http?.method ?? '?'}`;
    const caller = ev.caller ?? ev.identity?.subject ?? input.identity?.subject ?? '(anonymous)';
    bump(tally.server, ev.server ?? '?');
    bump(tally.target, target);
    bump(tally.caller, caller);
    // Newly denied: why the candidate denies; newly allowed: why the baseline denied.
    const why = kind === 'newly_denied' ? after.reasons : before.reasons;
    for (const r of why.length ? why : ['(no reason given)']) bump(tally.reason, r);
    if (tally.examples.length < keep)
      tally.examples.push({
        time: ev.time,
        request_id: ev.request_id,
        server: ev.server,
        caller,
        target,
        before: { allowed: before.allowed, reasons: before.reasons },
        after: { allowed: after.allowed, reasons: after.reasons },
      });
  }
  const seconds = (performance.now() - started) / 1000;
  const changes = (t: Tally): ReplayChanges => ({ count: t.count, by_server: groups(t.server), by_target: groups(t.target), by_caller: groups(t.caller), by_reason: groups(t.reason), examples: t.examples });
  return {
    ...report,
    newly_denied: changes(tallies.newly_denied),
    newly_allowed: changes(tallies.newly_allowed),
    seconds,
    decisions_per_second: seconds > 0 ? Math.round(report.replayed / seconds) : 0,
  };
}

/** The report for a terminal. */
export function formatReplay(r: ReplayReport): string {
  const out: string[] = [];
  out.push(`candidate ${r.candidate} against ${r.baseline === 'recorded' ? 'the recorded decisions' : `bundle ${r.baseline}`}`);
  out.push(`${r.replayed} decisions replayed from ${r.lines} lines in ${r.seconds.toFixed(2)} s (${r.decisions_per_second}/s)`);
  const skipped = Object.entries(r.skipped).filter(([, n]) => n > 0);
  if (skipped.length) out.push(`skipped: ${skipped.map(([k, n]) => `${n} ${k.replace(/_/g, ' ')}`).join(', ')}`);
  if (r.redacted_inputs) out.push(`${r.redacted_inputs} replayed inputs had redacted values: a rule on those values can decide differently here than it did live`);
  out.push(`unchanged ${r.unchanged}, reasons changed ${r.reasons_changed}, newly denied ${r.newly_denied.count}, newly allowed ${r.newly_allowed.count}`);
  for (const [title, c] of [['NEWLY DENIED', r.newly_denied], ['NEWLY ALLOWED', r.newly_allowed]] as const) {
    if (c.count === 0) continue;
    out.push('', `${title} (${c.count})`);
    for (const [by, g] of [['server', c.by_server], ['target', c.by_target], ['caller', c.by_caller], ['reason', c.by_reason]] as const) {
      out.push(`  by ${by}:`);
      for (const x of g.slice(0, 10)) out.push(`    ${String(x.count).padStart(7)}  ${x.key}`);
      if (g.length > 10) out.push(`    … ${g.length - 10} more`);
    }
    out.push('  examples:');
    for (const e of c.examples) out.push(`    ${e.time ?? '?'} ${e.request_id ?? ''} ${e.server ?? '?'} ${e.target} caller=${e.caller}: ${e.before.allowed ? 'allow' : 'deny'} → ${e.after.allowed ? 'allow' : 'deny'}${e.after.reasons.length ? ` (${e.after.reasons.join('; ')})` : ''}`);
  }
  out.push('', r.newly_denied.count + r.newly_allowed.count === 0 ? 'no decision changes' : 'decisions change (exit status 1)');
  return out.join('\n');
}
