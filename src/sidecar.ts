// The sidecar: the ext_proc gRPC server, its runtime (compiled config) and the
// audit sink, with an orderly shutdown that loses no audit event.
import type { GatewayConfig } from './config/types.js';
import { createRuntime, type GatewayRuntime } from './gateway/runtime.js';
import { createAuditSink } from './audit/sink.js';
import type { AuditSink } from './audit/event.js';
import { startExtProcServer } from './extproc/server.js';
import { createLogger, type Logger } from './telemetry/log.js';

export interface Sidecar {
  readonly address: string;
  readonly runtime: GatewayRuntime;
  /** Drains open streams (up to graceMs), then flushes and closes the audit sink. */
  stop(graceMs?: number): Promise<void>;
}

export async function startSidecar(config: GatewayConfig, opts: { audit?: AuditSink; log?: Logger } = {}): Promise<Sidecar> {
  const log = opts.log ?? createLogger(config.log.level);
  const audit = opts.audit ?? createAuditSink(config.audit);
  const runtime = await createRuntime(config, audit, log);
  const server = await startExtProcServer(config.sidecar.listen, () => runtime, log);
  log.info({ address: server.address, servers: config.servers.map((s) => s.name) }, 'ext_proc sidecar listening');
  let stopping: Promise<void> | undefined;
  return {
    address: server.address,
    runtime,
    stop(graceMs = 5000) {
      stopping ??= (async () => {
        await server.shutdown(graceMs);
        runtime.close();
        // Cancelled streams write their audit events as the server closes them.
        await new Promise((r) => setImmediate(r));
        await audit.close();
      })();
      return stopping;
    },
  };
}
