// `npm run bench`: starts its own upstream, Envoys and sidecars on loopback and
// measures, in the same run, the five setups of issue 5 against the same upstream.
// Method and the latest results: bench/README.md. Options: npm run bench -- --help
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';
import { findEnvoy, projectRoot } from '../src/envoy/binary.js';
import { opaBuild } from '../src/policy/opa-cli.js';
import { Generator, startUpstreamChild, type UpstreamChild } from './lib/children.js';
import { parseOptions, USAGE, type Options } from './lib/options.js';
import { cpuMs, machine, memory } from './lib/procstat.js';
import { holds, failedPct, summarize, type CpuPerUnit, type MaxRateRecord, type MemoryRecord, type PointRecord, type Probe, type Results } from './lib/results.js';
import { markdown } from './lib/report.js';
import { latencySvg } from './lib/svg.js';
import { label, startSetup, SETUPS, usesPolicy, type Shared, type Stack } from './lib/setups.js';
import { buildSidecar } from './lib/sidecar-proc.js';
import { PeerUnavailable } from './lib/peers/index.js';
import type { PointResult, Workload } from './lib/types.js';
import { summarizeProfileFile } from './profile-summary.js';

const ROOT = projectRoot();
const say = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (x: number | null) => (x === null || x === Infinity ? '∞' : x >= 100 ? x.toFixed(0) : x.toFixed(2));
/** Rates are offered in whole tens. */
const roundRate = (x: number) => Math.max(10, Math.round(x / 10) * 10);

let sidecarNote = 'no sidecar in this run';

/** After the last scheduled send, requests have this long to finish; then they are timeouts. */
const DRAIN_MS = 1000;
const MAX_INFLIGHT = 3000;
/** Between points; longer after a point that did not hold, so its backlog clears first. */
const PAUSE_MS = 150;
const PAUSE_AFTER_OVERLOAD_MS = 1000;
const RATE_CAP = 6000;
const MAX_PROBES = 7;
/**
 * Setups whose highest rate is searched, for workloads not searched on every setup: new sessions
 * only on setup 5 (an issue-15 target), setup 2 (its reference) and setup 14 (the floor of any
 * Node.js ext_proc sidecar), ~10 s per setup and repeat.
 */
const SEARCHED_SETUPS: Partial<Record<Workload, readonly string[]>> = { sessions: ['envoy', 'full', 'floor'] };
/** The search stops when the rate that held and the one that did not are within this factor. */
const BRACKET = 1.12;

interface Env {
  opts: Options;
  gen: Generator;
  upstream: UpstreamChild;
  stacks: Stack[];
  points: PointRecord[];
}

function envoyVersion(): string {
  try {
    return /version: [0-9a-f]+\/([0-9.]+)/.exec(execFileSync(findEnvoy(), ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** What was measured: the commit, whether src/ or policies/ differed from it, and a digest of src/ as compiled. */
function sourceState(): { commit: string; dirty: boolean; srcDigest: string } | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'policies'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    const hash = createHash('sha256');
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts')) hash.update(p.slice(ROOT.length)).update(readFileSync(p));
      }
    };
    walk(join(ROOT, 'src'));
    return { commit, dirty, srcDigest: hash.digest('hex').slice(0, 12) };
  } catch {
    return undefined;
  }
}

async function sharedSetup(opts: Options, dir: string, upstream: UpstreamChild): Promise<Shared> {
  const shared: Shared = { dir, upstream, sidecarEntry: [] };
  if (opts.setups.some((s) => s.hasSidecar && !s.peer)) {
    const built = await buildSidecar();
    shared.sidecarEntry = built.entry;
    sidecarNote = built.note;
    say(`[bench] sidecar: ${built.note}`);
  }
  if (opts.setups.some(usesPolicy)) {
    // Setup 5: one RS256 key, a JWKS file, one token per caller (4 callers in the "admin" group,
    // which the example policy lets see and call every tool), and the example policy built by the real OPA CLI.
    const issuer = 'https://idp.bench.test';
    const audience = 'https://gateway.bench.test/mcp';
    const pair = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'bench-1', alg: 'RS256', use: 'sig' };
    const jwksFile = join(dir, 'jwks.json');
    await writeFile(jwksFile, JSON.stringify({ keys: [jwk] }));
    const tokens = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        new SignJWT({ groups: ['admin'], scope: 'mcp:tools' })
          .setProtectedHeader({ alg: 'RS256', kid: 'bench-1' })
          .setSubject(`bench-caller-${i}`)
          .setIssuer(issuer)
          .setAudience(audience)
          .setIssuedAt()
          .setExpirationTime('6h')
          .sign(pair.privateKey),
      ),
    );
    shared.jwt = { issuer, audience, jwksFile, tokens };
    shared.bundle = (await opaBuild(join(ROOT, 'policies'), join(dir, 'bundle.tar.gz'))).outFile;
  }
  return shared;
}

/** Measured milliseconds of a point: --duration, stretched at low rates to give at least --min-samples. */
function pointMs(opts: Options, rate: number): number {
  return Math.max(opts.durationMs, Math.ceil((opts.minSamples / rate) * 1000));
}

/** CPU of every process that took part, per unit of work. */
async function measured(env: Env, stack: Stack, run: () => Promise<PointResult>): Promise<{ result: PointResult; cpu: CpuPerUnit }> {
  const pids = { sidecar: stack.sidecar?.pid, envoy: stack.envoy?.pid, upstream: env.upstream.pid, generator: env.gen.pid };
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid === undefined ? undefined : cpuMs(pid)]));
  const result = await run();
  const per = (k: keyof typeof pids) => {
    const pid = pids[k];
    const b = before[k];
    return pid === undefined || b === undefined ? undefined : Math.round(((cpuMs(pid) - b) * 1000) / Math.max(1, result.totalSent));
  };
  return { result, cpu: { sidecar: per('sidecar'), envoy: per('envoy'), upstream: per('upstream')!, generator: per('generator')! } };
}

async function point(env: Env, stack: Stack, workload: Workload, rate: number, durationMs: number, phase: PointRecord['phase'], repeat: number): Promise<PointRecord> {
  const { result, cpu } = await measured(env, stack, () =>
    env.gen.run({ target: stack.target, workload, rate, warmupMs: env.opts.warmupMs, durationMs, drainMs: DRAIN_MS, maxInflight: MAX_INFLIGHT }),
  );
  const rssMiB: Record<string, number> = {};
  for (const [k, pid] of Object.entries({ sidecar: stack.sidecar?.pid, envoy: stack.envoy?.pid, upstream: env.upstream.pid, generator: env.gen.pid })) {
    if (pid !== undefined) rssMiB[k] = Math.round(memory(pid).rssKb / 102.4) / 10;
  }
  await sleep(holds(result, env.opts.sloMs) ? PAUSE_MS : PAUSE_AFTER_OVERLOAD_MS);
  if (!holds(result, env.opts.sloMs) && !env.opts.profile) await quiesce(stack);
  return { ...result, repeat, phase, cpuUsPerUnit: cpu, rssMiB, at: new Date().toISOString() };
}

/**
 * Idle: the stack's processes together used under this share of one core over a window. A
 * backlog keeps a process near a whole core; background work (a /metrics scrape, a trace
 * export, a CPU profiler's sampling) stays well under this.
 */
const IDLE_SHARE = 0.15;
const IDLE_WINDOW_MS = 300;
const QUIESCE_MAX_MS = 30_000;

/**
 * After an overloaded point, waits until the stack's gateway processes stop working off
 * their backlog (a slow gateway keeps serving requests the generator gave up on), so that
 * it cannot take CPU from the next point, which may be another setup's.
 */
async function quiesce(stack: Stack): Promise<void> {
  const pids = [stack.sidecar?.pid, stack.envoy?.pid].filter((p): p is number => p !== undefined);
  if (!pids.length) return;
  const total = () => pids.reduce((a, pid) => a + cpuMs(pid), 0);
  const t0 = performance.now();
  for (;;) {
    const before = total();
    await sleep(IDLE_WINDOW_MS);
    if (total() - before < IDLE_SHARE * IDLE_WINDOW_MS) break;
    if (performance.now() - t0 > QUIESCE_MAX_MS) {
      say(`    (${label(stack.setup)} still busy ${QUIESCE_MAX_MS / 1000} s after an overloaded point; going on)`);
      return;
    }
  }
  const waited = performance.now() - t0;
  if (waited > 2 * IDLE_WINDOW_MS) say(`    (waited ${(waited / 1000).toFixed(1)} s for ${label(stack.setup)} to work off its backlog)`);
}

function line(p: PointRecord): string {
  const l = p.latencyMs;
  const f = failedPct(p);
  return `${label(SETUPS.find((s) => s.key === p.setup)!).padEnd(11)} p50 ${fmt(l.p50).padStart(6)}  p90 ${fmt(l.p90).padStart(6)}  p99 ${fmt(l.p99).padStart(6)} ms  served ${String(p.achievedRate).padStart(6)}/s${
    f ? `  failed ${f.toFixed(2)} % (${Object.keys(p.failures).join('; ')})` : ''
  }${p.cpuUsPerUnit.sidecar !== undefined ? `  sidecar ${p.cpuUsPerUnit.sidecar} µs` : ''}`;
}

async function searchMaxRate(env: Env, stack: Stack, workload: Workload, repeat: number, known: PointRecord[]): Promise<MaxRateRecord> {
  const { opts } = env;
  const probes: Probe[] = [];
  const note = (p: PointResult) => probes.push({ rate: p.rate, holds: holds(p, opts.sloMs), p99: p.latencyMs.p99, failedPct: failedPct(p), achieved: p.achievedRate });
  for (const p of known) note(p);
  const bounds = () => {
    const fails = probes.filter((p) => !p.holds).map((p) => p.rate);
    const hi = fails.length ? Math.min(...fails) : Infinity;
    const passes = probes.filter((p) => p.holds && p.rate < hi).map((p) => p.rate);
    return { lo: passes.length ? Math.max(...passes) : 0, hi };
  };
  for (let n = 0; n < MAX_PROBES; n++) {
    const { lo, hi } = bounds();
    let next: number;
    if (hi === Infinity) {
      if (lo >= RATE_CAP) break;
      next = roundRate(Math.min(RATE_CAP, lo ? lo * 1.3 : 500));
    } else if (lo === 0) {
      if (hi <= 20) break;
      next = roundRate(hi / 2);
    } else {
      if (hi / lo <= BRACKET) break;
      next = roundRate(Math.sqrt(lo * hi));
      if (next <= lo || next >= hi) break;
    }
    const p = await point(env, stack, workload, next, pointMs(opts, next), 'max-search', repeat);
    env.points.push(p);
    say(`    max-rate ${workload} @ ${String(next).padStart(5)}/s  ${line(p)}  → ${holds(p, opts.sloMs) ? 'held' : 'not held'}`);
    note(p);
  }
  const { lo, hi } = bounds();
  return { setup: stack.setup.key, workload, repeat, maxRate: lo, failedAt: hi === Infinity ? undefined : hi, probes };
}

async function envoyCounters(stack: Stack): Promise<Record<string, number>> {
  if (!stack.envoy) return {};
  try {
    const text = await (await fetch(`${stack.envoy.adminUrl}/stats?filter=ext_proc|rbac|downstream_rq_[45]xx|mcp`)).text();
    const out: Record<string, number> = {};
    for (const l of text.split('\n')) {
      const m = /^([^:]+): (\d+)$/.exec(l);
      if (m && m[2] !== '0') out[m[1]!] = Number(m[2]);
    }
    return out;
  } catch {
    return {};
  }
}

async function benchmark(opts: Options): Promise<void> {
  const started = new Date();
  const t0 = performance.now();
  // Read before the sidecar is compiled: others may be changing src/ while this runs.
  const source = sourceState();
  const dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-bench-'));
  const pointS = (rate: number) => (pointMs(opts, rate) + opts.warmupMs + PAUSE_MS + 150) / 1000;
  const estimate =
    opts.rates.reduce((a, rate) => a + pointS(rate), 0) * opts.workloads.length * opts.setups.length * opts.repeats +
    (opts.maxRate ? opts.maxWorkloads.length * opts.setups.length * opts.repeats * 4 * pointS(1000) : 0) +
    opts.setups.filter((s) => s.hasSidecar).length * (opts.rssSessions / opts.rssRate + 3) +
    opts.setups.length * (opts.workloads.length * 1.2 + 3);
  say(`[bench] ${opts.setups.map(label).join(', ')} · ${opts.workloads.join(', ')} · rates ${opts.rates.join('/')} · ${opts.repeats} repeat(s) · about ${Math.ceil(estimate / 60)} min`);
  say(`[bench] scratch folder ${dir}`);

  const upstream = await startUpstreamChild();
  const gen = await Generator.start();
  const env: Env = { opts, gen, upstream, stacks: [], points: [] };
  const results: Results = {
    meta: {},
    setups: opts.setups.map(({ n, key, title, hasSidecar }) => ({ n, key, title, hasSidecar })),
    smoke: [],
    points: env.points,
    maxRate: [],
    memory: [],
    envoyStats: {},
  };
  try {
    const shared = await sharedSetup(opts, dir, upstream);
    for (const def of opts.setups) {
      say(`[bench] starting setup ${label(def)}: ${def.title}`);
      const info = results.setups.find((x) => x.key === def.key)!;
      let stack: Stack;
      try {
        stack = await startSetup(def, shared);
      } catch (err) {
        if (!(err instanceof PeerUnavailable)) throw err;
        // A peer that cannot run here is reported with the reason; the others are still measured.
        Object.assign(info, { unavailable: true, peerNote: err.message });
        say(`        not measured: ${err.message}`);
        continue;
      }
      if (stack.note) info.peerNote = stack.note;
      env.stacks.push(stack);
      await gen.prepare(stack.target, opts.pool);
      const smoke = await gen.smoke(stack.target);
      results.smoke.push(smoke);
      say(`        listed ${smoke.listed} tools · echo: ${smoke.echo} · tool-100: ${smoke.uncurated} · progress events: ${smoke.progressEvents}`);
    }

    say('[bench] warming up (JIT, connections): every workload on every setup, 0.7 s at 200/s, not recorded');
    for (const stack of env.stacks) {
      for (const w of opts.workloads) await gen.run({ target: stack.target, workload: w, rate: 200, warmupMs: 0, durationMs: 700, drainMs: DRAIN_MS, maxInflight: MAX_INFLIGHT });
      await quiesce(stack); // a gateway slower than 200/s works off the warm-up first
    }

    // Sidecar memory after N sessions, on a sidecar that has seen only the warm-up.
    for (const stack of env.stacks) {
      const rec: MemoryRecord = { setup: stack.setup.key };
      results.memory.push(rec);
      if (!stack.sidecar || opts.rssSessions <= 0) continue;
      const s0 = memory(stack.sidecar.pid);
      const e0 = stack.envoy && memory(stack.envoy.pid);
      say(`[bench] ${label(stack.setup)}: ${opts.rssSessions.toLocaleString('en-US')} sessions at ${opts.rssRate}/s, then the sidecar's RSS (now ${(s0.rssKb / 1024).toFixed(1)} MiB)`);
      const p = await point(env, stack, 'sessions', opts.rssRate, (opts.rssSessions / opts.rssRate) * 1000, 'rss', 0);
      env.points.push(p);
      await sleep(1000);
      const s1 = memory(stack.sidecar.pid);
      const e1 = stack.envoy && memory(stack.envoy.pid);
      rec.sidecar = { start: s0.rssKb, afterSessions: s1.rssKb, hwmAfterSessions: s1.hwmKb, end: NaN, sessions: p.ok };
      if (e0 && e1) rec.envoy = { start: e0.rssKb, afterSessions: e1.rssKb, end: NaN };
      say(`        ${line(p)}\n        sidecar RSS ${(s0.rssKb / 1024).toFixed(1)} → ${(s1.rssKb / 1024).toFixed(1)} MiB after ${p.ok} sessions (peak ${(s1.hwmKb / 1024).toFixed(1)} MiB)`);
    }

    // Fixed rates: repeats outermost, setups rotated per repeat, so drift in the machine spreads over all setups.
    for (let rep = 1; rep <= opts.repeats; rep++) {
      for (const w of opts.workloads) {
        for (const rate of opts.rates) {
          say(`[bench] repeat ${rep}/${opts.repeats} · ${w} @ ${rate}/s`);
          const order = env.stacks.map((_, i) => env.stacks[(i + rep - 1) % env.stacks.length]!);
          for (const stack of order) {
            const p = await point(env, stack, w, rate, pointMs(opts, rate), 'fixed', rep);
            env.points.push(p);
            say(`    ${line(p)}`);
          }
        }
      }
    }

    if (opts.maxRate) {
      for (let rep = 1; rep <= opts.repeats; rep++) {
        for (const w of opts.maxWorkloads) {
          const order = env.stacks.map((_, i) => env.stacks[(i + rep - 1) % env.stacks.length]!);
          for (const stack of order.filter((st) => SEARCHED_SETUPS[w]?.includes(st.setup.key) ?? true)) {
            say(`[bench] repeat ${rep}/${opts.repeats} · highest ${w} rate for ${label(stack.setup)} with p99 ≤ ${opts.sloMs} ms`);
            const known = env.points.filter((p) => p.phase === 'fixed' && p.setup === stack.setup.key && p.workload === w && p.repeat === rep);
            const m = await searchMaxRate(env, stack, w, rep, known);
            results.maxRate.push(m);
            say(`    → ${m.maxRate}/s held${m.failedAt ? `, ${m.failedAt}/s did not` : ''}`);
          }
        }
      }
    }

    for (const stack of env.stacks) {
      const rec = results.memory.find((m) => m.setup === stack.setup.key)!;
      if (rec.sidecar && stack.sidecar) rec.sidecar.end = memory(stack.sidecar.pid).rssKb;
      if (rec.envoy && stack.envoy) rec.envoy.end = memory(stack.envoy.pid).rssKb;
      results.envoyStats[stack.setup.key] = await envoyCounters(stack);
    }
  } finally {
    for (const s of env.stacks) await s.stop().catch((e: unknown) => say(`[bench] stopping ${s.setup.key}: ${(e as Error).message}`));
    await gen.stop();
    await upstream.stop();
  }

  const seconds = Math.round((performance.now() - t0) / 1000);
  results.meta = {
    started: started.toISOString().replace(/\.\d+Z$/, 'Z'),
    duration: `${Math.floor(seconds / 60)} min ${seconds % 60} s`,
    durationS: seconds,
    git: source,
    machine: machine(),
    loadavgEnd: Math.round(loadavg()[0]! * 100) / 100,
    envoyVersion: envoyVersion(),
    sidecar: sidecarNote,
    options: { ...opts, setups: opts.setups.map((s) => s.key) },
    units: {
      latency: 'ms from the scheduled send time to the last byte of the response (sessions: of the notifications/initialized answer)',
      cpuUsPerUnit: 'µs of CPU (user + system, all threads, /proc/<pid>/stat) per request, or per session for the sessions workload, warm-up included in both',
      memory: 'KiB (VmRSS / VmHWM)',
      null: 'a percentile that is undefined because too many requests failed or timed out (∞ in the Markdown)',
    },
  };
  results.summary = summarize(results);
  await writeOutputs(results, opts);
  if (process.env.BENCH_ENVOY_LOG) say(`[bench] Envoy logs, bootstraps and gateway configs kept in ${dir}`);
  else await rm(dir, { recursive: true, force: true });
}

async function writeOutputs(results: Results, opts: Options): Promise<void> {
  const out = resolve(ROOT, opts.out);
  await mkdir(out, { recursive: true });
  const md = markdown(results);
  await writeFile(join(out, 'latest.json'), `${JSON.stringify(results, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1)}\n`);
  await writeFile(join(out, 'latest.md'), `# mcp-gateway benchmark: latest results\n\n${md}\n`);
  await writeFile(join(out, 'latency.svg'), latencySvg(results, opts.sloMs));
  say(`\n${md}\n`);
  say(`[bench] wrote ${join(opts.out, 'latest.json')}, ${join(opts.out, 'latest.md')}, ${join(opts.out, 'latency.svg')}`);
  if (opts.isDefaultRun) {
    const readme = join(ROOT, 'bench', 'README.md');
    const text = await readFile(readme, 'utf8').catch(() => '');
    const start = '<!-- latest-results:start -->';
    const end = '<!-- latest-results:end -->';
    const a = text.indexOf(start);
    const b = text.indexOf(end);
    if (a >= 0 && b > a) {
      await writeFile(readme, `${text.slice(0, a + start.length)}\n${md}\n${text.slice(b)}`);
      say('[bench] updated the results in bench/README.md');
    }
  } else {
    say('[bench] bench/README.md is only updated by a full default run');
  }
}

/** --profile: setup 5's sidecar under node --cpu-prof, one sidecar per workload, then the hot spots. */
async function profile(opts: Options): Promise<void> {
  const profDir = resolve(ROOT, opts.out, 'profiles');
  await mkdir(profDir, { recursive: true });
  const dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-bench-'));
  const upstream = await startUpstreamChild();
  const gen = await Generator.start();
  const env: Env = { opts, gen, upstream, stacks: [], points: [] };
  const full = SETUPS.find((s) => s.key === 'full')!;
  const source = sourceState();
  try {
    const shared = await sharedSetup({ ...opts, setups: [full] }, dir, upstream);
    for (const w of opts.profileWorkloads) {
      const rawDir = await mkdtemp(join(tmpdir(), 'mcp-gateway-cpuprof-'));
      const stack = await startSetup(full, shared, { sidecarNodeFlags: ['--cpu-prof', '--cpu-prof-dir', rawDir, '--cpu-prof-interval', '250'] });
      env.stacks = [stack];
      let p: PointRecord;
      let sinceUs: number;
      try {
        await gen.prepare(stack.target, opts.pool);
        say(`[profile] setup 5 full · ${w} @ ${opts.profileRate}/s: 3 s warm-up, then ${opts.profileSeconds} s profiled`);
        await gen.run({ target: stack.target, workload: w, rate: opts.profileRate, warmupMs: 0, durationMs: 3000, drainMs: DRAIN_MS, maxInflight: MAX_INFLIGHT });
        sinceUs = Number(process.hrtime.bigint() / 1000n);
        p = await point(env, stack, w, opts.profileRate, opts.profileSeconds * 1000, 'fixed', 1);
        say(`    ${line(p)}`);
      } finally {
        await stack.stop();
      }
      const written = (await readdir(rawDir)).filter((f) => f.endsWith('.cpuprofile'));
      if (!written.length) throw new Error(`the sidecar wrote no .cpuprofile into ${rawDir}`);
      const file = join(profDir, `sidecar-full-${w}.cpuprofile`);
      await rename(join(rawDir, written[0]!), file).catch(async () => {
        await writeFile(file, await readFile(join(rawDir, written[0]!)));
      });
      await rm(rawDir, { recursive: true, force: true });
      const summary = await summarizeProfileFile(file, { top: 30, sinceUs, title: `Sidecar (setup 5 full), ${w} at ${opts.profileRate}/s for ${opts.profileSeconds} s` });
      const header = `Commit ${source?.commit ?? '?'}${source?.dirty ? ' + uncommitted changes in src/ or policies/' : ''} (src digest ${source?.srcDigest ?? '?'}), ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}. Load: ${p.ok} ${w} requests OK of ${p.measured}, p50 ${fmt(p.latencyMs.p50)} ms, p99 ${fmt(p.latencyMs.p99)} ms, sidecar ${p.cpuUsPerUnit.sidecar} µs CPU per request.\n\n`;
      await writeFile(file.replace(/\.cpuprofile$/, '.md'), `${summary.split('\n\n')[0]}\n\n${header}${summary.split('\n\n').slice(1).join('\n\n')}\n`);
      say(`\n${summary}\n`);
      say(`[profile] wrote ${file} (open in Chrome DevTools › Performance, or speedscope) and ${file.replace(/\.cpuprofile$/, '.md')}`);
    }
  } finally {
    await gen.stop();
    await upstream.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  let opts: Options | 'help';
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    say(`bench: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    findEnvoy();
  } catch (e) {
    say(`bench: ${(e as Error).message}`);
    return 1;
  }
  if (opts.profile) await profile(opts);
  else await benchmark(opts);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      say(`bench: ${(err as Error).stack ?? String(err)}`);
      process.exit(1);
    },
  );
}
