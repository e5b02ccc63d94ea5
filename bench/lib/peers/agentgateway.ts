// Setup 13: agentgateway (Rust). It cannot be installed on a machine that reaches only the
// package registries: this setup checks that again on every run and says what it found.
// If a registry ever serves it, the message says so, and running it is still to be written.
import { PeerUnavailable, type PeerContext, type PeerStack } from './types.js';

/** crates.io's sparse index: a crate's entry lives at /<first two>/<next two>/<name>. */
const CRATES_INDEX = 'https://index.crates.io/ag/en/agentgateway';

async function status(url: string): Promise<string> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(10_000), headers: { 'user-agent': 'mcp-gateway-bench' } });
    return String(r.status);
  } catch (err) {
    return `unreachable (${(err as Error).message})`;
  }
}

export async function startAgentgateway(_ctx: PeerContext): Promise<PeerStack> {
  const crates = await status(CRATES_INDEX);
  if (crates === '200') {
    throw new PeerUnavailable(`crates.io now has a crate named agentgateway (${CRATES_INDEX}), but this bench does not build or run it yet`);
  }
  throw new PeerUnavailable(
    `agentgateway (Rust) is not published on crates.io (${CRATES_INDEX}: ${crates}); its releases are GitHub downloads, which this machine cannot reach, ` +
      'and the PyPI package "agentgateway" is an unrelated project (LLM agent adapters)',
  );
}
