// Known bugs the fuzzer finds in src/, allowed for now so that `npm test` stays green.
//
// Each entry is one bug: which target finds it, a matcher that recognises its
// violations (and nothing else), and the minimal input that shows it. The bounded
// test (test/fuzz/fuzz.test.ts) replays every minimal input: while the bug is there
// it reports it as a known bug (a `todo`); once it is fixed that test FAILS and
// asks for the entry to be deleted, so this list cannot go stale and hide a
// regression. Fix the bug, then delete its entry.
import type { Violation } from './target.js';

export interface KnownBug {
  target: string;
  /** What breaks, and where in src the cause is. */
  summary: string;
  /** Recognises this bug's violations. */
  matches: (v: Violation) => boolean;
  /** The minimal input, replayed by the bounded test (target-specific shape). */
  minimal: unknown;
}

// Fixed (the entries were deleted): special-scheme URIs WHATWG rewrites (missing "//",
// host forms, default ports, userinfo, empty paths, query encoding) and the curation
// bypass they made; methods that only look like a known one; OPTIONS carrying a session
// id to the upstream. Their minimal inputs live on as unit and e2e cases.
export const KNOWN_BUGS: Record<string, KnownBug> = {
};

/** The KNOWN_BUGS key a violation of `target` belongs to, if any. */
export function knownBug(target: string, v: Violation): string | undefined {
  for (const [key, bug] of Object.entries(KNOWN_BUGS)) if (bug.target === target && bug.matches(v)) return key;
  return undefined;
}
