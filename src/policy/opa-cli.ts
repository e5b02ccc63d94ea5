// Wrappers around the real OPA CLI for `mcp-gateway policy build|test`.
import { execFile } from 'node:child_process';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { findOpa } from '../envoy/binary.js';
import { ENTRYPOINTS } from './engine.js';

export class OpaError extends Error {
  override name = 'OpaError';
}

const BOOTSTRAP_HINT = 'run `npm run bootstrap` (or `BOOTSTRAP_SKIP_BUILD=1 bash scripts/bootstrap.sh`) to install it, or set OPA_BIN';

/** The opa binary, or an OpaError saying how to get one. */
export function opaBinary(): string {
  try {
    return findOpa();
  } catch (e) {
    const why = (e as Error).message;
    throw new OpaError(`the OPA CLI is needed for this: ${why}${why.includes('bootstrap') ? '' : `; ${BOOTSTRAP_HINT}`}`);
  }
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(bin: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    execFile(bin, args, { maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err && typeof err.code === 'string') {
        reject(new OpaError(`could not run ${bin}: ${err.message}${err.code === 'ENOENT' ? `; ${BOOTSTRAP_HINT}` : ''}`));
        return;
      }
      if (err && err.killed) {
        reject(new OpaError(`${bin} ${args[0]} did not finish within ${timeoutMs} ms`));
        return;
      }
      resolveRun({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

export interface OpaBuildResult {
  outFile: string;
  /** The entry points compiled in (visible_names only when the policy defines it). */
  entrypoints: string[];
  /** opa's own output (warnings). */
  output: string;
}

/**
 * `opa build -t wasm --ignore '*_test.rego' -e mcp/authz/decision -e mcp/authz/visible [-e mcp/authz/visible_names] -o outFile srcDir`.
 * visible_names is compiled in when the policy defines it. The bundle is written next
 * to outFile and renamed into place, so a watcher never sees half of it.
 */
export async function opaBuild(srcDir: string, outFile: string, options: { timeoutMs?: number } = {}): Promise<OpaBuildResult> {
  const bin = opaBinary();
  const timeoutMs = options.timeoutMs ?? 120_000;
  const info = await stat(srcDir).catch(() => undefined);
  if (!info?.isDirectory()) throw new OpaError(`policy source ${srcDir} is not a directory`);
  const out = resolve(outFile);
  await mkdir(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}-${Date.now()}`;
  // Test files stay out of the bundle (they are `opa test`'s, and the WASM planner trips on some test-only constructs).
  const build = (entrypoints: string[]) =>
    run(bin, ['build', '-t', 'wasm', '--ignore', '*_test.rego', ...entrypoints.flatMap((e) => ['-e', e]), '-o', tmp, srcDir], timeoutMs);

  let entrypoints: string[] = [ENTRYPOINTS.decision, ENTRYPOINTS.visible, ENTRYPOINTS.visibleNames];
  let r = await build(entrypoints);
  if (r.code !== 0 && (r.stderr + r.stdout).includes(`entrypoint "${ENTRYPOINTS.visibleNames}" does not refer to a rule`)) {
    entrypoints = [ENTRYPOINTS.decision, ENTRYPOINTS.visible];
    r = await build(entrypoints);
  }
  if (r.code !== 0) {
    await rm(tmp, { force: true });
    const said = (r.stderr || r.stdout).trim();
    throw new OpaError(`opa build failed for ${srcDir} (exit ${r.code}):\n${said}`);
  }
  await rename(tmp, out);
  return { outFile: out, entrypoints, output: (r.stderr + r.stdout).trim() };
}

export interface OpaTestResult {
  passed: boolean;
  /** Counts from opa's summary ("PASS: n/total", "FAIL: n/total", "ERROR: n/total"). */
  pass: number;
  fail: number;
  error: number;
  total: number;
  /** opa's verbose report, as printed. */
  output: string;
}

/** `opa test -v dir`. Resolves with the outcome (a failing suite is not an exception); rejects only when opa cannot run. */
export async function opaTest(dir: string, options: { timeoutMs?: number } = {}): Promise<OpaTestResult> {
  const bin = opaBinary();
  const r = await run(bin, ['test', '-v', dir], options.timeoutMs ?? 120_000);
  const output = (r.stdout + r.stderr).trim();
  const count = (label: string) => {
    const m = new RegExp(`^${label}: (\\d+)/(\\d+)$`, 'm').exec(r.stdout);
    return m ? { n: Number(m[1]), total: Number(m[2]) } : undefined;
  };
  const pass = count('PASS');
  const fail = count('FAIL');
  const error = count('ERROR');
  const total = pass?.total ?? fail?.total ?? error?.total ?? 0;
  if (r.code !== 0 && total === 0) {
    // Not a test outcome: a parse or compile error, or no tests found.
    throw new OpaError(`opa test ${dir} failed (exit ${r.code}):\n${output}`);
  }
  return { passed: r.code === 0, pass: pass?.n ?? 0, fail: fail?.n ?? 0, error: error?.n ?? 0, total, output };
}
