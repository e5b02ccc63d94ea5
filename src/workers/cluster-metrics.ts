// /metrics with several workers: each worker's registry (what its exchanges counted) and
// the primary's own (audit sink results, component readiness, the primary's process)
// summed into one exposition by prom-client's AggregatorRegistry. A worker that does not
// answer in time is left out of that scrape; a restarted worker's counters start at 0,
// which Prometheus reads as a counter reset.
import { AggregatorRegistry, type Registry } from 'prom-client';
import { GatewayMetrics } from '../telemetry/metrics.js';
import { COMPONENT_READY } from '../telemetry/readiness-monitor.js';

export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** Every worker's component gauge says `sidecar` is ready: the primary's says it for all of them. */
const PRIMARY_ONLY = new Set([COMPONENT_READY]);

export class ClusterMetrics extends GatewayMetrics {
  /** Set by the pool: each live worker's registry as JSON. */
  workers: () => Promise<MetricsJson>[] = () => [];

  override async text(): Promise<string> {
    const parts = await Promise.all(this.workers().map((p) => p.catch(() => [] as MetricsJson)));
    const fromWorkers = parts.map((m) => m.filter((x) => !PRIMARY_ONLY.has(x.name)));
    return AggregatorRegistry.aggregate([await this.registry.getMetricsAsJSON(), ...fromWorkers]).metrics();
  }
}
