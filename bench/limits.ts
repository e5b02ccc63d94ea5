// `npm run bench:limits`: what the limits check costs a tools/call, as Δp50/Δp99 against the
// same Envoy + sidecar without limits (setup 4 of bench/run.ts), in one run, on loopback:
//   curation             no limits (the baseline)
//   limits-local         a per-caller-and-tool rate and a concurrency cap, in-process
//   limits-rls           the rate counted by the real envoyproxy/ratelimit (one gRPC call per request)
//   limits-distributed   the rate at envoyproxy/ratelimit and the cap's slot leased in the real Redis
// The limits are far above the offered rate: every request is counted and none refused.
// Points are interleaved (the order rotates every repeat) so drift spreads over all variants.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { projectRoot } from '../src/envoy/binary.js';
import { parseConfig } from '../src/config/load.js';
import { rateLimitServiceConfigYaml } from '../src/limits/ratelimit-config.js';
import { startRedis, startRateLimitService, type RunningRedis, type RunningRateLimitService } from '../test/support/limit-services.js';
import { Generator, startUpstreamChild } from './lib/children.js';
import { cpuMs, machine } from './lib/procstat.js';
import { startSetup, SETUPS, type Shared, type Stack } from './lib/setups.js';
import { buildSidecar } from './lib/sidecar-proc.js';
import type { PointResult } from './lib/types.js';

const say = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const RATE = { name: 'calls-per-caller-and-tool', match: { methods: ['tools/call'] }, key: ['caller', 'tool'], requests_per_unit: 1_000_000, unit: 'second' };
const CAP = { name: 'calls-in-flight', match: { methods: ['tools/call'] }, key: ['caller'], concurrency: 100_000 };

interface Variant {
  key: string;
  title: string;
  extra(rls: string, redis: string): Record<string, unknown>;
}

const VARIANTS: Variant[] = [
  { key: 'curation', title: 'Envoy + sidecar, no limits (baseline)', extra: () => ({}) },
  { key: 'limits-local', title: 'a rate and a concurrency cap, in-process', extra: () => ({ rate_limits: [RATE, CAP] }) },
  { key: 'limits-rls', title: 'the rate at envoyproxy/ratelimit (gRPC, Redis behind it)', extra: (rls) => ({ rate_limits: [RATE], rate_limit_service: { address: rls, timeout_ms: 500 } }) },
  {
    key: 'limits-distributed',
    title: 'the rate at envoyproxy/ratelimit, the cap in Redis',
    extra: (rls, redis) => ({ rate_limits: [RATE, CAP], rate_limit_service: { address: rls, timeout_ms: 500 }, redis: { url: redis, timeout_ms: 500 } }),
  },
];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const signed = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}` : '–');
const spread = (xs: number[], f: (x: number) => string) => (xs.length > 1 ? `${f(median(xs))} <sub>${f(Math.min(...xs))} … ${f(Math.max(...xs))}</sub>` : f(xs[0] ?? NaN));

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: { rate: { type: 'string' }, repeats: { type: 'string' }, duration: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (v.help) {
    process.stdout.write('npm run bench:limits -- [--rate 500] [--repeats 5] [--duration 3] [--out bench/results]\n');
    return;
  }
  const rate = Number(v.rate ?? 500);
  const repeats = Number(v.repeats ?? 5);
  const durationMs = Number(v.duration ?? 3) * 1000;
  const out = resolve(projectRoot(), v.out ?? 'bench/results');

  const m = machine();
  const dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-bench-limits-'));
  const upstream = await startUpstreamChild();
  const gen = await Generator.start();
  let redis: RunningRedis | undefined;
  let rls: RunningRateLimitService | undefined;
  const stacks: { variant: Variant; stack: Stack }[] = [];
  const points: { variant: string; repeat: number; p: PointResult; sidecarUs: number }[] = [];
  try {
    const built = await buildSidecar();
    say(`[bench:limits] sidecar: ${built.note}`);
    redis = await startRedis();
    const descriptors = rateLimitServiceConfigYaml(parseConfig(stringify({ servers: [{ name: 'x', url: 'http://127.0.0.1:1/mcp' }], rate_limits: [RATE] }), '<bench>'));
    rls = await startRateLimitService(descriptors, redis);
    const shared: Shared = { dir, upstream, sidecarEntry: built.entry };
    const curation = SETUPS.find((s) => s.key === 'curation')!;
    for (const variant of VARIANTS) {
      const stack = await startSetup({ ...curation, key: variant.key, title: variant.title }, shared, { extraConfig: variant.extra(rls.grpcAddress, redis.url) });
      stacks.push({ variant, stack });
      await gen.prepare(stack.target, 16);
      const smoke = await gen.smoke(stack.target);
      say(`[bench:limits] ${variant.key}: echo ${smoke.echo}, listed ${smoke.listed}`);
      await gen.run({ target: stack.target, workload: 'call-json', rate: 200, warmupMs: 0, durationMs: 1000, drainMs: 1000, maxInflight: 3000 });
    }
    for (let rep = 1; rep <= repeats; rep++) {
      const order = stacks.map((_, i) => stacks[(i + rep - 1) % stacks.length]!);
      for (const { variant, stack } of order) {
        const pid = stack.sidecar!.pid;
        const before = cpuMs(pid);
        const p = await gen.run({ target: stack.target, workload: 'call-json', rate, warmupMs: 500, durationMs, drainMs: 1000, maxInflight: 3000 });
        const sidecarUs = Math.round(((cpuMs(pid) - before) * 1000) / Math.max(1, p.totalSent));
        points.push({ variant: variant.key, repeat: rep, p, sidecarUs });
        say(`  repeat ${rep} ${variant.key.padEnd(19)} p50 ${f2(p.latencyMs.p50)}  p99 ${f2(p.latencyMs.p99)} ms  ok ${p.ok}/${p.measured}${p.failed ? `  failed ${JSON.stringify(p.failures)}` : ''}  sidecar ${sidecarUs} µs/req`);
        await sleep(200);
      }
    }
  } finally {
    for (const { stack } of stacks) await stack.stop().catch(() => undefined);
    await rls?.stop();
    await redis?.stop();
    await gen.stop();
    await upstream.stop();
    await rm(dir, { recursive: true, force: true });
  }

  const rows = VARIANTS.map((variant) => {
    const ps = points.filter((x) => x.variant === variant.key);
    const paired = (f: (a: PointResult, b: PointResult) => number) =>
      ps.flatMap((x) => {
        const b = points.find((y) => y.variant === 'curation' && y.repeat === x.repeat);
        return b && variant.key !== 'curation' ? [f(x.p, b.p)] : [];
      });
    const failed = ps.reduce((a, x) => a + x.p.failed + x.p.timeouts, 0);
    const measured = ps.reduce((a, x) => a + x.p.measured, 0);
    return `| ${variant.key} | ${variant.title} | ${spread(ps.map((x) => x.p.latencyMs.p50), f2)} | ${spread(ps.map((x) => x.p.latencyMs.p99), f2)} | ${
      variant.key === 'curation' ? 'baseline' : spread(paired((a, b) => a.latencyMs.p50 - b.latencyMs.p50), signed)
    } | ${variant.key === 'curation' ? 'baseline' : spread(paired((a, b) => a.latencyMs.p99 - b.latencyMs.p99), signed)} | ${f2((100 * failed) / Math.max(1, measured))} | ${median(ps.map((x) => x.sidecarUs))} |`;
  });
  const md = [
    `# What the limits check costs (tools/call, JSON, ${rate}/s)`,
    '',
    `${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} · ${repeats} interleaved repeats of ${durationMs / 1000} s at ${rate} calls/s · ${m.cores} × ${m.cpu} · load ${m.loadavg_1m_at_start} at the start, ${loadavg()[0]!.toFixed(2)} at the end`,
    '',
    'Median over the repeats (min … max in small print); Δ is paired with the baseline point of the same repeat.',
    '',
    '| variant | what | p50 ms | p99 ms | Δp50 ms | Δp99 ms | failed % | sidecar CPU µs/req |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
  ].join('\n');
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'limits.md'), md);
  process.stdout.write(`\n${md}`);
  say(`[bench:limits] wrote ${join(v.out ?? 'bench/results', 'limits.md')}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    say(`bench:limits: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
