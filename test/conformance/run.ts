/**
 * `npm run test:conformance`: the official MCP conformance suite (server
 * scenarios), run directly against a reference server and then through the
 * gateway in front of the same server, compared scenario by scenario and
 * checked against a recorded baseline. One run has these legs:
 *
 * | leg          | suite                               | server                                   | baseline                 |
 * | ------------ | ----------------------------------- | ---------------------------------------- | ------------------------ |
 * | `stable`     | `@modelcontextprotocol/conformance` 0.1.x, `--suite <suite>` | test/fixtures/conformance-server.ts (the project's) | baseline.json |
 * | `<revision>` | `@modelcontextprotocol/conformance-next` 0.2.x, `--suite all --spec-version <revision>`, one leg per revision in {@link SPEC_VERSIONS} | test/fixtures/reference-server.ts (the project's, on SDK v2 `@modelcontextprotocol/server`) | baseline-<revision>.json |
 *
 *   node --import tsx test/conformance/run.ts [--leg stable|<revision>]... [--direct-only] [--update-baseline]
 *                                             [--suite active|all|pending] [--timeout <ms>]
 *
 * `--suite` applies to the stable leg; the revision legs always run `all` (every
 * scenario of the revision, pending ones included: the gateway may pass what the
 * reference cannot). Writes test/conformance/results/latest.json (and the CLI's raw
 * results under results/raw/<leg>/). Exit code: 0 ok; 1 a regression through the
 * gateway or a run worse than its baseline; 2 the harness itself failed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startConformanceServer } from '../fixtures/conformance-server.js';
import { startReferenceServer } from '../fixtures/reference-server.js';
import { startGateway, freePort } from '../support/gateway.js';
import {
  buildBaseline,
  checkBaseline,
  compareRuns,
  parseBaseline,
  type Baseline,
  type BaselineFinding,
  type Comparison,
  type Results,
} from './compare.js';
import {
  conformanceVersion,
  PROJECT_ROOT,
  resolveNode24,
  runConformanceSuite,
  type ScenarioResult,
  type SuiteName,
  type SuiteOptions,
  type SuitePackage,
} from './suite.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = path.join(HERE, 'results');
const LATEST_FILE = path.join(RESULTS_DIR, 'latest.json');
const GATEWAY_SERVER_NAME = 'conformance';

/** The revisions the next suite scores, each run at its own wire (2026-07-28 is stateless). */
export const SPEC_VERSIONS = ['2025-03-26', '2025-06-18', '2025-11-25', '2026-07-28'] as const;

interface Leg {
  name: string;
  pkg: SuitePackage;
  suite: SuiteName;
  specVersion?: string;
  server: 'fixture' | 'reference';
  /** The SDK package the leg's server is built on (its version is recorded in the baseline). */
  sdkPackage: string;
  baselineFile: string;
  description: string;
}

function legs(stableSuite: SuiteName): Leg[] {
  return [
    {
      name: 'stable',
      pkg: 'stable',
      suite: stableSuite,
      server: 'fixture',
      sdkPackage: '@modelcontextprotocol/sdk',
      baselineFile: path.join(HERE, 'baseline.json'),
      description:
        'Conformance baseline: scenario -> passes (directly against test/fixtures/conformance-server.ts, and through the gateway; null = not measured). Rewrite with `npm run test:conformance -- --leg stable --update-baseline`.',
    },
    ...SPEC_VERSIONS.map(
      (v): Leg => ({
        name: v,
        pkg: 'next',
        suite: 'all',
        specVersion: v,
        server: 'reference',
        sdkPackage: '@modelcontextprotocol/server',
        baselineFile: path.join(HERE, `baseline-${v}.json`),
        description: `Conformance baseline for protocol ${v} (@modelcontextprotocol/conformance-next, --suite all --spec-version ${v}): scenario -> passes (directly against the project's reference server test/fixtures/reference-server.ts, built on @modelcontextprotocol/server, and through the gateway; null = not measured). Rewrite with \`npm run test:conformance -- --leg ${v} --update-baseline\`.`,
      }),
    ),
  ];
}

// ---------------------------------------------------------------------------
// The gateway half
// ---------------------------------------------------------------------------

/** The API of test/support/gateway.ts (the e2e gateway harness). */
export interface RunningGateway {
  url(server: string): string;
  stop(): Promise<void>;
}
export interface GatewayHarness {
  startGateway(opts: { config: Record<string, unknown> }): Promise<RunningGateway>;
}

export function gatewayConfig(listenPort: number, upstreamUrl: string): Record<string, unknown> {
  return {
    gateway: { listen: `127.0.0.1:${listenPort}` },
    servers: [{ name: GATEWAY_SERVER_NAME, url: upstreamUrl }],
    audit: { sink: 'stdout' },
  };
}

/** Starts the gateway in front of `upstreamUrl`, runs `each` through it, stops the gateway. */
export async function throughGateway<T>(upstreamUrl: string, each: (url: string) => Promise<T>, harness: GatewayHarness = { startGateway }): Promise<T> {
  const gateway = await harness.startGateway({ config: gatewayConfig(await freePort(), upstreamUrl) });
  try {
    const url = gateway.url(GATEWAY_SERVER_NAME);
    console.log(`[conformance] gateway at ${url} in front of ${upstreamUrl}`);
    return await each(url);
  } finally {
    await gateway.stop();
  }
}

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

interface Args {
  legs: string[] | undefined;
  directOnly: boolean;
  updateBaseline: boolean;
  suite: SuiteName;
  timeoutMs: number;
}

const USAGE =
  `usage: node --import tsx test/conformance/run.ts [--leg stable|${SPEC_VERSIONS.join('|')}]... [--direct-only] [--update-baseline] ` +
  '[--suite active|all|pending] [--timeout <ms>]';

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { legs: undefined, directOnly: false, updateBaseline: false, suite: 'active', timeoutMs: 180_000 };
  const known = new Set<string>(['stable', ...SPEC_VERSIONS]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    switch (arg) {
      case '--leg': {
        const v = argv[++i];
        if (v === undefined || !known.has(v)) throw new Error(`--leg must be one of ${[...known].join(', ')}\n${USAGE}`);
        (args.legs ??= []).push(v);
        break;
      }
      case '--direct-only':
        args.directOnly = true;
        break;
      case '--update-baseline':
        args.updateBaseline = true;
        break;
      case '--suite': {
        const v = argv[++i];
        if (v !== 'active' && v !== 'all' && v !== 'pending') throw new Error(`--suite must be active, all or pending\n${USAGE}`);
        args.suite = v;
        break;
      }
      case '--timeout': {
        const v = Number(argv[++i]);
        if (!Number.isInteger(v) || v <= 0) throw new Error(`--timeout needs a positive integer (ms)\n${USAGE}`);
        args.timeoutMs = v;
        break;
      }
      case '-h':
      case '--help':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
    }
  }
  return args;
}

function sdkVersion(pkg: string): string {
  const file = path.join(PROJECT_ROOT, 'node_modules', ...pkg.split('/'), 'package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown';
}

function toObject(results: Results | undefined): Record<string, ScenarioResult> | null {
  return results ? Object.fromEntries(results) : null;
}

function summarize(label: string, results: Results, ms: number): void {
  const passed = [...results.values()].filter((r) => r.passed).length;
  console.log(`[conformance] ${label}: ${passed}/${results.size} scenarios pass (${(ms / 1000).toFixed(1)} s)`);
}

async function loadBaseline(file: string): Promise<Baseline | undefined> {
  if (!existsSync(file)) return undefined;
  return parseBaseline(JSON.parse(await readFile(file, 'utf8')), path.relative(PROJECT_ROOT, file));
}

interface LegRun {
  leg: Leg;
  direct: Map<string, ScenarioResult>;
  viaGateway: Map<string, ScenarioResult> | undefined;
  durationsMs: { direct: number; gateway: number | null };
}

/** Runs `legs` (all against the same kind of server) directly, then all of them through one gateway. */
async function runLegs(
  selected: readonly Leg[],
  start: () => Promise<{ url: string; close(): Promise<void> }>,
  args: Args,
  suiteOpts: (leg: Leg, half: 'direct' | 'gateway') => SuiteOptions,
): Promise<LegRun[]> {
  if (selected.length === 0) return [];
  const server = await start();
  console.log(`[conformance] ${selected[0]!.server} server at ${server.url}`);
  const runs: LegRun[] = [];
  try {
    for (const leg of selected) {
      const t = performance.now();
      const direct = await runConformanceSuite(server.url, suiteOpts(leg, 'direct'));
      const ms = Math.round(performance.now() - t);
      summarize(`${leg.name} direct`, direct, ms);
      runs.push({ leg, direct, viaGateway: undefined, durationsMs: { direct: ms, gateway: null } });
    }
    if (!args.directOnly) {
      await throughGateway(server.url, async (url) => {
        for (const run of runs) {
          const t = performance.now();
          run.viaGateway = await runConformanceSuite(url, suiteOpts(run.leg, 'gateway'));
          run.durationsMs.gateway = Math.round(performance.now() - t);
          summarize(`${run.leg.name} via gateway`, run.viaGateway, run.durationsMs.gateway);
        }
      });
    } else {
      console.log('[conformance] --direct-only: the gateway runs are skipped');
    }
  } finally {
    await server.close();
  }
  return runs;
}

interface LegOutcome {
  comparison: Comparison;
  findings: BaselineFinding[];
  baselineError?: string;
}

async function judge(run: LegRun, args: Args, startedAt: Date): Promise<LegOutcome> {
  const { leg, direct, viaGateway } = run;
  const comparison = compareRuns(direct, viaGateway);
  console.log(`\n### ${leg.name}: ${leg.pkg === 'next' ? `--spec-version ${leg.specVersion}` : `--suite ${leg.suite}`} (${conformanceVersion(leg.pkg)}, ${leg.server} server)\n`);
  console.log(`${comparison.markdown.replace(/^Direct: /m, `[${leg.name}] Direct: `)}\n`);
  const meta = {
    description: leg.description,
    suite: leg.suite,
    conformanceVersion: conformanceVersion(leg.pkg),
    sdkVersion: sdkVersion(leg.sdkPackage),
    recordedAt: startedAt.toISOString(),
    ...(leg.specVersion !== undefined && { specVersion: leg.specVersion }),
  };
  const baseline = await loadBaseline(leg.baselineFile);
  const rel = path.relative(PROJECT_ROOT, leg.baselineFile);
  if (args.updateBaseline) {
    const next = buildBaseline(baseline, direct, viaGateway, meta);
    await writeFile(leg.baselineFile, `${JSON.stringify(next, null, 2)}\n`);
    console.log(`[conformance] baseline written to ${rel}`);
    return { comparison, findings: [] };
  }
  if (!baseline) return { comparison, findings: [], baselineError: `no baseline at ${rel}; record one with --leg ${leg.name} --update-baseline` };
  if (baseline.conformanceVersion !== meta.conformanceVersion || baseline.sdkVersion !== meta.sdkVersion) {
    console.log(
      `[conformance] note: ${rel} was recorded with conformance ${baseline.conformanceVersion} / SDK ${baseline.sdkVersion}, ` +
        `running ${meta.conformanceVersion} / ${meta.sdkVersion}`,
    );
  }
  const sameSuite = baseline.suite === leg.suite && baseline.specVersion === leg.specVersion;
  return { comparison, findings: checkBaseline(baseline, direct, viaGateway, { sameSuite }) };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const node24 = resolveNode24();
  const rawDir = path.join(RESULTS_DIR, 'raw');
  await rm(LATEST_FILE, { force: true }); // never leave a stale result behind a failed run
  await rm(rawDir, { recursive: true, force: true });
  await mkdir(rawDir, { recursive: true });
  const selected = legs(args.suite).filter((l) => args.legs === undefined || args.legs.includes(l.name));
  const suiteOpts = (leg: Leg, half: 'direct' | 'gateway'): SuiteOptions => ({
    outDir: path.join(rawDir, leg.name, half),
    timeoutMs: args.timeoutMs,
    suite: leg.suite,
    nodeBin: node24,
    pkg: leg.pkg,
    ...(leg.specVersion !== undefined && { specVersion: leg.specVersion }),
  });
  console.log(`[conformance] legs: ${selected.map((l) => l.name).join(', ')}; CLI under ${node24}`);

  const runs = [
    ...(await runLegs(selected.filter((l) => l.server === 'fixture'), startConformanceServer, args, suiteOpts)),
    ...(await runLegs(selected.filter((l) => l.server === 'reference'), startReferenceServer, args, suiteOpts)),
  ];

  const outcomes = new Map<string, LegOutcome>();
  for (const run of runs) outcomes.set(run.leg.name, await judge(run, args, startedAt));

  await mkdir(RESULTS_DIR, { recursive: true });
  const finishedAt = new Date();
  await writeFile(
    LATEST_FILE,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        mode: args.directOnly ? 'direct-only' : 'direct+gateway',
        legs: Object.fromEntries(
          runs.map((run) => {
            const o = outcomes.get(run.leg.name)!;
            return [
              run.leg.name,
              {
                conformanceVersion: conformanceVersion(run.leg.pkg),
                suite: run.leg.suite,
                specVersion: run.leg.specVersion ?? null,
                server: run.leg.server,
                sdkVersion: sdkVersion(run.leg.sdkPackage),
                durationsMs: run.durationsMs,
                regressions: o.comparison.regressions,
                baselineFindings: o.findings,
                markdown: o.comparison.markdown,
                direct: toObject(run.direct),
                gateway: toObject(run.viaGateway),
              },
            ];
          }),
        ),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`[conformance] results written to ${path.relative(PROJECT_ROOT, LATEST_FILE)}`);

  let failed = false;
  for (const [name, o] of outcomes) {
    if (o.comparison.regressions.length > 0) {
      failed = true;
      console.error(`\n[conformance] FAIL (${name}): ${o.comparison.regressions.length} regression(s) through the gateway:`);
      for (const r of o.comparison.regressions) {
        const what = r.checkId ? `${r.scenario} / ${r.checkId}` : r.scenario;
        console.error(`  - ${what}: ${r.direct} directly, ${r.viaGateway} via gateway${r.message ? ` — ${r.message}` : ''}`);
      }
    }
    if (o.baselineError) {
      failed = true;
      console.error(`\n[conformance] FAIL (${name}): ${o.baselineError}`);
    }
    const fatal = o.findings.filter((f) => f.fatal);
    if (fatal.length > 0) {
      failed = true;
      console.error(`\n[conformance] FAIL (${name}): worse than the baseline:`);
      for (const f of fatal) console.error(`  - ${f.scenario} (${f.kind}): ${f.detail}`);
    }
    const notices = o.findings.filter((f) => !f.fatal);
    if (notices.length > 0) {
      console.log(`\n[conformance] baseline notices (${name}):`);
      for (const f of notices) console.log(`  - ${f.scenario} (${f.kind}): ${f.detail}`);
    }
  }
  const total = finishedAt.getTime() - startedAt.getTime();
  console.log(`\n[conformance] ${failed ? 'FAILED' : 'OK'} in ${(total / 1000).toFixed(1)} s`);
  return failed ? 1 : 0;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invokedDirectly) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`[conformance] ERROR: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(2);
    },
  );
}
