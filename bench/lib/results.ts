// The results of one run: raw points as measured, and the summaries the report
// shows (spread over repeats, paired differences against setup 2).
import type { PointResult, SmokeResult, Workload } from './types.js';

export interface CpuPerUnit {
  /** Microseconds of CPU (user + system, all threads) per unit of work: a request, or a session. */
  sidecar?: number;
  envoy?: number;
  upstream: number;
  generator: number;
}

export interface PointRecord extends PointResult {
  repeat: number;
  phase: 'fixed' | 'max-search' | 'rss';
  cpuUsPerUnit: CpuPerUnit;
  /** RSS of each process right after the point, MiB: a check that nothing in the harness grows. */
  rssMiB: Record<string, number>;
  at: string;
}

export interface Probe {
  rate: number;
  holds: boolean;
  p99: number;
  failedPct: number;
  achieved: number;
}

export interface MaxRateRecord {
  setup: string;
  workload: Workload;
  repeat: number;
  /** The highest offered rate that held; 0 when even the lowest tried did not. */
  maxRate: number;
  /** The lowest offered rate that did not hold (undefined: none failed up to the cap). */
  failedAt: number | undefined;
  probes: Probe[];
}

export interface MemoryRecord {
  setup: string;
  /** KiB. */
  sidecar?: { start: number; afterSessions: number; hwmAfterSessions: number; end: number; sessions: number };
  envoy?: { start: number; afterSessions: number; end: number };
}

export interface SetupInfo {
  n: number;
  key: string;
  title: string;
  hasSidecar: boolean;
  /** A peer gateway: what ran (version, settings), or why it could not be measured here. */
  peerNote?: string;
  unavailable?: boolean;
}

export interface Spread {
  min: number;
  median: number;
  max: number;
  n: number;
}

export interface Cell {
  setup: string;
  workload: Workload;
  rate: number;
  p50: Spread;
  p90: Spread;
  p99: Spread;
  achieved: Spread;
  failedPct: Spread;
  cpuUs: { sidecar?: Spread; envoy?: Spread; upstream: Spread; generator: Spread };
  /** Paired with setup 2 in the same repeat (they ran seconds apart). */
  vsEnvoy?: { dP50: Spread; dP99: Spread; rP50: Spread; rP99: Spread };
  sendLagP99Max: number;
}

export interface Results {
  meta: Record<string, unknown>;
  setups: SetupInfo[];
  smoke: SmokeResult[];
  points: PointRecord[];
  maxRate: MaxRateRecord[];
  memory: MemoryRecord[];
  /** Envoy counters at the end of the run that are not zero (ext_proc, 4xx/5xx, RBAC). */
  envoyStats: Record<string, Record<string, number>>;
  summary?: { cells: Cell[]; maxRate: { setup: string; workload: Workload; spread: Spread; vsEnvoy?: { ratio: Spread; diff: Spread } }[] };
}

export function spread(values: number[]): Spread {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return { min: NaN, median: NaN, max: NaN, n: 0 };
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid]! : v[mid - 1]! === Infinity || v[mid]! === Infinity ? Infinity : (v[mid - 1]! + v[mid]!) / 2;
  return { min: v[0]!, median, max: v[v.length - 1]!, n: v.length };
}

export const failedPct = (p: PointResult) => (100 * (p.failed + p.timeouts)) / p.measured;

/**
 * Held: p99 under the SLO (failed and timed-out requests count as infinitely slow, so more
 * than 1 % failures is never held) and at least 95 % of the offered rate actually served.
 */
export function holds(p: PointResult, sloMs: number): boolean {
  return p.latencyMs.p99 <= sloMs && p.achievedRate >= 0.95 * p.rate;
}

export function summarize(r: Results): NonNullable<Results['summary']> {
  const fixed = r.points.filter((p) => p.phase === 'fixed');
  const keys = new Map<string, PointRecord[]>();
  for (const p of fixed) {
    const k = `${p.setup}|${p.workload}|${p.rate}`;
    keys.set(k, [...(keys.get(k) ?? []), p]);
  }
  const cells: Cell[] = [];
  for (const [, ps] of keys) {
    const { setup, workload, rate } = ps[0]!;
    const base = setup === 'envoy' ? undefined : fixed.filter((q) => q.setup === 'envoy' && q.workload === workload && q.rate === rate);
    const paired = (f: (p: PointRecord, b: PointRecord) => number) =>
      spread(
        ps.flatMap((p) => {
          const b = base?.find((q) => q.repeat === p.repeat);
          return b ? [f(p, b)] : [];
        }),
      );
    const cpu = (k: keyof CpuPerUnit) => (ps.some((p) => p.cpuUsPerUnit[k] !== undefined) ? spread(ps.map((p) => p.cpuUsPerUnit[k] ?? NaN)) : undefined);
    const diff = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) ? a - b : a === Infinity ? Infinity : NaN);
    const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : a === Infinity ? Infinity : NaN);
    cells.push({
      setup,
      workload,
      rate,
      p50: spread(ps.map((p) => p.latencyMs.p50)),
      p90: spread(ps.map((p) => p.latencyMs.p90)),
      p99: spread(ps.map((p) => p.latencyMs.p99)),
      achieved: spread(ps.map((p) => p.achievedRate)),
      failedPct: spread(ps.map(failedPct)),
      cpuUs: { sidecar: cpu('sidecar'), envoy: cpu('envoy'), upstream: cpu('upstream')!, generator: cpu('generator')! },
      vsEnvoy: base?.length
        ? {
            dP50: paired((p, b) => diff(p.latencyMs.p50, b.latencyMs.p50)),
            dP99: paired((p, b) => diff(p.latencyMs.p99, b.latencyMs.p99)),
            rP50: paired((p, b) => ratio(p.latencyMs.p50, b.latencyMs.p50)),
            rP99: paired((p, b) => ratio(p.latencyMs.p99, b.latencyMs.p99)),
          }
        : undefined,
      sendLagP99Max: Math.max(...ps.map((p) => p.sendLagMs.p99)),
    });
  }
  const maxRate: NonNullable<Results['summary']>['maxRate'] = [];
  const groups = new Map<string, MaxRateRecord[]>();
  for (const m of r.maxRate) groups.set(`${m.setup}|${m.workload}`, [...(groups.get(`${m.setup}|${m.workload}`) ?? []), m]);
  for (const [, ms] of groups) {
    const { setup, workload } = ms[0]!;
    const base = r.maxRate.filter((m) => m.setup === 'envoy' && m.workload === workload);
    const pairs = ms.flatMap((m) => {
      const b = base.find((x) => x.repeat === m.repeat);
      return b ? [[m.maxRate, b.maxRate] as const] : [];
    });
    maxRate.push({
      setup,
      workload,
      spread: spread(ms.map((m) => m.maxRate)),
      vsEnvoy: setup !== 'envoy' && pairs.length ? { ratio: spread(pairs.map(([a, b]) => (b > 0 ? a / b : NaN))), diff: spread(pairs.map(([a, b]) => a - b)) } : undefined,
    });
  }
  return { cells, maxRate };
}
