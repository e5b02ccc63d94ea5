// Starts the whole gateway: the sidecar first (Envoy fails closed without it),
// then Envoy; stops in the reverse order so no request is left without a sidecar.
import type { GatewayConfig } from './config/types.js';
import { startSidecar, type Sidecar } from './sidecar.js';
import { startEnvoy, type EnvoyProcess, type EnvoyOptions } from './envoy/process.js';
import type { AuditSink } from './audit/event.js';
import type { Logger } from './telemetry/log.js';

export interface RunningGateway {
  readonly sidecar: Sidecar;
  readonly envoy: EnvoyProcess;
  /** `http://host:port/mcp/<name>` per server. */
  readonly endpoints: ReadonlyMap<string, string>;
  stop(): Promise<void>;
}

export interface LaunchOptions {
  audit?: AuditSink;
  log?: Logger;
  envoy?: EnvoyOptions;
}

/** `<gateway.public_url><path>` per server (public_url defaults to the listener's address). */
export function endpointsOf(config: GatewayConfig): Map<string, string> {
  return new Map(config.servers.map((s) => [s.name, `${config.gateway.publicUrl}${s.path}`]));
}

export async function launchGateway(config: GatewayConfig, opts: LaunchOptions = {}): Promise<RunningGateway> {
  const sidecar = await startSidecar(config, { ...(opts.audit && { audit: opts.audit }), ...(opts.log && { log: opts.log }) });
  let envoy: EnvoyProcess;
  try {
    envoy = await startEnvoy(config, opts.envoy);
  } catch (err) {
    await sidecar.stop(0);
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    sidecar,
    envoy,
    endpoints: endpointsOf(config),
    stop() {
      stopping ??= (async () => {
        await envoy.stop();
        await sidecar.stop();
      })();
      return stopping;
    },
  };
}
