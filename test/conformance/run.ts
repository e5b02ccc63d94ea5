/**
 * `npm run test:conformance`: the official MCP conformance suite (server
 * scenarios), run directly against the project's fixture server and then
 * through the gateway in front of the same fixture, compared scenario by
 * scenario and checked against the recorded baseline.
 *
 *   node --import tsx test/conformance/run.ts [--direct-only] [--update-baseline]
 *                                             [--suite active|all|pending] [--timeout <ms>]
 *
 * Writes test/conformance/results/latest.json (and the CLI's raw results
 * under results/raw/). Exit code: 0 ok; 1 a regression through the gateway or
 * a run worse than the baseline; 2 the harness itself failed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startConformanceServer } from '../fixtures/conformance-server.js';
import { startGateway, freePort } from '../support/gateway.js';
import {
  buildBaseline,
  checkBaseline,
  compareRuns,
  parseBaseline,
  type Baseline,
  type BaselineFinding,
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
} from './suite.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = path.join(HERE, 'results');
const LATEST_FILE = path.join(RESULTS_DIR, 'latest.json');
const BASELINE_FILE = path.join(HERE, 'baseline.json');
const GATEWAY_SERVER_NAME = 'conformance';

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

async function loadGatewayHarness(): Promise<GatewayHarness> {
  return { startGateway };
}


export function gatewayConfig(listenPort: number, upstreamUrl: string): Record<string, unknown> {
  return {
    gateway: { listen: `127.0.0.1:${listenPort}` },
    servers: [{ name: GATEWAY_SERVER_NAME, url: upstreamUrl }],
    audit: { sink: 'stdout' },
  };
}

/** Starts the gateway in front of `upstreamUrl`, runs the suite through it, stops the gateway. */
export async function runThroughGateway(
  upstreamUrl: string,
  opts: SuiteOptions,
  harness?: GatewayHarness,
): Promise<Map<string, ScenarioResult>> {
  harness ??= await loadGatewayHarness();
  const gateway = await harness.startGateway({ config: gatewayConfig(await freePort(), upstreamUrl) });
  try {
    const url = gateway.url(GATEWAY_SERVER_NAME);
    console.log(`[conformance] gateway at ${url}`);
    return await runConformanceSuite(url, opts);
  } finally {
    await gateway.stop();
  }
}

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

interface Args {
  directOnly: boolean;
  updateBaseline: boolean;
  suite: SuiteName;
  timeoutMs: number;
}

const USAGE =
  'usage: node --import tsx test/conformance/run.ts [--direct-only] [--update-baseline] [--suite active|all|pending] [--timeout <ms>]';

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { directOnly: false, updateBaseline: false, suite: 'active', timeoutMs: 180_000 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    switch (arg) {
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

function sdkVersion(): string {
  const file = path.join(PROJECT_ROOT, 'node_modules', '@modelcontextprotocol', 'sdk', 'package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown';
}

function toObject(results: Results | undefined): Record<string, ScenarioResult> | null {
  return results ? Object.fromEntries(results) : null;
}

function summarize(label: string, results: Results, ms: number): void {
  const passed = [...results.values()].filter((r) => r.passed).length;
  console.log(`[conformance] ${label}: ${passed}/${results.size} scenarios pass (${(ms / 1000).toFixed(1)} s)`);
}

async function loadBaseline(): Promise<Baseline | undefined> {
  if (!existsSync(BASELINE_FILE)) return undefined;
  return parseBaseline(JSON.parse(await readFile(BASELINE_FILE, 'utf8')), path.relative(PROJECT_ROOT, BASELINE_FILE));
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const node24 = resolveNode24();
  const rawDir = path.join(RESULTS_DIR, 'raw');
  await rm(LATEST_FILE, { force: true }); // never leave a stale result behind a failed run
  await rm(rawDir, { recursive: true, force: true });
  await mkdir(rawDir, { recursive: true });
  const suiteOpts = (name: string): SuiteOptions => ({
    outDir: path.join(rawDir, name),
    timeoutMs: args.timeoutMs,
    suite: args.suite,
    nodeBin: node24,
  });

  // Fail before running anything if the gateway half cannot run.
  const harness = args.directOnly ? undefined : await loadGatewayHarness();
  const fixture = await startConformanceServer();
  console.log(`[conformance] fixture server at ${fixture.url}; suite ${args.suite}; CLI under ${node24}`);
  let direct: Map<string, ScenarioResult>;
  let viaGateway: Map<string, ScenarioResult> | undefined;
  const durationsMs: { direct: number; gateway: number | null } = { direct: 0, gateway: null };
  try {
    let t = performance.now();
    direct = await runConformanceSuite(fixture.url, suiteOpts('direct'));
    durationsMs.direct = Math.round(performance.now() - t);
    summarize('direct', direct, durationsMs.direct);

    if (!args.directOnly) {
      t = performance.now();
      viaGateway = await runThroughGateway(fixture.url, suiteOpts('gateway'), harness);
      durationsMs.gateway = Math.round(performance.now() - t);
      summarize('via gateway', viaGateway, durationsMs.gateway);
    } else {
      console.log('[conformance] --direct-only: the gateway run is skipped');
    }
  } finally {
    await fixture.close();
  }

  const comparison = compareRuns(direct, viaGateway);
  console.log(`\n${comparison.markdown}\n`);

  const meta = {
    description:
      'Conformance baseline: scenario -> passes (directly against test/fixtures/conformance-server.ts, and through the gateway; null = not measured). Rewrite with `npm run test:conformance -- --update-baseline`.',
    suite: args.suite,
    conformanceVersion: conformanceVersion(),
    sdkVersion: sdkVersion(),
    recordedAt: startedAt.toISOString(),
  };
  const baseline = await loadBaseline();
  let findings: BaselineFinding[] = [];
  let baselineError: string | undefined;
  if (args.updateBaseline) {
    const next = buildBaseline(baseline, direct, viaGateway, meta);
    await writeFile(BASELINE_FILE, `${JSON.stringify(next, null, 2)}\n`);
    console.log(`[conformance] baseline written to ${path.relative(PROJECT_ROOT, BASELINE_FILE)}`);
  } else if (!baseline) {
    baselineError = `no baseline at ${path.relative(PROJECT_ROOT, BASELINE_FILE)}; record one with --update-baseline`;
  } else {
    if (baseline.conformanceVersion !== meta.conformanceVersion || baseline.sdkVersion !== meta.sdkVersion) {
      console.log(
        `[conformance] note: baseline recorded with conformance ${baseline.conformanceVersion} / SDK ${baseline.sdkVersion}, ` +
          `running ${meta.conformanceVersion} / ${meta.sdkVersion}`,
      );
    }
    findings = checkBaseline(baseline, direct, viaGateway, { sameSuite: baseline.suite === args.suite });
  }

  await mkdir(RESULTS_DIR, { recursive: true });
  const finishedAt = new Date();
  await writeFile(
    LATEST_FILE,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        mode: viaGateway ? 'direct+gateway' : 'direct-only',
        suite: args.suite,
        conformanceVersion: meta.conformanceVersion,
        sdkVersion: meta.sdkVersion,
        durationsMs,
        regressions: comparison.regressions,
        baselineFindings: findings,
        markdown: comparison.markdown,
        direct: toObject(direct),
        gateway: toObject(viaGateway),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`[conformance] results written to ${path.relative(PROJECT_ROOT, LATEST_FILE)}`);

  let failed = false;
  if (comparison.regressions.length > 0) {
    failed = true;
    console.error(`\n[conformance] FAIL: ${comparison.regressions.length} regression(s) through the gateway:`);
    for (const r of comparison.regressions) {
      const what = r.checkId ? `${r.scenario} / ${r.checkId}` : r.scenario;
      console.error(`  - ${what}: ${r.direct} directly, ${r.viaGateway} via gateway${r.message ? ` — ${r.message}` : ''}`);
    }
  }
  if (baselineError) {
    failed = true;
    console.error(`\n[conformance] FAIL: ${baselineError}`);
  }
  const fatal = findings.filter((f) => f.fatal);
  if (fatal.length > 0) {
    failed = true;
    console.error(`\n[conformance] FAIL: worse than the baseline:`);
    for (const f of fatal) console.error(`  - ${f.scenario} (${f.kind}): ${f.detail}`);
  }
  const notices = findings.filter((f) => !f.fatal);
  if (notices.length > 0) {
    console.log(`\n[conformance] baseline notices:`);
    for (const f of notices) console.log(`  - ${f.scenario} (${f.kind}): ${f.detail}`);
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
