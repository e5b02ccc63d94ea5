// One ext_proc worker process (sidecar.workers > 1), started by the primary (pool.ts).
// It is the single-process sidecar on its own address, except for what must be one for
// the whole sidecar: audit events and in-process limits go to the primary over IPC, the
// session key comes from the primary, and the primary serves /metrics (asking each
// worker for its registry) and /readyz (from what each worker reports).
import { startSidecar, type Sidecar } from '../sidecar.js';
import { useProcessSessionKey } from '../gateway/runtime.js';
import { GatewayMetrics } from '../telemetry/metrics.js';
import { createLogger } from '../telemetry/log.js';
import { Channel, type WireMessage } from './channel.js';
import { decodeConfig } from './wire.js';
import { workerConfig } from './worker-config.js';
import { ipcAuditSink } from './ipc-audit.js';
import { ipcLimits } from './ipc-limits.js';
import type { WorkerInit } from './protocol.js';

/** LISTENS_REPORT_MS: how often the count of open GET streams is reported when it changed. */
const LISTENS_REPORT_MS = 200;

function main(): void {
  if (!process.send) throw new Error('an ext_proc worker is started by the sidecar (sidecar.workers), not by hand');
  const channel = new Channel((m) => void process.send!(m));
  process.on('message', (m: WireMessage) => channel.receive(m));
  // Ctrl-C and SIGHUP reach the whole process group: the primary acts on them (drain, reload) for every worker.
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  // Without the primary there is no audit sink: stop serving at once (Envoy fails closed).
  process.on('disconnect', () => process.exit(0));
  let sidecar: Sidecar | undefined;
  let index = 0;
  channel.handle('init', async (init: WorkerInit) => {
    index = init.index;
    useProcessSessionKey(Buffer.from(init.sessionKey, 'base64'));
    const config = decodeConfig(init.config);
    const log = createLogger(config.log.level).child({ worker: index });
    const metrics = init.metrics ? new GatewayMetrics({ usage: config.telemetry.usage, processMetrics: true }) : undefined;
    sidecar = await startSidecar(workerConfig(config, index), {
      audit: ipcAuditSink(channel, config.audit.durability),
      log,
      ...(metrics && { metrics }),
      ...(init.readinessIntervalMs && { readinessIntervalMs: init.readinessIntervalMs }),
      limiterLocal: ipcLimits(channel),
    });
    const s = sidecar;
    s.readiness.onChange((reason) => channel.notify('ready', reason ?? null));
    channel.notify('ready', s.readiness.current ?? null);
    let listens = 0;
    setInterval(() => {
      if (s.openListenStreams === listens) return;
      listens = s.openListenStreams;
      channel.notify('listens', listens);
    }, LISTENS_REPORT_MS).unref();
    return { address: s.address, pid: process.pid, ...(s.approvalsUrl && { approvalsUrl: s.approvalsUrl }) };
  });
  channel.handle('reload', (text: string) => sidecar!.reload(workerConfig(decodeConfig(text), index)));
  channel.handle('refresh', () => sidecar!.refresh());
  channel.handle('metrics', () => sidecar!.metrics.registry.getMetricsAsJSON());
  channel.handle('stop', async (graceMs: number) => {
    await sidecar?.stop(graceMs);
  });
  channel.notify('hello');
}

main();
