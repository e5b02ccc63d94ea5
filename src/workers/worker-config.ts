// What one ext_proc worker runs of the sidecar's config.
import type { GatewayConfig } from '../config/types.js';
import { workerListen } from './addresses.js';

/**
 * Worker `index`: its own address, no telemetry endpoint and no OTLP copy of the audit trail
 * (both the primary's). Every worker gates calls on the approvals store (Redis: the config
 * allows no other with workers); worker 0 alone serves the approval page on its port.
 */
export function workerConfig(c: GatewayConfig, index: number): GatewayConfig {
  return {
    ...c,
    approvals: c.approvals && { ...c.approvals, servePage: index === 0 },
    sidecar: { ...c.sidecar, listen: workerListen(c.sidecar.listen, index), workers: 1 },
    telemetry: { ...c.telemetry, listen: undefined },
    audit: { ...c.audit, otlp: undefined },
  };
}

