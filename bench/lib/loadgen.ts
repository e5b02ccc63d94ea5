// The open-loop load generator: requests leave on a fixed timetable (i / rate)
// whatever happens to earlier ones, and each latency is measured from the
// request's SCHEDULED send time, so a slow system shows its queueing instead of
// quietly slowing the generator down (no coordinated omission).
//
// HTTP/1.1 keep-alive connections (bench/lib/http1.ts, lighter than node:http);
// MCP sessions are opened up front (a pool per setup) and calls are spread over
// them round-robin.
import { performance } from 'node:perf_hooks';
import { Http1Client, type Reply } from './http1.js';
import type { LatencySummary, PointResult, SmokeResult, TargetSpec, Workload } from './types.js';

export const PROTOCOL_VERSION = '2025-11-25';
const MAX_SOCKETS = 128;
const POOL_CLIENT = 'bench-pool';
const EPHEMERAL_CLIENT = 'bench-ephemeral';
const PROGRESS_STEPS = 3;

type Done = (failure: string | undefined, reply?: Reply) => void;

interface Session {
  id: string;
  url: URL;
  authorization: string | undefined;
  /** The header lines of every request in this session. */
  headers: string;
  nextId: number;
}

interface Pool {
  json: Session[];
  sse: Session[];
  rrJson: number;
  rrSse: number;
  rrCaller: number;
}

const clients = new Map<string, Http1Client>();
const pools = new Map<string, Pool>();

function clientFor(url: URL): Http1Client {
  let c = clients.get(url.host);
  if (!c) {
    c = new Http1Client(url.hostname, Number(url.port), MAX_SOCKETS);
    clients.set(url.host, c);
  }
  return c;
}

function post(url: URL, headers: string, body: string, done: Done): void {
  clientFor(url).post(url.pathname, headers, body, done);
}

function abortAll(): void {
  for (const c of clients.values()) c.abortAll();
}

const BASE_HEADERS = `content-type: application/json\r\naccept: application/json, text/event-stream\r\nmcp-protocol-version: ${PROTOCOL_VERSION}\r\n`;

/** Header lines for one request (the session's lines are cached on the session). */
function baseHeaders(authorization: string | undefined, sessionId?: string): string {
  let h = BASE_HEADERS;
  if (sessionId !== undefined) h += `mcp-session-id: ${sessionId}\r\n`;
  if (authorization !== undefined) h += `authorization: ${authorization}\r\n`;
  return h;
}

/** "http 503" plus the start of the body, so a run's failures say what they were. */
function httpFailure(r: Reply): string {
  const text = r.body.toString('utf8', 0, Math.min(r.body.length, 400));
  const reason = /"reason":"([^"]+)"/.exec(text)?.[1] ?? /"message":"([^"]{0,60})/.exec(text)?.[1] ?? text.slice(0, 60).replace(/\s+/g, ' ');
  return `http ${r.status}${reason ? `: ${reason}` : ''}`;
}

function count(buf: Buffer, needle: string): number {
  let n = 0;
  for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + needle.length)) n++;
  return n;
}

const INIT_BODY = (client: string) =>
  JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: client, version: '1.0.0' } } });
const INITIALIZED_BODY = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });

/** initialize, then notifications/initialized: a usable session. */
function handshake(url: URL, authorization: string | undefined, client: string, done: (failure: string | undefined, sessionId?: string) => void): void {
  post(url, baseHeaders(authorization), INIT_BODY(client), (f, r) => {
    if (f) return done(f);
    if (r!.status !== 200) return done(`initialize: http ${r!.status}`);
    const sid = r!.headers['mcp-session-id'];
    if (typeof sid !== 'string' || r!.body.indexOf('"result"') === -1) return done('initialize: no session');
    post(url, baseHeaders(authorization, sid), INITIALIZED_BODY, (f2, r2) => {
      if (f2) return done(`initialized: ${f2}`);
      if (r2!.status !== 202 && r2!.status !== 200) return done(`initialized: http ${r2!.status}`);
      done(undefined, sid);
    });
  });
}

/** Set-up requests (session pools, smoke checks) are bounded in time too. */
const SETUP_TIMEOUT_MS = 15_000;

function bounded<T>(what: string, run: (resolve: (v: T) => void, reject: (e: Error) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${SETUP_TIMEOUT_MS / 1000} s`)), SETUP_TIMEOUT_MS);
    run(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    );
  });
}

const handshakeP = (url: URL, authorization: string | undefined, client: string) =>
  bounded<string>(`initialize at ${url.href}`, (resolve, reject) => handshake(url, authorization, client, (f, sid) => (f ? reject(new Error(`${url.href}: ${f}`)) : resolve(sid!))));

export async function prepare(target: TargetSpec, poolSize: number): Promise<number> {
  const callers = target.authorizations.length ? target.authorizations : [undefined];
  const open = async (url: string) => {
    const u = new URL(url);
    const out: Session[] = [];
    for (let i = 0; i < poolSize; i += 4) {
      const batch = Array.from({ length: Math.min(4, poolSize - i) }, (_, k) => {
        const authorization = callers[(i + k) % callers.length];
        return handshakeP(u, authorization, POOL_CLIENT).then((id) => ({ id, url: u, authorization, headers: baseHeaders(authorization, id), nextId: 1 }));
      });
      out.push(...(await Promise.all(batch)));
    }
    return out;
  };
  const pool: Pool = { json: await open(target.jsonUrl), sse: await open(target.sseUrl), rrJson: 0, rrSse: 0, rrCaller: 0 };
  pools.set(target.setup, pool);
  return pool.json.length + pool.sse.length;
}

function poolOf(target: TargetSpec): Pool {
  const p = pools.get(target.setup);
  if (!p) throw new Error(`no session pool for ${target.setup}: prepare it first`);
  return p;
}

const CALL_JSON = (id: number, prefix = '') =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"${prefix}echo","arguments":{"message":"hello from the benchmark"}}}`;
const CALL_SSE = (id: number, prefix = '') =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"${prefix}progress","arguments":{"steps":${PROGRESS_STEPS}},"_meta":{"progressToken":${id}}}}`;
const LIST = (id: number) => `{"jsonrpc":"2.0","id":${id},"method":"tools/list","params":{}}`;

/** Sends one unit of work; `done` gets a failure description or undefined. */
function issue(workload: Workload, target: TargetSpec, pool: Pool, done: (failure: string | undefined) => void): void {
  switch (workload) {
    case 'call-json': {
      const s = pool.json[pool.rrJson++ % pool.json.length]!;
      post(s.url, s.headers, CALL_JSON(s.nextId++, target.toolPrefix?.json), (f, r) => {
        if (f) return done(f);
        if (r!.status !== 200) return done(httpFailure(r!));
        if (r!.body.indexOf('"result"') === -1) return done('check: no result');
        done(undefined);
      });
      return;
    }
    case 'call-sse': {
      const s = pool.sse[pool.rrSse++ % pool.sse.length]!;
      post(s.url, s.headers, CALL_SSE(s.nextId++, target.toolPrefix?.sse), (f, r) => {
        if (f) return done(f);
        if (r!.status !== 200) return done(httpFailure(r!));
        if (r!.body.indexOf('"result"') === -1) return done('check: no result');
        if (count(r!.body, 'notifications/progress') !== PROGRESS_STEPS) return done('check: progress events');
        done(undefined);
      });
      return;
    }
    case 'list': {
      const s = pool.json[pool.rrJson++ % pool.json.length]!;
      post(s.url, s.headers, LIST(s.nextId++), (f, r) => {
        if (f) return done(f);
        if (r!.status !== 200) return done(httpFailure(r!));
        const n = count(r!.body, '"inputSchema"');
        if (n !== target.expectListed) return done(`check: ${n} tools listed`);
        done(undefined);
      });
      return;
    }
    case 'sessions': {
      const callers = target.authorizations;
      const authorization = callers.length ? callers[pool.rrCaller++ % callers.length] : undefined;
      handshake(new URL(target.jsonUrl), authorization, EPHEMERAL_CLIENT, (f) => done(f));
      return;
    }
  }
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function summarize(lat: Float64Array): LatencySummary {
  // A request that failed or never finished counts as infinitely slow.
  const sorted = Float64Array.from(lat, (x) => (Number.isNaN(x) ? Infinity : x)).sort();
  let sum = 0;
  let n = 0;
  for (const x of sorted) if (Number.isFinite(x)) (sum += x), n++;
  const r = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x);
  return {
    p50: r(percentile(sorted, 0.5)),
    p90: r(percentile(sorted, 0.9)),
    p99: r(percentile(sorted, 0.99)),
    p999: r(percentile(sorted, 0.999)),
    max: r(sorted[sorted.length - 1] ?? NaN),
    mean: n ? r(sum / n) : Infinity,
  };
}

export interface RunSpec {
  target: TargetSpec;
  workload: Workload;
  rate: number;
  warmupMs: number;
  durationMs: number;
  /** How long after the last scheduled send outstanding requests may still finish; then they are aborted as timeouts. */
  drainMs: number;
  /** More requests than this in flight: further sends are counted as failures instead of piling up. */
  maxInflight: number;
}

export function runPoint(spec: RunSpec): Promise<PointResult> {
  const { target, workload, rate } = spec;
  const pool = poolOf(target);
  const interval = 1000 / rate;
  const warmN = Math.round((rate * spec.warmupMs) / 1000);
  const measN = Math.max(1, Math.round((rate * spec.durationMs) / 1000));
  const total = warmN + measN;
  const lat = new Float64Array(measN).fill(NaN);
  const settledAt = new Uint8Array(measN); // 1 = finished (ok or failed)
  const lag = new Float64Array(total);
  const failures: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  let inflight = 0;
  let sent = 0;
  let done = 0;
  let lastCompletion = 0;
  let finished = false;
  const started = performance.now();
  const t0 = started + 20;
  const measureStart = t0 + warmN * interval;

  return new Promise<PointResult>((resolve) => {
    let tickTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const fail = (i: number, why: string) => {
      if (i < warmN) return;
      failed++;
      settledAt[i - warmN] = 1;
      failures[why] = (failures[why] ?? 0) + 1;
      if (process.env.BENCH_DEBUG) process.stderr.write(`[loadgen] ${workload} #${i} (warm-up ${warmN}) at +${Math.round(performance.now() - t0)} ms: ${why}\n`);
    };
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(tickTimer);
      clearTimeout(drainTimer);
      let timeouts = 0;
      for (let k = 0; k < measN; k++) if (!settledAt[k]) timeouts++;
      if (timeouts) failures.timeout = (failures.timeout ?? 0) + timeouts;
      abortAll();
      const lagSorted = lag.slice(0, sent).sort();
      const windowMs = Math.max(1, lastCompletion - measureStart);
      resolve({
        workload,
        setup: target.setup,
        rate,
        measured: measN,
        ok,
        failed,
        timeouts,
        failures,
        latencyMs: summarize(lat),
        achievedRate: Math.round((ok / windowMs) * 1000 * 10) / 10,
        sendLagMs: { p99: Math.round(percentile(lagSorted, 0.99) * 1000) / 1000, max: Math.round((lagSorted[lagSorted.length - 1] ?? 0) * 1000) / 1000 },
        totalSent: sent,
        httpPerUnit: workload === 'sessions' ? 2 : 1,
        wallMs: Math.round(performance.now() - started),
      });
    };
    const fire = (i: number) => {
      const scheduled = t0 + i * interval;
      lag[i] = performance.now() - scheduled;
      if (inflight >= spec.maxInflight) {
        fail(i, 'generator: too many in flight');
        if (++done === total) finish();
        return;
      }
      inflight++;
      issue(workload, target, pool, (failure) => {
        inflight--;
        if (finished) return;
        const now = performance.now();
        if (failure) fail(i, failure);
        else if (i >= warmN) {
          lat[i - warmN] = now - scheduled;
          settledAt[i - warmN] = 1;
          ok++;
          lastCompletion = now;
        }
        if (++done === total) finish();
      });
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && t0 + sent * interval <= now) fire(sent++);
      if (sent < total) {
        tickTimer = setTimeout(tick, Math.max(0, t0 + sent * interval - performance.now()));
      } else if (!finished) {
        drainTimer = setTimeout(finish, Math.max(0, t0 + total * interval + spec.drainMs - performance.now()));
      }
    };
    tickTimer = setTimeout(tick, Math.max(0, t0 - performance.now()));
  });
}

const postP = (url: URL, headers: string, body: string) =>
  bounded<Reply>(`POST ${url.href}`, (resolve, reject) => post(url, headers, body, (f, r) => (f ? reject(new Error(f)) : resolve(r!))));

/** One of each request, to show what each setup actually does (lists filtered? uncurated call refused?). */
export async function smoke(target: TargetSpec): Promise<SmokeResult> {
  const pool = poolOf(target);
  const js = pool.json[0]!;
  const ss = pool.sse[0]!;
  const describe = (r: Reply) => {
    const text = r.body.toString('utf8');
    const code = /"code":(-?\d+)/.exec(text)?.[1];
    const reason = /"reason":"([a-z_]+)"/.exec(text)?.[1];
    if (r.status === 200 && text.includes('"result"') && !text.includes('"isError":true')) return 'passed to the upstream';
    if (r.status === 200 && text.includes('"isError":true')) return 'answered by the upstream with isError';
    return `refused: HTTP ${r.status}${code ? `, JSON-RPC ${code}` : ''}${reason ? ` (${reason})` : text && !code ? ` (${text.slice(0, 60).trim()})` : ''}`;
  };
  const list = await postP(js.url, js.headers, LIST(js.nextId++));
  const echo = await postP(js.url, js.headers, CALL_JSON(js.nextId++, target.toolPrefix?.json));
  const hidden = await postP(
    js.url,
    js.headers,
    JSON.stringify({ jsonrpc: '2.0', id: js.nextId++, method: 'tools/call', params: { name: `${target.toolPrefix?.json ?? ''}tool-100`, arguments: { id: 'x' } } }),
  );
  const progress = await postP(ss.url, ss.headers, CALL_SSE(ss.nextId++, target.toolPrefix?.sse));
  return {
    setup: target.setup,
    listed: list.status === 200 ? count(list.body, '"inputSchema"') : `HTTP ${list.status}`,
    echo: describe(echo),
    uncurated: describe(hidden),
    progressEvents: progress.status === 200 ? count(progress.body, 'notifications/progress') : `HTTP ${progress.status}`,
  };
}
