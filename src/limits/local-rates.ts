// In-process fixed-window counters: exact for one replica. A request is counted only when
// every enforced limit it falls under has room, so a refused request uses up nothing.
import { UNIT_MS, type LimitHit, type RateCounter } from './types.js';
import { msUntilReset, windowStart } from './window.js';

interface Window {
  start: number;
  unitMs: number;
  count: number;
}

export class LocalRates {
  private readonly windows = new Map<string, Window>();
  private nextSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts the request against `counters`, or refuses it with the enforced limit it is over. */
  take(counters: readonly RateCounter[]): { hit: LimitHit | undefined; shadowed: LimitHit[] } {
    const now = this.now();
    this.sweep(now);
    const shadowed: LimitHit[] = [];
    const slots: Window[] = [];
    for (const c of counters) {
      const unitMs = UNIT_MS[c.unit];
      const id = JSON.stringify([c.limit, c.unit, ...c.values]);
      const start = windowStart(now, unitMs);
      let w = this.windows.get(id);
      if (!w) this.windows.set(id, (w = { start, unitMs, count: 0 }));
      else if (w.start !== start) {
        w.start = start;
        w.count = 0;
      }
      if (w.count >= c.requestsPerUnit) {
        const hit: LimitHit = { limit: c.limit, source: c.source, kind: 'rate', shadow: c.shadow, retryAfterMs: msUntilReset(now, unitMs) };
        if (!c.shadow) return { hit, shadowed };
        shadowed.push(hit);
      }
      slots.push(w);
    }
    for (const w of slots) w.count++;
    return { hit: undefined, shadowed };
  }

  /**
   * Forgets windows that have ended (at most once a second), so idle keys cost no memory.
   * Only ended ones: forgetting a live window would hand its key a fresh quota.
   */
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + 1000;
    for (const [id, w] of this.windows) if (w.start + w.unitMs <= now) this.windows.delete(id);
  }

  get size(): number {
    return this.windows.size;
  }
}
