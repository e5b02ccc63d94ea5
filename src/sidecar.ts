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
import { ReadinessState } from './telemetry/readiness.js';
import { sidecarChecks } from './telemetry/readiness-checks.js';
import { ComponentReadiness } from './telemetry/readiness-monitor.js';
import { assertSidecarReloadable } from './config/restart-needed.js';
import { oneAtATime } from './config/serial.js';
import { LimiterBackendPool } from './limits/backend-pool.js';
import type { LocalBackends } from './limits/limiter.js';
import { startApprovals } from './approvals/service.js';

/** How long a replaced runtime stays open for the exchanges still using it. */
const RETIRE_AFTER_MS = 60_000;
import { GatewayTracing } from './telemetry/tracing.js';
import { withOtlpAudit } from './telemetry/audit-logs.js';

/** How often readiness is re-evaluated (the gRPC health status and the gauge follow). */
export const READINESS_INTERVAL_MS = 2000;

export interface Sidecar {
  readonly address: string;
  /** The runtime in force (a reload replaces it; exchanges already open keep theirs). */
  readonly runtime: GatewayRuntime;
  /** The config in force. */
  readonly config: GatewayConfig;
  /**
   * Compiles `next` and puts it in force for new exchanges. Rejects, changing nothing,
   * when it does not compile (a bundle fails to load…) or needs a restart (RestartNeededError).
   */
  reload(next: GatewayConfig): Promise<void>;
  /** What SIGHUP does besides reloading the config: looks for changed policy bundles and reads the lockfiles again. */
  refresh(): Promise<void>;
  readonly metrics: GatewayMetrics;
  /** GET (listen) streams open through the sidecar now. */
  readonly openListenStreams: number;
  /** `http://host:port` of /metrics, /healthz, /readyz (undefined without `telemetry.listen`). */
  readonly telemetryUrl: string | undefined;
  /** `http://host:port` of the approval page (undefined without an `approvals` section). */
  readonly approvalsUrl: string | undefined;
  /** What /readyz and grpc.health.v1 report. */
  readonly readiness: ReadinessState;
  /** `mcp_gateway_component_ready` and the transition log (the launcher adds Envoy). */
  readonly components: ComponentReadiness;
  /** The tracer provider (telemetry.tracing), undefined when tracing is off. */
  readonly tracing: GatewayTracing | undefined;
  /** Drains open streams (up to graceMs), then flushes and closes the audit sink. */
  stop(graceMs?: number): Promise<void>;
}

export interface SidecarOptions {
  audit?: AuditSink;
  log?: Logger;
  metrics?: GatewayMetrics;
  readinessIntervalMs?: number;
  /** Where in-process limits count (an ext_proc worker's: in the primary); default: in this process. */
  limiterLocal?: LocalBackends;
}

/** With `sidecar.workers` > 1: a primary and that many ext_proc worker processes (src/workers/pool.ts). */
export async function startSidecar(config: GatewayConfig, opts: SidecarOptions = {}): Promise<Sidecar> {
  if (config.sidecar.workers > 1) return (await import('./workers/pool.js')).startWorkerPool(config, opts);
  const log = opts.log ?? createLogger(config.log.level);
  // Nobody can read the metrics without the endpoint (or a caller's own registry): then
  // the request path does not feed them, and no process collectors run, which saves their
  // cost per call.
  const readable = config.telemetry.listen !== undefined || opts.metrics !== undefined;
  const metrics = opts.metrics ?? new GatewayMetrics({ usage: config.telemetry.usage, processMetrics: readable });
  const metered = readable ? metrics : undefined;
  // audit.otlp copies every event to the collector as a log record, beside the configured sink.
  const sink = withOtlpAudit(opts.audit ?? createAuditSink(config.audit, metered), config.audit.otlp, log);
  const audit = metered ? meteredAuditSink(sink, metered) : sink;
  const tracing = config.telemetry.tracing ? new GatewayTracing(config.telemetry.tracing, { log }) : undefined;
  let draining = false;
  let loaded: GatewayRuntime | undefined;
  // The audit file check applies to the sink built here from the config, not to one passed in.
  let current = config;
  const readiness = new ReadinessState(sidecarChecks(() => current, { runtime: () => loaded, draining: () => draining, auditFile: opts.audit ? undefined : config.audit.file }));
  const components = new ComponentReadiness(metrics.registry, log);
  // The endpoint first: /healthz answers and /readyz says what is still loading while
  // policy bundles compile and keys are fetched.
  let endpoint: TelemetryEndpoint | undefined;
  if (config.telemetry.listen) {
    try {
      endpoint = await startTelemetryEndpoint(config.telemetry.listen, metrics, readiness);
    } catch (err) {
      await audit.close();
      throw err;
    }
    log.info({ url: endpoint.url }, 'telemetry endpoint listening (/metrics, /healthz, /readyz)');
  }
  const abandon = async (err: unknown): Promise<never> => {
    await endpoint?.close();
    await tracing?.shutdown();
    await audit.close();
    throw err;
  };
  // Shared by the runtimes a reload replaces: quotas and slots carry over.
  const limiterPool = new LimiterBackendPool(opts.limiterLocal);
  let runtime = await createRuntime(config, audit, log, metered, tracing, limiterPool).catch(abandon);
  // The approval page and store outlive reloads: pending approvals survive them.
  const approvals = config.approvals ? await startApprovals(config, audit, log, () => runtime.authenticator).catch((err: unknown) => (runtime.close(), abandon(err))) : undefined;
  runtime.approvals = approvals?.gate;
  const retired = new Set<GatewayRuntime>();
  const server = await startExtProcServer(config.sidecar.listen, () => runtime, log, metered).catch((err: unknown) => (runtime.close(), abandon(err)));
  // NOT_SERVING until the checks say otherwise (no health request is answered before this line runs).
  server.setServing(false);
  loaded = runtime;
  const apply = (reason: string | undefined) => {
    if (!draining) server.setServing(reason === undefined);
    components.set('sidecar', reason);
  };
  // A moment to settle (the audit file is opened asynchronously, the first JWKS fetch is in flight)
  // before the first verdict is reported.
  let first = await readiness.evaluate();
  for (const settle = Date.now() + 1000; first !== undefined && Date.now() < settle; ) {
    await new Promise((r) => setTimeout(r, 50));
    first = await readiness.evaluate();
  }
  readiness.onChange(apply);
  apply(first);
  readiness.start(opts.readinessIntervalMs ?? READINESS_INTERVAL_MS);
  log.info({ address: server.address, servers: config.servers.map((s) => s.name) }, 'ext_proc sidecar listening');
  let stopping: Promise<void> | undefined;
  const reload = async (next: GatewayConfig): Promise<void> => {
    assertSidecarReloadable(current, next);
    if (draining) throw new Error('the sidecar is shutting down');
    const fresh = await createRuntime(next, audit, log, metered, tracing, limiterPool);
    fresh.approvals = approvals?.gate;
    const old = runtime;
    runtime = fresh;
    loaded = fresh;
    current = next;
    retired.add(old);
    setTimeout(() => retired.delete(old) && old.close(), RETIRE_AFTER_MS).unref();
    log.info({ source: next.source, servers: next.servers.map((s) => s.name) }, 'config reloaded');
    void readiness.evaluate();
  };
  return {
    address: server.address,
    get runtime() {
      return runtime;
    },
    get config() {
      return current;
    },
    reload: oneAtATime(reload),
    refresh: () => Promise.all([runtime.checkPolicies(), runtime.reloadLockfiles(log)]).then(() => undefined),
    metrics,
    get openListenStreams() {
      return server.openListenStreams;
    },
    telemetryUrl: endpoint?.url,
    approvalsUrl: approvals?.url,
    readiness,
    components,
    tracing,
    stop(graceMs = 5000) {
      stopping ??= (async () => {
        // Not ready (and NOT_SERVING to gRPC health checks) first, so nothing new is sent here.
        draining = true;
        server.setServing(false);
        readiness.stop();
        void readiness.evaluate();
        await server.shutdown(graceMs);
        await approvals?.close();
        runtime.close();
        for (const r of retired) r.close();
        retired.clear();
        // Cancelled streams write their audit events as the server closes them.
        await new Promise((r) => setImmediate(r));
        // The last spans and log records go to the collector (bounded by its timeout).
        await tracing?.shutdown();
        await audit.close();
        await endpoint?.close();
      })();
      return stopping;
    },
  };
}
