// Latency quantiles in bounded memory: logarithmic buckets (the DDSketch idea), so a
// report over millions of calls keeps a few hundred counters per row, and any quantile
// it gives is within RELATIVE_ERROR of the true one.

export const RELATIVE_ERROR = 0.01;
const GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR);
const LOG_GAMMA = Math.log(GAMMA);
/** Below this (ms) a value counts as zero: far under anything the gateway can time. */
const MIN_MS = 1e-6;

export class QuantileSketch {
  private readonly buckets = new Map<number, number>();
  private zeros = 0;
  count = 0;

  add(ms: number): void {
    this.count++;
    if (!(ms > MIN_MS)) {
      this.zeros++;
      return;
    }
    const i = Math.ceil(Math.log(ms) / LOG_GAMMA);
    this.buckets.set(i, (this.buckets.get(i) ?? 0) + 1);
  }

  merge(other: QuantileSketch): void {
    this.count += other.count;
    this.zeros += other.zeros;
    for (const [i, n] of other.buckets) this.buckets.set(i, (this.buckets.get(i) ?? 0) + n);
  }

  /** The q-quantile (0..1) by the nearest-rank rule, or undefined when empty. */
  quantile(q: number): number | undefined {
    if (this.count === 0) return undefined;
    const rank = Math.max(1, Math.ceil(q * this.count));
    if (rank <= this.zeros) return 0;
    let seen = this.zeros;
    for (const i of [...this.buckets.keys()].sort((a, b) => a - b)) {
      seen += this.buckets.get(i)!;
      // The bucket (γ^(i-1), γ^i] answers with the value that is within RELATIVE_ERROR of both ends.
      if (seen >= rank) return (2 * GAMMA ** i) / (GAMMA + 1);
    }
    return undefined;
  }
}
