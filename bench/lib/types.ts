// Shapes shared by the orchestrator (bench/run.ts) and the load generator child.

export const WORKLOADS = ['call-json', 'call-sse', 'list', 'sessions'] as const;
export type Workload = (typeof WORKLOADS)[number];

export const WORKLOAD_TITLES: Record<Workload, string> = {
  'call-json': 'tools/call, small JSON result',
  'call-sse': 'tools/call, SSE with 3 progress notifications',
  list: 'tools/list, 502 tools (filtered to 52 where the setup can)',
  sessions: 'new sessions (initialize + notifications/initialized)',
};

/** Where and as whom the generator sends requests for one setup. */
export interface TargetSpec {
  setup: string;
  /** Endpoint answering POSTs with application/json. */
  jsonUrl: string;
  /** Endpoint answering POSTs with text/event-stream. */
  sseUrl: string;
  /** One Authorization header value per caller; empty = no credentials. Sessions are spread over callers. */
  authorizations: string[];
  /** How many tools a tools/list answer must carry through this setup. */
  expectListed: number;
  /** A peer gateway's prefix for the upstream's tool names at jsonUrl and at sseUrl (e.g. "bench-json-"); absent for ours. */
  toolPrefix?: { json: string; sse: string };
}

export interface LatencySummary {
  /** Milliseconds; Infinity when more than (100 − p)% of the requests failed. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface PointResult {
  workload: Workload;
  setup: string;
  /** Offered rate (requests, or sessions, per second). */
  rate: number;
  /** Requests scheduled in the measured window (warm-up excluded). */
  measured: number;
  ok: number;
  failed: number;
  timeouts: number;
  /** Failure kinds → count (e.g. "http 503", "check: no result", "timeout"). */
  failures: Record<string, number>;
  latencyMs: LatencySummary;
  /** Completed OK per second over the measured window. */
  achievedRate: number;
  /** How late the generator sent requests (ms after their scheduled time): its own health. */
  sendLagMs: { p99: number; max: number };
  /** Requests sent including warm-up (denominator for CPU per request). */
  totalSent: number;
  /** HTTP requests per unit (2 for a session: initialize + notifications/initialized). */
  httpPerUnit: number;
  wallMs: number;
}

export interface SmokeResult {
  setup: string;
  listed: number | string;
  echo: string;
  /** What a call of tool-100 (not curated) got. */
  uncurated: string;
  progressEvents: number | string;
}

export type GenRequest =
  | { id: number; op: 'prepare'; target: TargetSpec; poolSize: number }
  | { id: number; op: 'run'; target: TargetSpec; workload: Workload; rate: number; warmupMs: number; durationMs: number; drainMs: number; maxInflight: number }
  | { id: number; op: 'smoke'; target: TargetSpec };

export type GenResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
