// Test harness: the real sidecar and the real Envoy on free loopback ports, with
// the audit trail collected in memory so tests can assert on it.
import { freePort, freePortRange } from './ports.js';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { launchGateway, type RunningGateway as Launched } from '../../src/launcher.js';
import { MemoryAuditSink } from '../../src/audit/sink.js';
import type { AuditEvent } from '../../src/audit/event.js';
import { createLogger, type Logger } from '../../src/telemetry/log.js';

export { freePort };


export interface RunningGateway {
  url(server: string): string;
  readonly config: GatewayConfig;
  readonly audit: MemoryAuditSink;
  readonly launched: Launched;
  /** Waits until an audit event matching `pred` arrives (events are written when an exchange completes). */
  waitForAudit(pred: (e: AuditEvent) => boolean, timeoutMs?: number): Promise<AuditEvent>;
  stop(): Promise<void>;
}

/** Fills in free ports for anything the config leaves out, then starts sidecar + Envoy. */
export async function startGateway(opts: { config: Record<string, unknown>; log?: Logger }): Promise<RunningGateway> {
  const raw = structuredClone(opts.config) as { gateway?: Record<string, unknown>; sidecar?: Record<string, unknown>; log?: Record<string, unknown> };
  raw.gateway = { ...raw.gateway };
  raw.gateway.listen ??= `127.0.0.1:${await freePort()}`;
  raw.gateway.admin ??= `127.0.0.1:${await freePort()}`;
  raw.sidecar = { ...raw.sidecar };
  // MCP_GATEWAY_TEST_WORKERS=N runs every gateway test with N ext_proc workers (consecutive ports).
  const workers = Number(process.env.MCP_GATEWAY_TEST_WORKERS ?? 1);
  if (workers > 1) raw.sidecar.workers ??= workers;
  const n = typeof raw.sidecar.workers === 'number' ? raw.sidecar.workers : 1;
  raw.sidecar.listen ??= `127.0.0.1:${n > 1 ? await freePortRange(n) : await freePort()}`;
  raw.log ??= { level: process.env.MCP_GATEWAY_TEST_LOG ?? 'warn' };
  const config = parseConfig(stringify(raw), '<test config>');
  const audit = new MemoryAuditSink();
  const launched = await launchGateway(config, {
    audit,
    log: opts.log ?? createLogger(config.log.level),
    envoy: { logLevel: process.env.MCP_GATEWAY_TEST_ENVOY_LOG ?? 'error', stdio: 'pipe' },
  });
  return {
    url: (server) => {
      const u = launched.endpoints.get(server);
      if (!u) throw new Error(`no server "${server}" in the test config`);
      return u;
    },
    config,
    audit,
    launched,
    async waitForAudit(pred, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const hit = audit.events.find(pred);
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`no matching audit event within ${timeoutMs}ms; got:\n${audit.events.map((e) => JSON.stringify(e)).join('\n')}`);
    },
    stop: () => launched.stop(),
  };
}
