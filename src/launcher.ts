// Starts the whole gateway: the sidecar first (Envoy fails closed without it),
// then Envoy; stops in the reverse order so no request is left without a sidecar.
// While running, Envoy's readiness (admin /ready, and its exit) is watched beside the
// sidecar's: each transition is logged once and shown as mcp_gateway_component_ready.
import type { GatewayConfig } from './config/types.js';
import { READINESS_INTERVAL_MS, startSidecar, type Sidecar } from './sidecar.js';
import { startEnvoy, type EnvoyProcess, type EnvoyOptions } from './envoy/process.js';
import type { AuditSink } from './audit/event.js';
import { createLogger, type Logger } from './telemetry/log.js';
import { watchEnvoy } from './telemetry/readiness-envoy.js';
import { assertSidecarReloadable, RestartNeededError } from './config/restart-needed.js';
import { oneAtATime } from './config/serial.js';
import { OpenApiBridges } from './openapi/bridges.js';
import { assertStdioReloadable, startStdioBridges, type StdioBridges } from './stdio/bridges.js';
import { registerStdioMetrics } from './stdio/metrics.js';
import { startAggregator, type Aggregator } from './aggregate/server.js';
import { ensureAggregateKey } from './aggregate/key.js';

export interface RunningGateway {
  readonly sidecar: Sidecar;
  readonly envoy: EnvoyProcess;
  /** The bridges of the stdio servers (servers[].command), started before the sidecar. */
  readonly stdio: StdioBridges;
  /** The aggregator (upstream of the aggregates), when the config has aggregates. */
  readonly aggregator: Aggregator | undefined;
  /** `http://host:port/mcp/<name>` per server. */
  readonly endpoints: ReadonlyMap<string, string>;
  /**
   * Puts a changed config in force in both processes, without dropping open streams:
   * the sidecar's runtime is swapped, Envoy's routes and upstream clusters rewritten.
   * Rejects, leaving the running config in force, when it does not compile, when Envoy
   * refuses it, or when it needs a restart (RestartNeededError, naming what changed).
   */
  reload(next: GatewayConfig): Promise<void>;
  /**
   * Stops Envoy, then the sidecar. With `drain`, Envoy drains first (see EnvoyProcess.drain)
   * while the sidecar keeps deciding, so requests in flight finish and are audited.
   */
  stop(opts?: { drain?: boolean }): Promise<void>;
}

export interface LaunchOptions {
  audit?: AuditSink;
  log?: Logger;
  envoy?: EnvoyOptions;
  /** How often both components' readiness is checked (default: the sidecar's READINESS_INTERVAL_MS). */
  readinessIntervalMs?: number;
}

/** `<gateway.public_url><path>` per server (public_url defaults to the listener's address). */
export function endpointsOf(config: GatewayConfig): Map<string, string> {
  return new Map(config.servers.map((s) => [s.name, `${config.gateway.publicUrl}${s.path}`]));
}

export async function launchGateway(written: GatewayConfig, opts: LaunchOptions = {}): Promise<RunningGateway> {
  const log = opts.log ?? createLogger(written.log.level);
  // The stdio and OpenAPI servers' bridges first: their addresses are the upstreams Envoy is configured with.
  const stdio = await startStdioBridges(written, log);
  const bridges = new OpenApiBridges(log);
  const hasAggregates = (c: GatewayConfig) => c.servers.some((s) => s.aggregate);
  let config: GatewayConfig;
  let aggregator: Aggregator | undefined;
  let sidecar: Sidecar;
  try {
    config = await bridges.prepare(stdio.bind(written)).then(async (p) => (await p.commit(), p.config));
    // The aggregator before the sidecar: the sidecar reads its key (the aggregates' upstream credential).
    aggregator = hasAggregates(config) ? await startAggregator(config, { key: ensureAggregateKey(), log }) : undefined;
    sidecar = await startSidecar(config, { ...(opts.audit && { audit: opts.audit }), log, ...(opts.readinessIntervalMs && { readinessIntervalMs: opts.readinessIntervalMs }) });
  } catch (err) {
    await aggregator?.close();
    await bridges.stop();
    await stdio.stop();
    throw err;
  }
  registerStdioMetrics(sidecar.metrics.registry, stdio);
  let envoy: EnvoyProcess;
  try {
    envoy = await startEnvoy(config, opts.envoy);
  } catch (err) {
    await sidecar.stop(0);
    await aggregator?.close();
    await bridges.stop();
    await stdio.stop();
    throw err;
  }
  const watch = watchEnvoy(envoy.adminUrl, envoy.exited, (reason) => sidecar.components.set('envoy', reason), opts.readinessIntervalMs ?? READINESS_INTERVAL_MS);
  let stopping: Promise<void> | undefined;
  let endpoints = endpointsOf(config);
  const reload = async (nextWritten: GatewayConfig): Promise<void> => {
    const previous = sidecar.config;
    // Every check before anything changes; the sidecar's names the setting more plainly.
    assertSidecarReloadable(previous, nextWritten);
    assertStdioReloadable(previous, nextWritten);
    if (hasAggregates(nextWritten) && (!aggregator || JSON.stringify(nextWritten.gateway.aggregatorListen) !== JSON.stringify(previous.gateway.aggregatorListen))) {
      throw new RestartNeededError('aggregates (first ones, or gateway.aggregator_listen) changed: restart the gateway to apply this config');
    }
    const prepared = await bridges.prepare(stdio.bind(nextWritten));
    const next = prepared.config;
    try {
      envoy.checkConfig(next);
      // The sidecar first: Envoy then routes new servers to a sidecar that knows them.
      await sidecar.reload(next);
      try {
        await envoy.applyConfig(next);
      } catch (err) {
        await sidecar.reload(previous);
        throw err;
      }
    } catch (err) {
      await prepared.abort();
      throw err;
    }
    await prepared.commit();
    aggregator?.update(next);
    endpoints = endpointsOf(next);
  };
  return {
    sidecar,
    envoy,
    stdio,
    aggregator,
    get endpoints() {
      return endpoints;
    },
    reload: oneAtATime(reload),
    stop(stopOpts = {}) {
      stopping ??= (async () => {
        // An orderly stop is not a readiness failure to report.
        watch.stop();
        if (stopOpts.drain) {
          log.info({ drainTimeoutMs: sidecar.config.gateway.drainTimeoutMs }, 'draining');
          const d = await envoy.drain(() => sidecar.openListenStreams).catch((err: unknown) => (log.warn({ err }, 'drain failed; stopping'), undefined));
          if (d) (d.openRequests ? log.warn.bind(log) : log.info.bind(log))(d, d.openRequests ? 'drain timed out; the open requests are cut' : 'drained');
        }
        await envoy.stop();
        await aggregator?.close();
        await sidecar.stop();
        await bridges.stop();
        await stdio.stop();
      })();
      return stopping;
    },
  };
}
