// The usage report (`mcp-gateway usage`): audit trail lines in, one row per group
// (caller, server, tool, method, in any combination) out, with calls, errors,
// refusals, latency p50/p95, request/response bytes and cost units. Pure: the file
// reading and the formatting live beside it.
import { isUsageEvent, usageOutcome, type UsageOutcome } from './classify.js';
import { QuantileSketch } from './sketch.js';

export const DIMENSIONS = ['caller', 'server', 'tool', 'method'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** A caller refused before it was identified. */
export const UNAUTHENTICATED = '_unauthenticated';
/** A line with no virtual server (an unknown path, or Envoy's own reply). */
export const NO_SERVER = '_none';

/** One call, as the report sees it. */
export interface UsageRecord {
  /** ms since the epoch, or undefined when the line has no readable time. */
  time: number | undefined;
  caller: string;
  server: string;
  tool: string;
  method: string;
  outcome: UsageOutcome;
  /** undefined for Envoy's own lines: it does not time them, and a 0 would drag the quantiles down. */
  latencyMs: number | undefined;
  requestBytes: number;
  responseBytes: number;
  costUnits: number;
  /** Written by Envoy (`source: "envoy"`): a request it answered itself. */
  envoy: boolean;
}

/**
 * The call an audit line records; `skip` for lines that are not calls (notifications,
 * streams, server messages, other logs); `malformed` for lines that are not audit events.
 */
export function usageRecord(line: unknown): UsageRecord | 'skip' | 'malformed' {
  if (line === null || typeof line !== 'object' || Array.isArray(line)) return 'malformed';
  const ev = line as Record<string, unknown>;
  if (ev.log !== undefined && ev.log !== 'audit') return 'skip';
  if (typeof ev.type !== 'string' || typeof ev.decision !== 'string') return 'malformed';
  const upstream = typeof ev.upstream_status === 'number' ? ev.upstream_status : undefined;
  const facts = { type: ev.type, decision: ev.decision, upstream_status: upstream };
  if (!isUsageEvent(facts)) return 'skip';
  const identity = obj(ev.identity);
  const target = obj(ev.target);
  const rpc = obj(ev.rpc);
  const time = typeof ev.time === 'string' ? Date.parse(ev.time) : typeof ev.time === 'number' ? ev.time : NaN;
  const envoy = ev.source === 'envoy';
  return {
    time: Number.isFinite(time) ? time : undefined,
    caller: str(ev.caller) ?? str(identity?.subject) ?? UNAUTHENTICATED,
    server: str(ev.server) ?? NO_SERVER,
    tool: target?.kind === 'tool' ? (str(target.name) ?? '') : '',
    method: str(rpc?.method) ?? '',
    outcome: usageOutcome(facts),
    latencyMs: !envoy && typeof ev.latency_ms === 'number' && ev.latency_ms >= 0 ? ev.latency_ms : undefined,
    requestBytes: num(ev.request_bytes),
    responseBytes: num(ev.response_bytes),
    costUnits: num(ev.cost_units),
    envoy,
  };
}

export interface UsageRow {
  /** The group's value for each dimension reported by. */
  key: Partial<Record<Dimension, string>>;
  calls: number;
  errors: number;
  refusals: number;
  p50Ms: number | undefined;
  p95Ms: number | undefined;
  requestBytes: number;
  responseBytes: number;
  costUnits: number;
}

export interface UsageReport {
  by: readonly Dimension[];
  rows: UsageRow[];
  total: UsageRow;
  /** Of the calls: how many Envoy answered itself (they are refusals, server "_none"). */
  envoyReplies: number;
}

interface Acc {
  key: Partial<Record<Dimension, string>>;
  calls: number;
  errors: number;
  refusals: number;
  latency: QuantileSketch;
  requestBytes: number;
  responseBytes: number;
  costUnits: number;
}

export interface ReportWindow {
  /** Inclusive, ms since the epoch. */
  since?: number | undefined;
  /** Exclusive, ms since the epoch. */
  until?: number | undefined;
}

export class UsageAggregator {
  private readonly groups = new Map<string, Acc>();
  private readonly total = acc({});
  private envoyReplies = 0;

  constructor(
    private readonly by: readonly Dimension[],
    private readonly window: ReportWindow = {},
  ) {}

  /** Adds a call; false when it falls outside the window (or has no time while a window is set). */
  add(r: UsageRecord): boolean {
    const { since, until } = this.window;
    if (since !== undefined || until !== undefined) {
      if (r.time === undefined) return false;
      if (since !== undefined && r.time < since) return false;
      if (until !== undefined && r.time >= until) return false;
    }
    const id = this.by.map((d) => r[d]).join('\u0000');
    let g = this.groups.get(id);
    if (!g) {
      const key: Partial<Record<Dimension, string>> = {};
      for (const d of this.by) key[d] = r[d];
      this.groups.set(id, (g = acc(key)));
    }
    count(g, r);
    count(this.total, r);
    if (r.envoy) this.envoyReplies++;
    return true;
  }

  /** Rows by calls (most first), then by key. */
  report(): UsageReport {
    const rows = [...this.groups.values()].map(row);
    rows.sort((a, b) => b.calls - a.calls || keyText(a, this.by).localeCompare(keyText(b, this.by)));
    return { by: this.by, rows, total: row(this.total), envoyReplies: this.envoyReplies };
  }
}

function acc(key: Partial<Record<Dimension, string>>): Acc {
  return { key, calls: 0, errors: 0, refusals: 0, latency: new QuantileSketch(), requestBytes: 0, responseBytes: 0, costUnits: 0 };
}

function count(a: Acc, r: UsageRecord): void {
  a.calls++;
  if (r.outcome === 'error') a.errors++;
  else if (r.outcome === 'refused') a.refusals++;
  if (r.latencyMs !== undefined) a.latency.add(r.latencyMs);
  a.requestBytes += r.requestBytes;
  a.responseBytes += r.responseBytes;
  a.costUnits += r.costUnits;
}

function row(a: Acc): UsageRow {
  return {
    key: a.key,
    calls: a.calls,
    errors: a.errors,
    refusals: a.refusals,
    p50Ms: a.latency.quantile(0.5),
    p95Ms: a.latency.quantile(0.95),
    requestBytes: a.requestBytes,
    responseBytes: a.responseBytes,
    costUnits: a.costUnits,
  };
}

function keyText(r: UsageRow, by: readonly Dimension[]): string {
  return by.map((d) => r.key[d] ?? '').join('\u0000');
}

/**
 * A --since/--until value: an ISO 8601 time, or a duration back from `now`
 * ("90s", "30m", "24h", "7d"). Throws with the accepted forms.
 */
export function parseTimeArg(value: string, now: number): number {
  const d = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(value.trim());
  if (d) return now - Number(d[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[d[2] as 's' | 'm' | 'h' | 'd'];
  const t = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(t)) throw new Error(`"${value}" is neither an ISO 8601 time (2025-06-01T00:00:00Z) nor a duration (90s, 30m, 24h, 7d)`);
  return t;
}

/** `--by` values: repeatable, each a comma list; default caller. */
export function parseDimensions(values: readonly string[] | undefined): Dimension[] {
  const out: Dimension[] = [];
  for (const v of (values ?? []).flatMap((x) => x.split(','))) {
    const d = v.trim();
    if (d === '') continue;
    if (!(DIMENSIONS as readonly string[]).includes(d)) throw new Error(`--by ${d}: expected ${DIMENSIONS.join(', ')}`);
    if (!out.includes(d as Dimension)) out.push(d as Dimension);
  }
  return out.length ? out : ['caller'];
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}
