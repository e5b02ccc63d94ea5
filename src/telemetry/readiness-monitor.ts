// The readiness of each part of the gateway (the sidecar; Envoy under `up`) as a gauge,
// `mcp_gateway_component_ready{component}` 1|0, on the sidecar's registry, and one log
// line per transition (ready → not ready with the reason, and back).
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from './log.js';

export const COMPONENT_READY = 'mcp_gateway_component_ready';

export type Component = 'sidecar' | 'envoy';

export class ComponentReadiness {
  private readonly gauge: Gauge;
  private readonly state = new Map<Component, string | undefined>();

  constructor(registry: Registry, private readonly log: Logger) {
    const existing = registry.getSingleMetric(COMPONENT_READY);
    this.gauge =
      (existing as Gauge | undefined) ??
      new Gauge({
        name: COMPONENT_READY,
        help: 'Whether a component of the gateway is ready to take traffic (1) or not (0): the sidecar by its /readyz checks, Envoy by its admin /ready',
        labelNames: ['component'],
        registers: [registry],
      });
  }

  /** The component's readiness now: undefined when ready, otherwise why not. */
  set(component: Component, reason: string | undefined): void {
    const known = this.state.has(component);
    const was = this.state.get(component);
    this.state.set(component, reason);
    this.gauge.set({ component }, reason === undefined ? 1 : 0);
    // A transition is a change of ready/not ready; the first state is logged only when it is bad.
    if (known ? (was === undefined) === (reason === undefined) : reason === undefined) return;
    if (reason === undefined) this.log.info({ component }, `${component} ready`);
    else this.log.warn({ component, reason }, `${component} not ready`);
  }

  get(component: Component): string | undefined {
    return this.state.get(component);
  }
}
