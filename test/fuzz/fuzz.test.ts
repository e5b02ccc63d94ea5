// The bounded fuzz run in `npm test` (about 10–20 s): every target with a fixed seed and
// with one random seed (printed, and given in any failure with the command that replays
// it; FUZZ_SEED=n fixes it), the checker's own self-test, and a replay of every known
// bug (test/fuzz/known-bugs.ts). The long run is `npm run fuzz` (test/fuzz/run.ts).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PARSER_TARGETS } from './parsers.js';
import { checkExchange, disorderTarget, exchangeTarget, plainExchange, sanity, toExchange, type PlainRequest } from './exchange.js';
import { startHarness, type ClientView, type Harness } from './exchange-harness.js';
import { KNOWN_BUGS, knownBug } from './known-bugs.js';
import { runTarget, replayCommand, Violation, type AnyTarget } from './target.js';

const FIXED_SEED = 20261202;
const RANDOM_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 0x7fffffff);

/** Inputs per seed: parsers are cheap; an exchange is one gRPC stream. */
const RUNS: Record<string, number> = { 'strict-json': 5000, jsonrpc: 5000, sse: 8000, 'standard-headers': 8000, 'resource-uri': 10000, redact: 4000, exchange: 900, 'exchange-disorder': 600 };

let harness: Harness | undefined;
const h = () => harness!;
const targets: AnyTarget[] = [...PARSER_TARGETS, exchangeTarget(h), disorderTarget(h)];

before(async () => {
  harness = await startHarness();
});
after(async () => {
  await harness?.close();
});

async function fuzz(t: AnyTarget, seed: number, diagnostic: (m: string) => void): Promise<void> {
  const r = await runTarget(t, { numRuns: RUNS[t.name] ?? 1000, seed });
  diagnostic(`${r.runs} inputs in ${Math.round(r.ms)} ms, seed ${seed}${Object.keys(r.known).length ? `, known bugs hit: ${JSON.stringify(r.known)}` : ''}`);
  if (r.failure) {
    assert.fail(`${t.name} broke an invariant (seed ${r.failure.seed}, path ${r.failure.path})\n  ${r.failure.error}\n  input: ${r.failure.counterexample.slice(0, 2000)}\n  replay: ${replayCommand(r)}`);
  }
}

describe('fuzz', () => {
  for (const t of targets) {
    test(`${t.name}: ${t.about} (fixed seed)`, async (ctx) => fuzz(t, FIXED_SEED, (m) => ctx.diagnostic(m)));
    test(`${t.name} (random seed ${RANDOM_SEED})`, async (ctx) => fuzz(t, RANDOM_SEED, (m) => ctx.diagnostic(m)));
  }

  test('the server still serves after all of that', async () => sanity(h()));

  test('the checker itself: a hidden item in what the client reads is caught', () => {
    const x = plainExchange({ body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
    const ex = toExchange(x);
    const view: ClientView = {
      immediate: undefined,
      requestForwarded: true,
      status: '200',
      contentType: 'text/event-stream',
      body: Buffer.from('data: {"jsonrpc":"2.0","id":"1","result":{"prompts":[{"name":"admin"}]}}\n\n'),
      replies: [],
      error: null,
      events: [{ type: 'mcp.request' } as ClientView['events'][number]],
      trailersKept: undefined,
      upstreamSession: undefined,
      clientSession: undefined,
    };
    assert.throws(() => checkExchange(x, ex, view), (e: unknown) => e instanceof Violation && e.invariant === 'no-hidden-item-out');
    // The same bytes under the request's own id, read as a tools/list result: "prompts" is not a list item there.
    view.body = Buffer.from('data: {"jsonrpc":"2.0","id":1,"result":{"tools":[],"prompts":[{"name":"admin"}]}}\n\n');
    assert.doesNotThrow(() => checkExchange(x, ex, view));
    view.body = Buffer.from('data: {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"ｓｅｃｒｅｔ-x"}]}}\n\n');
    assert.throws(() => checkExchange(x, ex, view), (e: unknown) => e instanceof Violation && e.invariant === 'no-hidden-item-out');
    view.events = [];
    assert.throws(() => checkExchange(x, ex, view), (e: unknown) => e instanceof Violation && e.invariant === 'one-audit-event');
  });
});

// Known bugs: each one's minimal input still breaks its invariant (reported as TODO). When a
// fix lands, the test fails until the entry is deleted from KNOWN_BUGS.
describe('fuzz: known bugs (test/fuzz/known-bugs.ts)', () => {
  for (const [key, bug] of Object.entries(KNOWN_BUGS)) {
    test(key, async (ctx) => {
      const target = targets.find((t) => t.name === bug.target)!;
      const input = bug.target === 'exchange' ? plainExchange(bug.minimal as PlainRequest) : bug.minimal;
      let caught: unknown;
      try {
        await target.check(input);
      } catch (e) {
        caught = e;
      }
      if (caught === undefined) assert.fail(`KNOWN_BUGS['${key}'] no longer reproduces (fixed?): delete its entry from test/fuzz/known-bugs.ts.\n  It was: ${bug.summary}`);
      if (!(caught instanceof Violation) || knownBug(bug.target, caught) !== key) throw caught;
      ctx.todo(`known bug, allowed: ${bug.summary}\n  minimal input: ${JSON.stringify(bug.minimal)}\n  ${caught.message.split('\n')[0]}`);
    });
  }
});
