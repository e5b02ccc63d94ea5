// The peer gateways the benchmark can measure beside ours (opt-in setups 11…).
import type { StartPeer } from './types.js';
import { startContextForge } from './contextforge.js';
import { startKuadrant } from './kuadrant.js';
import { startAgentgateway } from './agentgateway.js';

export const PEERS: Record<string, StartPeer> = {
  contextforge: startContextForge,
  kuadrant: startKuadrant,
  agentgateway: startAgentgateway,
};
export { PeerUnavailable, type PeerContext, type PeerStack } from './types.js';
