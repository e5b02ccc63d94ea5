// A fuzz target: a fast-check arbitrary and an invariant check. Checks throw a
// Violation naming the invariant they saw broken; the runner turns an unknown one
// into a failure (with the seed and path that replay it) and counts a known one
// (test/fuzz/known-bugs.ts) without failing.
import fc from 'fast-check';
import { knownBug } from './known-bugs.js';

export class Violation extends Error {
  override name = 'Violation';
  constructor(
    /** Short stable name of the invariant ("no-throw", "json-equivalence", …). */
    readonly invariant: string,
    message: string,
    /** Facts for the known-bug matchers (kept small). */
    readonly facts: Record<string, unknown> = {},
  ) {
    super(`[${invariant}] ${message}`);
  }
}

export function violated(invariant: string, message: string, facts?: Record<string, unknown>): never {
  throw new Violation(invariant, message, facts);
}

export interface Target<T> {
  name: string;
  /** What a single input is (for the README and the summary). */
  about: string;
  arb: fc.Arbitrary<T>;
  check: (input: T) => void | Promise<void>;
  async?: boolean;
}

/** A target of any input type (for lists of targets). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTarget = Target<any>;

export interface RunResult {
  target: string;
  runs: number;
  ms: number;
  /** Known bugs hit, by KNOWN_BUGS key. */
  known: Record<string, number>;
  failure: { seed: number; path: string | undefined; counterexample: string; error: string } | undefined;
}

/** Runs `numRuns` inputs of one target from `seed`; replays one input when `path` is given. */
export async function runTarget<T>(target: Target<T>, opts: { numRuns: number; seed: number; path?: string; verbose?: boolean }): Promise<RunResult> {
  const known: Record<string, number> = {};
  const judge = (e: unknown): boolean => {
    if (e instanceof Violation) {
      const key = knownBug(target.name, e);
      if (key !== undefined) {
        known[key] = (known[key] ?? 0) + 1;
        return true;
      }
    }
    throw e;
  };
  const params: fc.Parameters<[T]> = { numRuns: opts.numRuns, seed: opts.seed, ...(opts.path !== undefined && { path: opts.path }), endOnFailure: false, verbose: opts.verbose ? 1 : 0 };
  const t0 = performance.now();
  let details: fc.RunDetails<[T]>;
  if (target.async) {
    details = await fc.check(
      fc.asyncProperty(target.arb, async (v) => {
        try {
          await target.check(v);
          return true;
        } catch (e) {
          return judge(e);
        }
      }),
      params,
    );
  } else {
    details = fc.check(
      fc.property(target.arb, (v) => {
        try {
          target.check(v);
          return true;
        } catch (e) {
          return judge(e);
        }
      }),
      params,
    );
  }
  const ms = performance.now() - t0;
  const failure = details.failed
    ? {
        seed: details.seed,
        path: details.counterexamplePath ?? undefined,
        counterexample: fc.stringify(details.counterexample?.[0]).slice(0, 4000),
        error: String((details.errorInstance as Error | undefined)?.message ?? details.errorInstance).slice(0, 4000),
      }
    : undefined;
  return { target: target.name, runs: details.numRuns, ms, known, failure };
}

/** How to replay a failure from the command line. */
export function replayCommand(r: RunResult): string {
  if (!r.failure) return '';
  const path = r.failure.path === undefined ? '' : ` --path ${r.failure.path}`;
  return `npm run fuzz -- --target ${r.target} --seed ${r.failure.seed}${path} --inputs 1`;
}
