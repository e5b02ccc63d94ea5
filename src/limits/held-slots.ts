// The concurrency slots held by requests in flight on this replica, by who sent which request,
// so that a `notifications/cancelled` from the same caller, in the same session, on the same
// server, gives its request's slots back at once. (An MCP server does not answer a cancelled
// request, so its response may never end while the client stays connected; without this, every
// cancelled or timed-out call would hold a slot until the client goes away.)
import type { JsonRpcId } from '../mcp/jsonrpc.js';
import type { Lease } from './types.js';

/** Who sent which request: a cancellation must come from the same caller, session and server. */
export function heldKey(server: string, session: string, caller: string, id: JsonRpcId): string {
  // Ids are compared as JSON-RPC does: 1 and "1" are different requests.
  return JSON.stringify([server, session, caller, id]);
}

export class HeldSlots {
  private readonly byRequest = new Map<string, Lease>();

  /** Registers a request's slots; the returned function forgets them (when its exchange ends). */
  hold(key: string, lease: Lease): () => void {
    this.byRequest.set(key, lease);
    return () => {
      if (this.byRequest.get(key) === lease) this.byRequest.delete(key);
    };
  }

  /** Gives the slots of a cancelled request back; false when none are held for it here. */
  cancel(key: string): boolean {
    const lease = this.byRequest.get(key);
    if (!lease) return false;
    this.byRequest.delete(key);
    lease.release();
    return true;
  }

  get size(): number {
    return this.byRequest.size;
  }
}
