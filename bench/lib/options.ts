// Command-line options of `npm run bench` (bench/run.ts).
import { parseArgs } from 'node:util';
import { SETUPS, type SetupDef } from './setups.js';
import { WORKLOADS, type Workload } from './types.js';

export const USAGE = `npm run bench -- [options]

Measures the setups in front of the same upstream, in one run, on loopback:
  1 direct     2 envoy (no ext_proc)     3 mcp-rbac (Envoy's MCP filter + RBAC)
  4 curation (Envoy + sidecar)           5 full (Envoy + sidecar: JWT, Rego, audit file)
  6 metrics (5 + the /metrics endpoint, scraped every second; usage by subject, tool costs)
  7 integrity (4 + pinning, validate_arguments, scan_results; only when --setups names it)
  8 tracing (6 + traces: 100 % sampled, OTLP/HTTP to a sink that discards them)
  9 list-cache (5 + policy.visibility_cache by identity.groups; only when --setups names it)
  10 full-workers (5 with sidecar.workers: auto, one ext_proc worker process per core; only when --setups names it)
  peers, only when --setups names them (installed on first use into .tools/peers/; a peer that
  cannot be installed or run here is reported with the reason, and the others are still measured):
  11 contextforge (IBM ContextForge from PyPI)
  12 kuadrant (Kuadrant's mcp-gateway: Envoy + mcp-broker-router; the Go module proxy refuses the
     module, so it is built from a checkout named by BENCH_KUADRANT_SRC)
  13 agentgateway (Rust; not on crates.io: the run says so and measures the others)
  14 floor (Envoy + a no-op ext_proc server: grpc-js, the sidecar's codec, the same phases, no
     logic; BENCH_FLOOR_TRANSPORT=http2 serves it over bare node:http2 instead of grpc-js)
and writes bench/results/latest.{json,md} and bench/results/latency.svg.

Options:
  --quick                  a short run: rates 200,500; 1 repeat; 1 s points; 2,000 sessions for RSS
  --setups LIST            setups by number or name, e.g. 2,5 or envoy,full        (default: all)
  --workloads LIST         call-json, call-sse, list, sessions                     (default: all)
  --rates LIST             offered rates per second                                (default: 200,500,1000)
  --repeats N              repeats of every point, interleaved                     (default: 3)
  --duration S             measured seconds per point                              (default: 1.5)
  --min-samples N          …stretched so that every point has at least N requests  (default: 400)
  --warmup S               warm-up seconds before each point (same rate)           (default: 0.4)
  --pool N                 sessions per endpoint per setup for the call workloads  (default: 16)
  --rss-sessions N         sessions opened before reading the sidecar's RSS; 0 skips (default: 10000)
  --rss-rate N             rate of those sessions per second                       (default: 500)
  --no-max-rate            skip the search for the highest rate with p99 under the SLO
  --max-workloads LIST     workloads searched for their highest rate   (default: call-json,sessions;
                           sessions on setups 2, 5 and 14 only)
  --slo-ms N               the p99 a rate must stay under to count as held          (default: 50)
  --out DIR                results folder                                          (default: bench/results)
  --profile                profiling mode: setup 5 only, sidecar under node --cpu-prof, then a
                           summary of the top self-time functions (bench/results/profiles/)
  --profile-workloads LIST workloads profiled, one sidecar each                    (default: call-json,list)
  --profile-rate N         (default: 500)
  --profile-seconds S      (default: 10)
  -h, --help
`;

export interface Options {
  quick: boolean;
  setups: SetupDef[];
  workloads: Workload[];
  rates: number[];
  repeats: number;
  durationMs: number;
  minSamples: number;
  warmupMs: number;
  pool: number;
  rssSessions: number;
  rssRate: number;
  maxRate: boolean;
  maxWorkloads: Workload[];
  sloMs: number;
  out: string;
  profile: boolean;
  profileWorkloads: Workload[];
  profileRate: number;
  profileSeconds: number;
  /** True when nothing narrowed the default run (only then is bench/README.md updated). */
  isDefaultRun: boolean;
}

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

function workloads(s: string, flag: string): Workload[] {
  return list(s).map((w) => {
    if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`${flag}: unknown workload "${w}" (expected ${WORKLOADS.join(', ')})`);
    return w as Workload;
  });
}

function positive(s: string, flag: string, integer = false): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`${flag}: expected a positive ${integer ? 'integer' : 'number'}, got "${s}"`);
  return n;
}

export function parseOptions(argv: string[]): Options | 'help' {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      setups: { type: 'string' },
      workloads: { type: 'string' },
      rates: { type: 'string' },
      repeats: { type: 'string' },
      duration: { type: 'string' },
      'min-samples': { type: 'string' },
      warmup: { type: 'string' },
      pool: { type: 'string' },
      'rss-sessions': { type: 'string' },
      'rss-rate': { type: 'string' },
      'no-max-rate': { type: 'boolean' },
      'max-workloads': { type: 'string' },
      'slo-ms': { type: 'string' },
      out: { type: 'string' },
      profile: { type: 'boolean' },
      'profile-workloads': { type: 'string' },
      'profile-rate': { type: 'string' },
      'profile-seconds': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) return 'help';
  const quick = v.quick === true;
  const setups = v.setups
    ? list(v.setups).map((s) => {
        const d = SETUPS.find((x) => String(x.n) === s || x.key === s);
        if (!d) throw new Error(`--setups: unknown setup "${s}" (expected 1-${SETUPS.length} or ${SETUPS.map((x) => x.key).join(', ')})`);
        return d;
      })
    : SETUPS.filter((s) => !s.optIn);
  const sorted = [...new Set(setups)].sort((a, b) => a.n - b.n);
  const narrowed = ['setups', 'workloads', 'rates', 'repeats', 'duration', 'min-samples', 'warmup', 'pool', 'rss-sessions', 'rss-rate', 'no-max-rate', 'max-workloads', 'slo-ms'].some(
    (k) => (v as Record<string, unknown>)[k] !== undefined,
  );
  return {
    quick,
    setups: sorted,
    workloads: v.workloads ? workloads(v.workloads, '--workloads') : [...WORKLOADS],
    rates: v.rates ? list(v.rates).map((r) => positive(r, '--rates')) : quick ? [200, 500] : [200, 500, 1000],
    repeats: v.repeats ? positive(v.repeats, '--repeats', true) : quick ? 1 : 3,
    durationMs: (v.duration ? positive(v.duration, '--duration') : quick ? 1 : 1.5) * 1000,
    minSamples: v['min-samples'] ? positive(v['min-samples'], '--min-samples', true) : quick ? 200 : 400,
    warmupMs: (v.warmup !== undefined ? Number(v.warmup) : quick ? 0.3 : 0.4) * 1000,
    pool: v.pool ? positive(v.pool, '--pool', true) : 16,
    rssSessions: v['rss-sessions'] !== undefined ? Number(v['rss-sessions']) : quick ? 2000 : 10_000,
    rssRate: v['rss-rate'] ? positive(v['rss-rate'], '--rss-rate') : 500,
    maxRate: v['no-max-rate'] !== true,
    maxWorkloads: v['max-workloads'] ? workloads(v['max-workloads'], '--max-workloads') : ['call-json', 'sessions'],
    sloMs: v['slo-ms'] ? positive(v['slo-ms'], '--slo-ms') : 50,
    out: v.out ?? 'bench/results',
    profile: v.profile === true,
    profileWorkloads: v['profile-workloads'] ? workloads(v['profile-workloads'], '--profile-workloads') : ['call-json', 'list'],
    profileRate: v['profile-rate'] ? positive(v['profile-rate'], '--profile-rate') : 500,
    profileSeconds: v['profile-seconds'] ? positive(v['profile-seconds'], '--profile-seconds') : 10,
    isDefaultRun: !quick && !narrowed && v.profile !== true && v.out === undefined,
  };
}
