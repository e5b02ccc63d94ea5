// `npm run fuzz`: the long run. Every target in turn, in slices of fresh seeds,
// until the input budget or the time budget is spent; a progress line, then a
// summary (inputs per target, inputs/s, failures with the command that replays them).
//
//   npm run fuzz                               1,000,000 inputs in total (the default)
//   npm run fuzz -- --inputs 5000000           a bigger budget
//   npm run fuzz -- --seconds 600              stop after ten minutes (whichever comes first with --inputs)
//   npm run fuzz -- --target exchange          one target (repeatable; comma-separated too)
//   npm run fuzz -- --target jsonrpc --seed 42 --path 7:1:0 --inputs 1   replay one failure (verbose)
import { parseArgs } from 'node:util';
import { PARSER_TARGETS } from './parsers.js';
import { exchangeTarget, disorderTarget, sanity } from './exchange.js';
import { startHarness, type Harness } from './exchange-harness.js';
import { runTarget, replayCommand, type AnyTarget, type RunResult } from './target.js';

const { values } = parseArgs({
  options: {
    inputs: { type: 'string' },
    seconds: { type: 'string' },
    target: { type: 'string', multiple: true },
    seed: { type: 'string' },
    path: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('usage: npm run fuzz -- [--inputs N] [--seconds S] [--target NAME]... [--seed N [--path P]]');
  process.exit(0);
}

let harness: Harness | undefined;
const h = () => harness!;
const all: AnyTarget[] = [...PARSER_TARGETS, exchangeTarget(h), disorderTarget(h)];
const wanted = values.target?.flatMap((t) => t.split(',')) ?? [];
const unknown = wanted.filter((w) => !all.some((t) => t.name === w));
if (unknown.length) {
  console.error(`unknown target(s) ${unknown.join(', ')}; targets: ${all.map((t) => t.name).join(', ')}`);
  process.exit(2);
}
const targets = wanted.length ? all.filter((t) => wanted.includes(t.name)) : all;
const budget = values.inputs !== undefined ? Number(values.inputs) : values.seconds !== undefined ? Infinity : 1_000_000;
const seconds = values.seconds !== undefined ? Number(values.seconds) : Infinity;
if (!(budget > 0) || !(seconds > 0)) {
  console.error('--inputs and --seconds must be positive numbers');
  process.exit(2);
}

if (targets.some((t) => t.async)) harness = await startHarness();

interface Tally {
  runs: number;
  ms: number;
  known: Record<string, number>;
  failures: RunResult[];
}
const tally = new Map<string, Tally>(targets.map((t) => [t.name, { runs: 0, ms: 0, known: {}, failures: [] }]));
const started = performance.now();
const total = () => [...tally.values()].reduce((n, t) => n + t.runs, 0);
const elapsed = () => (performance.now() - started) / 1000;

if (values.seed !== undefined) {
  // Replay: one target, one seed (and path), verbose.
  const t = targets[0]!;
  const r = await runTarget(t, { numRuns: Number.isFinite(budget) ? budget : 1, seed: Number(values.seed), ...(values.path !== undefined && { path: values.path }), verbose: true });
  console.log(r.failure ? `FAILED ${r.target}\n  input: ${r.failure.counterexample}\n  ${r.failure.error}` : `${r.target}: replay passed (${r.runs} check(s))${Object.keys(r.known).length ? ` (known bugs: ${JSON.stringify(r.known)})` : ''}`);
  await harness?.close();
  process.exit(r.failure ? 1 : 0);
}

// Slices: parsers are cheap, exchanges cost a gRPC stream each. Slices are sized by time: half a
// second per parser target, two seconds per exchange target (the exchange is where the gateway's
// decisions are, and it runs ~30× slower), so the mix stays the same whatever the budget.
const sliceRuns = new Map<string, number>(targets.map((t) => [t.name, t.async ? 200 : 5000]));
let lastProgress = 0;
let seedBase = Number(process.env.FUZZ_SEED ?? Date.now() % 0x7fffffff);
console.log(`fuzzing ${targets.map((t) => t.name).join(', ')}: budget ${Number.isFinite(budget) ? `${budget} inputs` : 'unbounded'}${Number.isFinite(seconds) ? `, ${seconds} s` : ''}; first seed ${seedBase}`);
outer: for (;;) {
  for (const t of targets) {
    if (total() >= budget || elapsed() >= seconds) break outer;
    const tt = tally.get(t.name)!;
    const n = Math.max(1, Math.min(sliceRuns.get(t.name)!, Number.isFinite(budget) ? Math.ceil((budget - total()) / targets.length) : Infinity));
    const seed = seedBase++;
    const r = await runTarget(t, { numRuns: n, seed });
    tt.runs += r.runs;
    tt.ms += r.ms;
    for (const [k, v] of Object.entries(r.known)) tt.known[k] = (tt.known[k] ?? 0) + v;
    if (r.failure) {
      tt.failures.push(r);
      console.log(`\nFAILURE in ${t.name} (seed ${r.failure.seed}, path ${r.failure.path})\n  input: ${r.failure.counterexample.slice(0, 600)}\n  ${r.failure.error.slice(0, 1200)}\n  replay: ${replayCommand(r)}`);
    }
    const perRun = r.ms / Math.max(1, r.runs);
    sliceRuns.set(t.name, Math.max(20, Math.min(200_000, Math.round((t.async ? 2000 : 500) / Math.max(perRun, 1e-6)))));
    if (t.async && tt.runs % 2000 < r.runs) await sanity(harness!);
    if (performance.now() - lastProgress > 5000) {
      lastProgress = performance.now();
      const parts = [...tally].map(([name, x]) => `${name} ${x.runs}`).join(' · ');
      process.stdout.write(`[${elapsed().toFixed(0)} s] ${total()} inputs (${Math.round(total() / elapsed())}/s): ${parts}\n`);
    }
  }
}
if (harness) await sanity(harness);
await harness?.close();

console.log(`\nfuzz summary: ${total()} inputs in ${elapsed().toFixed(1)} s (${Math.round(total() / elapsed())}/s)`);
console.log(`${'target'.padEnd(20)} ${'inputs'.padStart(10)} ${'inputs/s'.padStart(10)}  known bugs / failures`);
let failed = 0;
for (const [name, x] of tally) {
  const rate = x.ms > 0 ? Math.round((x.runs / x.ms) * 1000) : 0;
  const known = Object.entries(x.known).map(([k, v]) => `${k}×${v}`).join(', ');
  console.log(`${name.padEnd(20)} ${String(x.runs).padStart(10)} ${String(rate).padStart(10)}  ${[known, x.failures.length ? `${x.failures.length} FAILURE(S)` : ''].filter(Boolean).join('; ') || '-'}`);
  failed += x.failures.length;
}
for (const [, x] of tally) for (const f of x.failures) console.log(`  ${f.target}: ${f.failure!.error.split('\n')[0]!.slice(0, 200)}\n    replay: ${replayCommand(f)}`);
process.exit(failed ? 1 : 0);
