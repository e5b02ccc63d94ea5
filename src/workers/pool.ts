// The sidecar as a primary and N ext_proc worker processes (sidecar.workers > 1).
//
// The primary owns what must be one: the audit sink (workers send it their events),
// the in-process rate windows and concurrency slots (workers ask it), the process
// session key (given to every worker, so a session sealed by one opens in all), the
// telemetry endpoint (/metrics sums the workers' registries; /readyz is ready when every
// worker is), and config reload (fanned out to every worker). Each worker serves ext_proc
// on its own address, which Envoy's sidecar cluster lists (addresses.ts). A worker that
// exits is started again; until it serves, Envoy's streams to it fail, and with
// failure_mode_allow false those requests are refused (fail closed), not let through.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GatewayConfig } from '../config/types.js';
import type { AuditEvent, AuditSink } from '../audit/event.js';
import { createAuditSink } from '../audit/sink.js';
import { withOtlpAudit } from '../telemetry/audit-logs.js';
import { createLogger, type Logger } from '../telemetry/log.js';
import { startTelemetryEndpoint, type TelemetryEndpoint } from '../telemetry/http-endpoint.js';
import { ReadinessState, type ReadinessCheck } from '../telemetry/readiness.js';
import { auditFileCheck } from '../telemetry/readiness-checks.js';
import { ComponentReadiness } from '../telemetry/readiness-monitor.js';
import { assertSidecarReloadable } from '../config/restart-needed.js';
import { oneAtATime } from '../config/serial.js';
import { READINESS_INTERVAL_MS, type Sidecar, type SidecarOptions } from '../sidecar.js';
import { Channel, ChannelClosedError, type WireMessage } from './channel.js';
import { ClusterMetrics, type MetricsJson } from './cluster-metrics.js';
import { LimitsHost } from './ipc-limits.js';
import { eventOfLine } from './ipc-audit.js';
import { encodeConfig } from './wire.js';
import type { WorkerInit } from './protocol.js';

/** A scrape waits this long for a worker's registry. */
const METRICS_TIMEOUT_MS = 2000;
/** Restart back-off: doubles per exit in a row, up to the cap; a worker up this long resets it. */
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5000;
const STABLE_MS = 10_000;

const HERE = fileURLToPath(import.meta.url);
const ENTRY = join(dirname(HERE), `worker-main${extname(HERE)}`);

/** Node flags a worker keeps from the primary (a profiler, heap size) and, from sources, the TypeScript loader. */
export function workerExecArgv(parent: readonly string[], fromSources: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const a = parent[i]!;
    if (/^--(cpu-prof|heap-prof|max-old-space-size|enable-source-maps|stack-size)/.test(a)) {
      out.push(a);
      // `--cpu-prof-dir DIR` and the like: the value is the next argument.
      if (!a.includes('=') && /^--(cpu-prof|heap-prof)-(dir|name|interval)$/.test(a) && parent[i + 1] !== undefined) out.push(parent[++i]!);
    }
  }
  return fromSources ? ['--import', 'tsx', ...out] : out;
}

interface PoolContext {
  readonly log: Logger;
  readonly sink: AuditSink;
  /** Lines a worker formatted: written as they are to a file or stdout sink, parsed back for any other. */
  writeLines(lines: string): void;
  readonly limits: LimitsHost;
  init(index: number): WorkerInit;
  changed(): void;
  exited(slot: WorkerSlot, code: number | null, signal: NodeJS.Signals | null): void;
}

/** One worker's place in the pool: the process in it now, and what it last reported. */
class WorkerSlot {
  channel: Channel | undefined;
  child: ChildProcess | undefined;
  /** Undefined when the worker says it is ready; otherwise why not. */
  reason: string | undefined = 'starting';
  listens = 0;
  startedAt = 0;
  restartsInRow = 0;
  address = '';
  /** Where this worker serves the approval page (worker 0 only, with an approvals section). */
  approvalsUrl: string | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly index: number,
    private readonly pool: PoolContext,
  ) {}

  async start(): Promise<void> {
    this.reason = 'starting';
    const child = fork(ENTRY, [], { execArgv: workerExecArgv(process.execArgv, extname(HERE) === '.ts'), stdio: 'inherit', serialization: 'advanced' });
    const channel = new Channel((m) => {
      if (!child.connected) throw new ChannelClosedError(`worker ${this.index} is gone`);
      child.send(m);
    });
    this.child = child;
    this.channel = channel;
    child.on('message', (m: WireMessage) => channel.receive(m));
    const hello = new Promise<void>((resolve) => channel.handle('hello', () => resolve()));
    channel.handle('audit', (lines: string) => {
      try {
        this.pool.writeLines(lines);
      } catch (err) {
        // The sink counted it as dropped; the worker already answered Envoy.
        this.pool.log.error({ err: (err as Error).message, worker: this.index }, 'audit event not written');
      }
    });
    channel.handle('audit.flush', () => this.pool.sink.flush());
    channel.handle('ready', (reason: string | null) => {
      this.reason = reason ?? undefined;
      this.pool.changed();
    });
    channel.handle('listens', (n: number) => void (this.listens = n));
    this.pool.limits.serve(channel, this.index);
    this.exited = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        channel.close(`worker ${this.index} exited`);
        this.reason = `worker exited (${signal ?? `code ${code}`})`;
        this.listens = 0;
        this.channel = undefined;
        this.pool.limits.workerGone(this.index);
        this.pool.exited(this, code, signal);
        resolve();
      }),
    );
    const died = this.exited.then(() => {
      throw new Error(`ext_proc worker ${this.index} exited while starting`);
    });
    await Promise.race([hello, died]);
    const r = await Promise.race([channel.call<{ address: string; approvalsUrl?: string }>('init', this.pool.init(this.index)), died]);
    this.address = r.address;
    this.approvalsUrl = r.approvalsUrl;
    this.startedAt = Date.now();
    this.pool.changed();
  }

  /** Asks the worker to drain and stop (up to graceMs), then ends the process. */
  async stop(graceMs: number): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await this.channel?.call('stop', graceMs, graceMs + 10_000).catch((err: unknown) => this.pool.log.warn({ worker: this.index, err: (err as Error).message }, 'ext_proc worker did not stop in time'));
    // Every event it sent before its answer has been written: the channel is in order.
    if (child.connected) child.disconnect();
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(kill);
  }
}

export async function startWorkerPool(config: GatewayConfig, opts: SidecarOptions): Promise<Sidecar> {
  const log = opts.log ?? createLogger(config.log.level);
  const readable = config.telemetry.listen !== undefined;
  const metrics = new ClusterMetrics({ usage: config.telemetry.usage, processMetrics: readable });
  // The one sink: the workers' events arrive here, in order per worker, each line written whole.
  const own = opts.audit || config.audit.otlp ? undefined : createAuditSink(config.audit, readable ? metrics : undefined);
  const sink = own ?? withOtlpAudit(opts.audit ?? createAuditSink(config.audit, readable ? metrics : undefined), config.audit.otlp, log);
  const writeLines = own
    ? (lines: string) => own.writeLines(lines)
    : (lines: string) => {
        for (const line of lines.split('\n')) if (line !== '') sink.write(eventOfLine(line) as unknown as AuditEvent);
      };
  const sessionKey = randomBytes(32).toString('base64');
  const limits = new LimitsHost();
  let current = config;
  let draining = false;
  const slots: WorkerSlot[] = [];
  const checks: ReadinessCheck[] = [
    {
      name: 'workers',
      check: () => {
        const down = slots.filter((s) => s.reason !== undefined);
        return down.length === 0 ? undefined : down.map((s) => `worker ${s.index}: ${s.reason}`).join('; ');
      },
    },
  ];
  if (!opts.audit && config.audit.sink === 'file' && config.audit.file) checks.push(auditFileCheck(config.audit.file));
  checks.push({ name: 'draining', check: () => (draining ? 'the sidecar is shutting down' : undefined) });
  const readiness = new ReadinessState(checks);
  const components = new ComponentReadiness(metrics.registry, log);
  metrics.workers = () => slots.flatMap((s) => (s.channel ? [s.channel.call<MetricsJson>('metrics', undefined, METRICS_TIMEOUT_MS)] : []));

  const restart = (slot: WorkerSlot) => {
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** slot.restartsInRow);
    slot.restartsInRow++;
    setTimeout(() => {
      if (draining) return;
      slot.start().then(
        () => log.info({ worker: slot.index, pid: slot.child?.pid }, 'ext_proc worker restarted'),
        (err: unknown) => log.error({ worker: slot.index, err: (err as Error).message }, 'ext_proc worker did not start'),
      );
    }, delay).unref();
  };
  const ctx: PoolContext = {
    log,
    sink,
    writeLines,
    limits,
    init: (index) => ({ index, config: encodeConfig(current), sessionKey, metrics: readable, readinessIntervalMs: opts.readinessIntervalMs }),
    changed: () => void readiness.evaluate(),
    exited: (slot, code, signal) => {
      void readiness.evaluate();
      if (draining || slot.startedAt === 0) return;
      if (Date.now() - slot.startedAt > STABLE_MS) slot.restartsInRow = 0;
      log.error({ worker: slot.index, code, signal }, 'ext_proc worker exited; starting it again');
      restart(slot);
    },
  };
  for (let i = 0; i < config.sidecar.workers; i++) slots.push(new WorkerSlot(i, ctx));

  let endpoint: TelemetryEndpoint | undefined;
  const stopAll = async () => {
    draining = true;
    await Promise.allSettled(slots.map((s) => s.stop(0)));
    await endpoint?.close();
    await sink.close();
  };
  try {
    if (config.telemetry.listen) {
      endpoint = await startTelemetryEndpoint(config.telemetry.listen, metrics, readiness);
      log.info({ url: endpoint.url }, 'telemetry endpoint listening (/metrics, /healthz, /readyz)');
    }
    await Promise.all(slots.map((s) => s.start()));
  } catch (err) {
    await stopAll();
    throw err;
  }
  const apply = (reason: string | undefined) => components.set('sidecar', reason);
  readiness.onChange(apply);
  apply(await readiness.evaluate());
  readiness.start(opts.readinessIntervalMs ?? READINESS_INTERVAL_MS);
  log.info({ workers: slots.map((s) => ({ address: s.address, pid: s.child?.pid })), servers: config.servers.map((s) => s.name) }, 'ext_proc sidecar listening');

  /** Every live worker runs `t`; rejects with the first failure. */
  const everyWorker = async (t: string, body?: unknown) => {
    const live = slots.filter((s) => s.channel);
    const results = await Promise.allSettled(live.map((s) => s.channel!.call(t, body)));
    return { live, results };
  };
  const reload = async (next: GatewayConfig): Promise<void> => {
    assertSidecarReloadable(current, next);
    if (draining) throw new Error('the sidecar is shutting down');
    const { live, results } = await everyWorker('reload', encodeConfig(next));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      // All or none: the workers that took it go back to the config in force.
      const back = encodeConfig(current);
      await Promise.allSettled(live.filter((_, i) => results[i]!.status === 'fulfilled').map((s) => s.channel?.call('reload', back)));
      throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
    }
    current = next;
    log.info({ source: next.source, servers: next.servers.map((s) => s.name), workers: live.length }, 'config reloaded');
  };
  let stopping: Promise<void> | undefined;
  return {
    address: slots[0]!.address,
    get runtime(): never {
      throw new Error('with sidecar.workers > 1 each worker process has its own runtime: use reload() and refresh()');
    },
    get config() {
      return current;
    },
    reload: oneAtATime(reload),
    async refresh() {
      const { results } = await everyWorker('refresh');
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) log.warn({ err: (failed.reason as Error).message }, 'a worker did not refresh');
    },
    metrics,
    get openListenStreams() {
      return slots.reduce((n, s) => n + s.listens, 0);
    },
    telemetryUrl: endpoint?.url,
    // Worker 0 serves the page (workerConfig) and says where.
    get approvalsUrl() {
      return slots[0]!.approvalsUrl;
    },
    readiness,
    components,
    tracing: undefined,
    stop(graceMs = 5000) {
      stopping ??= (async () => {
        draining = true;
        readiness.stop();
        void readiness.evaluate();
        // Each worker drains its own streams (NOT_SERVING first), writes its last events, then exits.
        await Promise.allSettled(slots.map((s) => s.stop(graceMs)));
        await sink.close();
        await endpoint?.close();
      })();
      return stopping;
    },
  };
}
