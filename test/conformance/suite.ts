/**
 * Runs the official MCP conformance suite (`@modelcontextprotocol/conformance`,
 * server scenarios) against one URL and returns the result of every scenario.
 *
 * The CLI needs Node >= 22, so it runs under the Node 24 that
 * `scripts/bootstrap.sh` installs (`NODE24_BIN` in `.tools/paths.env`).
 *
 * How the CLI (0.1.x) reports, and what this module relies on:
 * - stdout: `Running <suite> suite (<n> scenarios) against <url>`, then per
 *   scenario `=== Running scenario: <name> ===` followed by
 *   `Results saved to <outDir>/server-<name>-<ISO timestamp>` (absent when the
 *   scenario threw; the CLI then prints `Failed to run scenario <name>:` on
 *   stderr), then `=== SUMMARY ===` with one `✓|✗ <name>: <p> passed, <f> failed`
 *   line per scenario.
 * - each result directory holds `checks.json`: an array of
 *   `{ id, name, description, status, timestamp, errorMessage?, details? }` with
 *   status SUCCESS | FAILURE | WARNING | INFO (SKIPPED is tolerated).
 * - exit code 0 (no failed check) or 1 (some failed check, or a usage error).
 * Anything else is treated as a format this module does not understand, and
 * the run fails with the raw output attached rather than guessing.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ScenarioCheck {
  id: string;
  status: string;
  message?: string;
}

export interface ScenarioResult {
  scenario: string;
  passed: boolean;
  checks: ScenarioCheck[];
}

export type SuiteName = 'active' | 'all' | 'pending';

/**
 * Which installed release of the suite: `stable` is `@modelcontextprotocol/conformance`
 * (0.1.x, the registry's `latest`, 2025 revisions only); `next` is the 0.2.0 pre-release
 * installed under the alias `@modelcontextprotocol/conformance-next`, the first to score
 * 2026-07-28 and to take `--spec-version`. Both report in the format described above.
 */
export type SuitePackage = 'stable' | 'next';

export interface SuiteOptions {
  /** Where the CLI writes its per-scenario results; must be absent or empty. Default: a temporary directory, removed afterwards. */
  outDir?: string;
  /** Kill the CLI and fail after this long. Default 180 s. */
  timeoutMs?: number;
  /** Which scenario set to run. Default `active` (the suite's own default: everything not pending). */
  suite?: SuiteName;
  /** Node >= 22 binary to run the CLI with. Default: see {@link resolveNode24}. */
  nodeBin?: string;
  /** Which release of the suite. Default `stable`. */
  pkg?: SuitePackage;
  /** `--spec-version`: run the scenarios of that revision, at its wire (`next` only). */
  specVersion?: string;
}

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PACKAGE_DIRS: Record<SuitePackage, string> = {
  stable: path.join(PROJECT_ROOT, 'node_modules', '@modelcontextprotocol', 'conformance'),
  next: path.join(PROJECT_ROOT, 'node_modules', '@modelcontextprotocol', 'conformance-next'),
};
const DEFAULT_TIMEOUT_MS = 180_000;
const KNOWN_STATUSES = new Set(['SUCCESS', 'FAILURE', 'WARNING', 'INFO', 'SKIPPED']);

export class ConformanceOutputError extends Error {
  constructor(message: string, readonly stdout = '', readonly stderr = '') {
    super(message);
    this.name = 'ConformanceOutputError';
  }
}

/**
 * A scenario passes when it produced at least one check and none of them is
 * FAILURE or WARNING: the rule the suite itself applies to an
 * `--expected-failures` baseline (a WARNING makes a scenario count as failing there).
 */
export function scenarioPassed(checks: readonly ScenarioCheck[]): boolean {
  return checks.length > 0 && checks.every((c) => c.status !== 'FAILURE' && c.status !== 'WARNING');
}

/** The Node >= 22 binary: `$NODE24_BIN`, else `NODE24_BIN` from `.tools/paths.env`, else this Node if it is new enough. */
export function resolveNode24(): string {
  const fromEnv = process.env['NODE24_BIN'];
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`NODE24_BIN=${fromEnv} does not exist`);
    return fromEnv;
  }
  const pathsEnv = path.join(PROJECT_ROOT, '.tools', 'paths.env');
  if (existsSync(pathsEnv)) {
    const line = readFileSync(pathsEnv, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('NODE24_BIN='));
    const bin = line?.slice('NODE24_BIN='.length).trim();
    if (bin && existsSync(bin)) return bin;
  }
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 22) return process.execPath;
  throw new Error(
    'The MCP conformance CLI needs Node >= 22 and none was found. ' +
      'Run `BOOTSTRAP_SKIP_BUILD=1 bash scripts/bootstrap.sh` (writes NODE24_BIN to .tools/paths.env) or set NODE24_BIN.',
  );
}

/** Absolute path of the conformance CLI script. */
export function conformanceCliPath(which: SuitePackage = 'stable'): string {
  const dir = PACKAGE_DIRS[which];
  const pkgFile = path.join(dir, 'package.json');
  if (!existsSync(pkgFile)) {
    throw new Error(`${path.relative(PROJECT_ROOT, dir)} is not installed (${pkgFile} missing); run npm ci`);
  }
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { bin?: string | Record<string, string> };
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.['conformance'];
  if (!bin) throw new Error(`${pkgFile} declares no "conformance" bin`);
  return path.join(dir, bin);
}

export function conformanceVersion(which: SuitePackage = 'stable'): string {
  const pkg = JSON.parse(readFileSync(path.join(PACKAGE_DIRS[which], 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

// ---------------------------------------------------------------------------
// Parsing (pure)
// ---------------------------------------------------------------------------

export interface ParsedStdout {
  suite: string;
  expectedCount: number;
  /** In run order; `resultDir` is absent when the CLI saved nothing for the scenario. */
  scenarios: { scenario: string; resultDir?: string }[];
  /** Whether the SUMMARY section was printed (the CLI got to the end of the suite). */
  hasSummary: boolean;
  /** From the SUMMARY section: SUCCESS and FAILURE counts per scenario. */
  summary: Map<string, { passed: number; failed: number }>;
}

const ANSI = /\x1b\[[0-9;]*m/g;

export function parseCliStdout(stdout: string): ParsedStdout {
  const lines = stdout.replace(ANSI, '').split(/\r?\n/);
  let suite: string | undefined;
  let expectedCount: number | undefined;
  const scenarios: ParsedStdout['scenarios'] = [];
  const summary = new Map<string, { passed: number; failed: number }>();
  let inSummary = false;
  for (const line of lines) {
    let m = /^Running (\S+) suite \((\d+) scenarios\) against /.exec(line);
    if (m) {
      suite = m[1];
      expectedCount = Number(m[2]);
      continue;
    }
    m = /^=== Running scenario: (.+) ===$/.exec(line);
    if (m && m[1] !== undefined) {
      scenarios.push({ scenario: m[1] });
      continue;
    }
    m = /^Results saved to (.+)$/.exec(line);
    if (m && m[1] !== undefined) {
      const current = scenarios.at(-1);
      if (!current || current.resultDir !== undefined) {
        throw new ConformanceOutputError(`"Results saved to" without a preceding scenario header: ${line}`, stdout);
      }
      current.resultDir = m[1].trim();
      continue;
    }
    if (/^=== SUMMARY ===$/.test(line)) {
      inSummary = true;
      continue;
    }
    if (inSummary) {
      m = /^[✓✗] (.+): (\d+) passed, (\d+) failed$/.exec(line);
      if (m && m[1] !== undefined) summary.set(m[1], { passed: Number(m[2]), failed: Number(m[3]) });
    }
  }
  if (suite === undefined || expectedCount === undefined) {
    throw new ConformanceOutputError('conformance CLI output has no "Running <suite> suite (<n> scenarios)" line', stdout);
  }
  return { suite, expectedCount, scenarios, hasSummary: inSummary, summary };
}

/** Parses one `checks.json`; throws on anything but an array of checks with string id and a known status. */
export function parseChecksJson(text: string, source: string): ScenarioCheck[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConformanceOutputError(`${source}: not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(data)) throw new ConformanceOutputError(`${source}: expected an array of checks`);
  return data.map((raw: unknown, i): ScenarioCheck => {
    if (typeof raw !== 'object' || raw === null) throw new ConformanceOutputError(`${source}[${i}]: not an object`);
    const c = raw as Record<string, unknown>;
    if (typeof c['id'] !== 'string' || c['id'] === '') throw new ConformanceOutputError(`${source}[${i}]: missing string "id"`);
    if (typeof c['status'] !== 'string' || !KNOWN_STATUSES.has(c['status'])) {
      throw new ConformanceOutputError(`${source}[${i}] (${c['id']}): unknown status ${JSON.stringify(c['status'])}`);
    }
    const check: ScenarioCheck = { id: c['id'], status: c['status'] };
    const message = typeof c['errorMessage'] === 'string' ? c['errorMessage'] : undefined;
    if (message !== undefined) check.message = message;
    return check;
  });
}

/**
 * Turns the CLI's stdout and saved results into one result per scenario, and
 * cross-checks them: the announced scenario count, the result directory names,
 * no stray result directories, and the CLI's own per-scenario FAILURE counts.
 */
export function assembleResults(
  parsed: ParsedStdout,
  readChecks: (resultDir: string) => ScenarioCheck[],
  resultDirsOnDisk: readonly string[],
): Map<string, ScenarioResult> {
  if (parsed.scenarios.length !== parsed.expectedCount) {
    throw new ConformanceOutputError(
      `the CLI announced ${parsed.expectedCount} scenarios but ran ${parsed.scenarios.length}`,
    );
  }
  const results = new Map<string, ScenarioResult>();
  const claimed = new Set<string>();
  for (const { scenario, resultDir } of parsed.scenarios) {
    if (results.has(scenario)) throw new ConformanceOutputError(`scenario ${scenario} ran twice`);
    let checks: ScenarioCheck[];
    if (resultDir === undefined) {
      // The CLI could not run the scenario at all (it threw); it reports that as a failure.
      checks = [{ id: scenario, status: 'FAILURE', message: 'the conformance CLI failed to run this scenario (see its stderr)' }];
    } else {
      const base = path.basename(resultDir);
      if (!base.startsWith(`server-${scenario}-`)) {
        throw new ConformanceOutputError(`result directory ${resultDir} does not belong to scenario ${scenario}`);
      }
      claimed.add(base);
      checks = readChecks(resultDir);
      const cliCount = parsed.summary.get(scenario);
      if (!cliCount) throw new ConformanceOutputError(`scenario ${scenario} is missing from the CLI summary`);
      const failed = checks.filter((c) => c.status === 'FAILURE').length;
      const passed = checks.filter((c) => c.status === 'SUCCESS').length;
      if (cliCount.failed !== failed || cliCount.passed !== passed) {
        throw new ConformanceOutputError(
          `${scenario}: the CLI summary says ${cliCount.passed} passed / ${cliCount.failed} failed, ` +
            `checks.json has ${passed} SUCCESS / ${failed} FAILURE`,
        );
      }
    }
    results.set(scenario, { scenario, passed: scenarioPassed(checks), checks });
  }
  const stray = resultDirsOnDisk.filter((d) => !claimed.has(d));
  if (stray.length > 0) throw new ConformanceOutputError(`unexpected result directories: ${stray.join(', ')}`);
  return results;
}

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function runCli(nodeBin: string, args: string[], timeoutMs: number): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(nodeBin, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not start the conformance CLI with ${nodeBin}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Runs `conformance server --url <url> --suite <suite> -o <outDir>` and returns
 * the results by scenario name. Throws if the CLI times out, crashes, or
 * writes output this module does not understand.
 */
export async function runConformanceSuite(url: string, opts: SuiteOptions = {}): Promise<Map<string, ScenarioResult>> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const suite = opts.suite ?? 'active';
  const nodeBin = opts.nodeBin ?? resolveNode24();
  const cli = conformanceCliPath(opts.pkg ?? 'stable');
  if (opts.specVersion !== undefined && opts.pkg !== 'next') throw new Error('--spec-version needs the next release of the suite (pkg: next)');

  const ownTemp = opts.outDir === undefined;
  const outDir = path.resolve(opts.outDir ?? (await mkdtemp(path.join(os.tmpdir(), 'mcp-conformance-'))));
  await mkdir(outDir, { recursive: true });
  if ((await readdir(outDir)).length > 0) throw new Error(`output directory ${outDir} is not empty`);

  const args = [cli, 'server', '--url', url, '--suite', suite, '-o', outDir];
  if (opts.specVersion !== undefined) args.push('--spec-version', opts.specVersion);
  const run = await runCli(nodeBin, args, timeoutMs);
  const context = `\n--- stdout (tail) ---\n${tail(run.stdout)}\n--- stderr (tail) ---\n${tail(run.stderr)}`;
  if (run.timedOut) {
    throw new ConformanceOutputError(`the conformance CLI did not finish within ${timeoutMs} ms${context}`, run.stdout, run.stderr);
  }
  if (run.code !== 0 && run.code !== 1) {
    throw new ConformanceOutputError(
      `the conformance CLI exited with ${run.code ?? `signal ${run.signal}`}${context}`,
      run.stdout,
      run.stderr,
    );
  }

  let results: Map<string, ScenarioResult>;
  try {
    const parsed = parseCliStdout(run.stdout);
    if (parsed.suite !== suite) throw new ConformanceOutputError(`asked for suite ${suite}, the CLI ran ${parsed.suite}`);
    if (!parsed.hasSummary) throw new ConformanceOutputError('the CLI output has no SUMMARY section');
    const onDisk = (await readdir(outDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    const checksByDir = new Map<string, ScenarioCheck[]>();
    for (const { resultDir } of parsed.scenarios) {
      if (resultDir === undefined) continue;
      const file = path.join(resultDir, 'checks.json');
      if (path.dirname(path.resolve(resultDir)) !== outDir) {
        throw new ConformanceOutputError(`result directory ${resultDir} is outside ${outDir}`);
      }
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        throw new ConformanceOutputError(`${file} is missing`);
      }
      checksByDir.set(resultDir, parseChecksJson(text, file));
    }
    results = assembleResults(
      parsed,
      (dir) => {
        const checks = checksByDir.get(dir);
        if (!checks) throw new ConformanceOutputError(`no checks read for ${dir}`);
        return checks;
      },
      onDisk,
    );
  } catch (err) {
    if (err instanceof ConformanceOutputError) {
      throw new ConformanceOutputError(
        `could not understand the conformance CLI's results (${err.message}); raw results kept in ${outDir}${context}`,
        run.stdout,
        run.stderr,
      );
    }
    throw err;
  }
  if (ownTemp) await rm(outDir, { recursive: true, force: true });
  return results;
}
