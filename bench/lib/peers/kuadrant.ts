// Placeholder until this peer's setup is written: it refuses to start, with the reason.
import { PeerUnavailable, type PeerContext, type PeerStack } from './types.js';

export async function startKuadrant(_ctx: PeerContext): Promise<PeerStack> {
  throw new PeerUnavailable('not written yet');
}
