// The figures of issue 15 ("half the cost per call, lists at line rate"), each with its target,
// all from one run: setup 5 (full) against setup 2 (envoy). The report prints them first, with
// the same figures for setup 14 (floor) beside them when it ran: what a sidecar that decides
// nothing costs on the same path, the best any Node.js ext_proc sidecar can reach here.
import type { Cell, Results, Spread } from './results.js';
import type { Workload } from './types.js';

export interface TargetRow {
  figure: string;
  /** What the issue measured when it was filed (bench/README.md, run of 2026-11-21). */
  before: string;
  target: string;
  measured: string;
  /** undefined: not measured in this run, or not comparable (e.g. fewer sessions than the target names). */
  ok: boolean | undefined;
}

const RATE = 500;
const RSS_SESSIONS = 10_000;

// Read back from latest.json, an infinite percentile is null.
const fin = (x: number | null) => x ?? Infinity;
const num = (x: number, digits = 2) => (x === Infinity ? '∞' : Number.isNaN(x) ? '–' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(digits));
const signed = (x: number) => (x === Infinity ? '+∞' : `${x >= 0 ? '+' : '−'}${num(Math.abs(x))}`);
const int = (x: number) => Math.round(x).toLocaleString('en-US');
const range = (s: Spread, f: (x: number) => string) => (s.n > 1 && s.min !== s.max ? ` <sub>${f(s.min)} … ${f(s.max)}</sub>` : '');

/** The rows for setup 5, or (`setup`) the same figures for another setup of the run. */
export function issue15Rows(r: Results, setup = 'full'): TargetRow[] {
  const cells = r.summary?.cells ?? [];
  const cell = (w: Workload): Cell | undefined => cells.find((c) => c.setup === setup && c.workload === w && c.rate === RATE);
  const maxRate = (w: Workload) => r.summary?.maxRate.find((m) => m.setup === setup && m.workload === w);
  const notMeasured = (why: string) => ({ measured: `not measured: ${why}`, ok: undefined });

  const delta = (w: Workload, p50: number, p99: number, what: string) => {
    const c = cell(w)?.vsEnvoy;
    if (!c) return notMeasured(`needs setups 2 and 5, ${what} at ${RATE}/s`);
    const [d50, d99] = [c.dP50, c.dP99].map((s) => ({ ...s, min: fin(s.min), median: fin(s.median), max: fin(s.max) })) as [Spread, Spread];
    return {
      measured: `${signed(d50.median)}${range(d50, signed)} / ${signed(d99.median)}${range(d99, signed)} ms`,
      ok: d50.median <= p50 && d99.median <= p99,
    };
  };
  const cpu = (() => {
    const s = cell('call-json')?.cpuUs.sidecar;
    if (!s) return notMeasured(`needs setup 5, call-json at ${RATE}/s`);
    return { measured: `${int(s.median)}${range(s, int)} µs`, ok: s.median <= 250 };
  })();
  const share = (() => {
    const m = maxRate('call-json');
    const base = r.summary?.maxRate.find((x) => x.setup === 'envoy' && x.workload === 'call-json');
    if (!m?.vsEnvoy || !base?.spread.median) return notMeasured('needs setups 2 and 5 and the highest-rate search for call-json');
    // As the issue has it: the medians' ratio; the ratios of the repeats' pairs beside it.
    const pct = (x: number) => `${Math.round(x * 100)} %`;
    const share = m.spread.median / base.spread.median;
    const pairs = m.vsEnvoy.ratio.n > 1 ? `; per repeat ${pct(m.vsEnvoy.ratio.min)} … ${pct(m.vsEnvoy.ratio.max)}` : '';
    return { measured: `${pct(share)} (${int(m.spread.median)} of ${int(base.spread.median)}/s${pairs})`, ok: share >= 0.8 };
  })();
  const sessions = (() => {
    const m = maxRate('sessions');
    if (!m) return notMeasured('needs setup 5 and the highest-rate search for sessions (--max-workloads …,sessions)');
    return { measured: `${int(m.spread.median)}${range(m.spread, int)} /s`, ok: m.spread.median >= 2000 };
  })();
  const rss = (() => {
    const s = r.memory.find((m) => m.setup === setup)?.sidecar;
    if (!s) return notMeasured('needs setup 5 and --rss-sessions');
    const mib = s.afterSessions / 1024;
    // 1 % of the sessions may fail (HTTP 500s, see "Failures"); fewer than that is another figure.
    const comparable = s.sessions >= RSS_SESSIONS * 0.99;
    return { measured: `${mib.toFixed(1)} MiB after ${int(s.sessions)} sessions`, ok: comparable ? mib <= 150 : undefined };
  })();

  return [
    { figure: `full path Δp50 / Δp99 @ ${RATE} tools/call/s`, before: '+0.86 / +2.59 ms', target: '≤ +0.5 / ≤ +2 ms', ...delta('call-json', 0.5, 2, 'call-json') },
    { figure: 'sidecar CPU per tools/call (full path)', before: '579 µs', target: '≤ 250 µs', ...cpu },
    { figure: 'highest full-path rate with p99 ≤ 50 ms, as a share of bare Envoy\'s', before: '45 %', target: '≥ 80 %', ...share },
    { figure: `tools/list 502 → 52 Δp50 / Δp99 @ ${RATE}/s`, before: '+101 / +172 ms', target: '≤ +1 / ≤ +3 ms', ...delta('list', 1, 3, 'list') },
    { figure: 'new sessions (initialize + initialized) per second, full path, p99 ≤ 50 ms', before: '(not measured)', target: '≥ 2,000', ...sessions },
    { figure: `sidecar RSS after ${int(RSS_SESSIONS)} sessions`, before: '119 MiB', target: '≤ 150 MiB', ...rss },
  ];
}

export function issue15Table(r: Results): string {
  const floor = r.setups.some((s) => s.key === 'floor') && (r.summary?.cells ?? []).some((c) => c.setup === 'floor') ? issue15Rows(r, 'floor') : undefined;
  const verdict = (t: TargetRow) => (t.ok === undefined ? '' : t.ok ? 'met' : '**missed**');
  return [
    `| figure | when filed | target | measured: median <sub>min … max</sub> over repeats | |${floor ? ' 14 floor: a no-op ext_proc server | |' : ''}`,
    `| --- | ---: | ---: | ---: | :---: |${floor ? ' ---: | :---: |' : ''}`,
    ...issue15Rows(r).map((t, i) => `| ${t.figure} | ${t.before} | ${t.target} | ${t.measured} | ${verdict(t)} |${floor ? ` ${floor[i]!.measured} | ${verdict(floor[i]!)} |` : ''}`),
  ].join('\n');
}
