// In-process limits with several workers: the windows and slots live in the primary, and
// each worker asks it (one IPC round trip per request that a limit applies to), so a
// limit of N is N for the whole sidecar, not N per worker. The rate-limit service and
// Redis are asked by the workers directly, as before.
import { LocalRates } from '../limits/local-rates.js';
import { LocalConcurrency } from '../limits/local-concurrency.js';
import type { LocalBackends } from '../limits/limiter.js';
import type { ConcurrencySlot, LimitHit, Lease, RateCounter } from '../limits/types.js';
import type { Channel } from './channel.js';

type SlotAnswer = { hit: LimitHit; shadowed: LimitHit[] } | { lease: number; shadowed: LimitHit[] };

/** A worker's backends: each take() is answered by the primary. */
export function ipcLimits(channel: Channel): LocalBackends {
  return {
    rates: { take: (counters: readonly RateCounter[]) => channel.call<{ hit: LimitHit | undefined; shadowed: LimitHit[] }>('limits.rates', counters) },
    concurrency: {
      take: async (slots: readonly ConcurrencySlot[]) => {
        const a = await channel.call<SlotAnswer>('limits.slots', slots);
        if ('hit' in a) return a;
        const id = a.lease;
        let released = false;
        const lease: Lease = {
          release() {
            if (released) return;
            released = true;
            try {
              channel.notify('limits.release', id);
            } catch {
              // The primary is gone; so are its slots.
            }
          },
        };
        return { lease, shadowed: a.shadowed };
      },
    },
  };
}

/** The primary's side: one set of windows and slots for all workers; a worker's slots are freed when it exits. */
export class LimitsHost {
  private readonly rates = new LocalRates();
  private readonly slots = new LocalConcurrency();
  private nextLease = 1;
  private readonly leases = new Map<number, { worker: number; lease: Lease }>();

  serve(channel: Channel, worker: number): void {
    channel.handle('limits.rates', (counters: RateCounter[]) => this.rates.take(counters));
    channel.handle('limits.slots', (slots: ConcurrencySlot[]): SlotAnswer => {
      const r = this.slots.take(slots);
      if ('hit' in r) return r;
      const id = this.nextLease++;
      this.leases.set(id, { worker, lease: r.lease });
      return { lease: id, shadowed: r.shadowed };
    });
    channel.handle('limits.release', (id: number) => this.release(id));
  }

  /** A worker exited: the requests it had in flight hold no slot any more. */
  workerGone(worker: number): void {
    for (const [id, l] of this.leases) if (l.worker === worker) this.release(id);
  }

  get heldLeases(): number {
    return this.leases.size;
  }

  private release(id: number): void {
    const l = this.leases.get(id);
    if (!l) return;
    this.leases.delete(id);
    l.lease.release();
  }
}
