// What a peer gateway (another MCP gateway measured in the same run, in front of
// the same upstream) gives the benchmark. Each peer lives in its own file here:
// it installs itself into .tools/peers/ (ignored, cached, idempotent) and starts
// its processes on loopback; the orchestrator measures it like any other setup.
import type { TargetSpec } from '../types.js';
import type { EnvoyChild } from '../envoy.js';

export interface PeerContext {
  /** Scratch folder of this run (removed afterwards): configs, databases, logs. */
  dir: string;
  /** The bench upstream (bench/lib/bench-server.ts): one endpoint answering JSON, one answering SSE. */
  upstream: { json: string; sse: string };
  /** The tools a curating setup exposes (52 of 502); a peer curates to these where it can. */
  curatedTools: readonly string[];
}

export interface PeerStack {
  /** Where and as whom the load generator talks to the peer (toolPrefix: the peer's name prefix for upstream tools). */
  target: TargetSpec;
  /** The peer's own process (its descendants are counted with it), measured like the sidecar. */
  gateway: { pid: number };
  /** The peer's Envoy, when it runs behind one (measured like setup 2's). */
  envoy?: EnvoyChild;
  /** One line for the results: version, settings, what it does on each call. */
  note: string;
  stop(): Promise<void>;
}

/** Thrown when a peer cannot be installed or run on this machine; the message says exactly why. */
export class PeerUnavailable extends Error {
  override name = 'PeerUnavailable';
}

export type StartPeer = (ctx: PeerContext) => Promise<PeerStack>;
