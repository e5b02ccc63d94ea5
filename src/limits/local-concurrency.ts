// In-process concurrency slots: requests in flight per key, exact for one replica.
import type { ConcurrencySlot, LimitHit, Lease } from './types.js';

/** Retry hint for a full concurrency cap: there is no window, a slot frees when a call ends. */
export const CONCURRENCY_RETRY_MS = 1000;

export class LocalConcurrency {
  private readonly inFlight = new Map<string, number>();

  /** Takes a slot of every cap, or none and the enforced cap that is full. */
  take(slots: readonly ConcurrencySlot[]): { hit: LimitHit; shadowed: LimitHit[] } | { lease: Lease; shadowed: LimitHit[] } {
    const shadowed: LimitHit[] = [];
    const ids: string[] = [];
    for (const s of slots) {
      const id = JSON.stringify([s.limit, ...s.values]);
      if ((this.inFlight.get(id) ?? 0) >= s.max) {
        const hit: LimitHit = { limit: s.limit, source: 'config', kind: 'concurrency', shadow: s.shadow, retryAfterMs: CONCURRENCY_RETRY_MS };
        if (!s.shadow) return { hit, shadowed };
        shadowed.push(hit);
      }
      ids.push(id);
    }
    for (const id of ids) this.inFlight.set(id, (this.inFlight.get(id) ?? 0) + 1);
    let released = false;
    return {
      shadowed,
      lease: {
        release: () => {
          if (released) return;
          released = true;
          for (const id of ids) {
            const n = (this.inFlight.get(id) ?? 1) - 1;
            if (n <= 0) this.inFlight.delete(id);
            else this.inFlight.set(id, n);
          }
        },
      },
    };
  }

  inFlightOf(limit: string, values: readonly string[]): number {
    return this.inFlight.get(JSON.stringify([limit, ...values])) ?? 0;
  }
}
