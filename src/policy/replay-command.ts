// `mcp-gateway policy replay`: the report of replay.ts on stdout, the exit status for CI
// (0: no decision changes, 1: some change, 2: it could not run).
import { loadPolicyBundle } from './engine.js';
import { formatReplay, replayPolicy } from './replay.js';

export interface ReplayArgs {
  audit: string;
  bundle: string;
  against: string | undefined;
  format: string | undefined;
  examples: string | undefined;
}

/** Evaluations are not cut short in a replay: a slow rule is a finding, not a denial. */
const REPLAY_TIMEOUT_MS = 10_000;

export async function replayCommand(a: ReplayArgs, usage: new (m: string) => Error): Promise<number> {
  const format = a.format ?? 'table';
  if (format !== 'table' && format !== 'json') throw new usage('--format is table or json');
  const examples = a.examples === undefined ? 5 : Number(a.examples);
  if (!Number.isInteger(examples) || examples < 0) throw new usage('--examples is a count (0 or more)');
  let report;
  try {
    report = await replayPolicy({
      audit: a.audit,
      candidate: a.bundle,
      against: a.against,
      examples,
      load: (path, clock) => loadPolicyBundle(path, { clockMs: clock, timeoutMs: REPLAY_TIMEOUT_MS }),
    });
  } catch (err) {
    // Not "changes found": a CI gate must tell a broken run from a policy change.
    process.stderr.write(`mcp-gateway policy replay: ${(err as Error).message}\n`);
    return 2;
  }
  process.stdout.write(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : `${formatReplay(report)}\n`);
  return report.newly_denied.count + report.newly_allowed.count === 0 ? 0 : 1;
}
