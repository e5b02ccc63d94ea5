// The sidecar: the ext_proc gRPC server, its runtime (compiled config) and the
// audit sink, with an orderly shutdown that loses no audit event; metrics and health
// on its own HTTP endpoint when `telemetry.listen` is set.
import type { GatewayConfig } from './config/types.js';
import { createRuntime, type GatewayRuntime } from './gateway/runtime.js';
import { createAuditSink } from './audit/sink.js';
import type { AuditSink } from './audit/event.js';
import { startExtProcServer } from './extproc/server.js';
import { createLogger, type Logger } from './telemetry/log.js';
import { GatewayMetrics, meteredAuditSink } from './telemetry/metrics.js';
import { startTelemetryEndpoint, type TelemetryEndpoint } from './telemetry/http-endpoint.js';

export interface Sidecar {
  readonly address: string;
  readonly runtime: GatewayRuntime;
  readonly metrics: GatewayMetrics;
  /** `http://host:port` of /metrics, /healthz, /readyz (undefined without `telemetry.listen`). */
  readonly telemetryUrl: string | undefined;
  /** Drains open streams (up to graceMs), then flushes and closes the audit sink. */
  stop(graceMs?: number): Promise<void>;
}

export async function startSidecar(config: GatewayConfig, opts: { audit?: AuditSink; log?: Logger; metrics?: GatewayMetrics } = {}): Promise<Sidecar> {
  const log = opts.log ?? createLogger(config.log.level);
  const metrics = opts.metrics ?? new GatewayMetrics();
  const audit = meteredAuditSink(opts.audit ?? createAuditSink(config.audit), metrics);
  const runtime = await createRuntime(config, audit, log);
  const server = await startExtProcServer(config.sidecar.listen, () => runtime, log, metrics);
  let draining = false;
  let endpoint: TelemetryEndpoint | undefined;
  if (config.telemetry.listen) {
    try {
      endpoint = await startTelemetryEndpoint(config.telemetry.listen, metrics, { notReady: () => (draining ? 'draining: the sidecar is shutting down' : undefined) });
    } catch (err) {
      await server.shutdown(0);
      runtime.close();
      await audit.close();
      throw err;
    }
    log.info({ url: endpoint.url }, 'telemetry endpoint listening (/metrics, /healthz, /readyz)');
  }
  log.info({ address: server.address, servers: config.servers.map((s) => s.name) }, 'ext_proc sidecar listening');
  let stopping: Promise<void> | undefined;
  return {
    address: server.address,
    runtime,
    metrics,
    telemetryUrl: endpoint?.url,
    stop(graceMs = 5000) {
      stopping ??= (async () => {
        // Not ready (and NOT_SERVING to gRPC health checks) first, so nothing new is sent here.
        draining = true;
        server.setServing(false);
        await server.shutdown(graceMs);
        runtime.close();
        // Cancelled streams write their audit events as the server closes them.
        await new Promise((r) => setImmediate(r));
        await audit.close();
        await endpoint?.close();
      })();
      return stopping;
    },
  };
}
