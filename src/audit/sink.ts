// Audit sinks: pino writing JSON lines to stdout or to an append-only file.
//
// The durability contract (audit.durability; README "Durability and process death"):
// - buffered (default): lines are batched (one write per ~4 KiB instead of one per
//   event) and written at least every FLUSH_MS; close() and flush() write the rest
//   synchronously, so SIGTERM/SIGINT lose nothing. SIGKILL, an OOM kill or a crash
//   loses what was still in the buffer: the events of the last FLUSH_MS at most.
// - write_through: write() returns after write(2) has handed the line to the kernel
//   (one syscall per event). The sidecar writes an exchange's event before it sends
//   Envoy the reply that completes the exchange, so SIGKILL of the process loses no
//   event of a completed exchange; only a crash of the machine can lose lines still
//   in the page cache.
// - fsync: as write_through, then fsync(2) per event: lines survive a machine crash
//   too, at the price of a disk flush per event.
import pino from 'pino';
import type { AuditEvent, AuditSink } from './event.js';
import type { AuditSection } from '../config/types.js';

/** In buffered mode: the longest an event waits in memory before it is written. */
export const FLUSH_MS = 250;
/** In buffered mode: the batch size that triggers a write before the timer does. */
const BUFFER_BYTES = 4096;

/** Told what becomes of each event and of each write error (for metrics). */
export interface AuditSinkObserver {
  /** `written`: handed to the destination (in buffered mode, to its buffer); `dropped`: lost (the sink was closed, or the write threw). */
  auditEvent(result: 'written' | 'dropped'): void;
  /** The destination reported an I/O error (a full disk, a closed stdout). */
  auditSinkError(): void;
}

/** The audit line's shape (pino's options): shared by the sink and by ext_proc workers, which format their lines themselves. */
export const AUDIT_LOGGER_OPTIONS: pino.LoggerOptions = {
  base: { log: 'audit' },
  messageKey: 'msg',
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
};

/** A file or stdout sink also takes lines formatted elsewhere (an ext_proc worker's), written as they are. */
export interface LineAuditSink extends AuditSink {
  /** One or more whole lines, each ending in a newline, in AUDIT_LOGGER_OPTIONS' shape. */
  writeLines(lines: string): void;
}

export function createAuditSink(cfg: Pick<AuditSection, 'sink' | 'file' | 'durability'>, observer?: AuditSinkObserver): LineAuditSink {
  const buffered = cfg.durability === 'buffered';
  const target = cfg.sink === 'file' ? { dest: cfg.file!, append: true, mkdir: true } : { dest: 1 };
  // sync: the file is opened, and every line written, with the *Sync fs calls.
  const dest = buffered
    ? pino.destination({ ...target, sync: false, minLength: BUFFER_BYTES })
    : pino.destination({ ...target, sync: true, minLength: 0, fsync: cfg.durability === 'fsync' });
  if (observer) {
    dest.on('error', (err: Error) => {
      observer.auditSinkError();
      // Counting must not turn an error nobody handles (which ends the process: fail closed) into one ignored.
      if (dest.listenerCount('error') === 1) throw err;
    });
  }
  let timer: NodeJS.Timeout | undefined;
  if (buffered) {
    timer = setInterval(() => {
      try {
        dest.flush();
      } catch {
        // Not open yet, or a write in flight: the next tick (or close) flushes.
      }
    }, FLUSH_MS);
    timer.unref();
  }
  const logger = pino(AUDIT_LOGGER_OPTIONS, dest);
  let closed = false;
  const flush = () =>
    new Promise<void>((resolve) => {
      try {
        dest.flushSync();
      } catch {
        // flushSync throws if the stream is not ready yet; nothing buffered then.
      }
      resolve();
    });
  return {
    write(event) {
      if (closed) {
        observer?.auditEvent('dropped');
        return;
      }
      if (!observer) {
        logger.info(event);
        return;
      }
      try {
        logger.info(event);
      } catch (err) {
        // A synchronous write that failed (write_through/fsync): counted (the error itself by the
        // 'error' listener), then the caller sees it as before.
        observer.auditEvent('dropped');
        throw err;
      }
      observer.auditEvent('written');
    },
    writeLines(lines) {
      const n = countLines(lines);
      if (closed) {
        for (let i = 0; i < n; i++) observer?.auditEvent('dropped');
        return;
      }
      try {
        dest.write(lines);
      } catch (err) {
        for (let i = 0; i < n; i++) observer?.auditEvent('dropped');
        throw err;
      }
      for (let i = 0; i < n; i++) observer?.auditEvent('written');
    },
    flush,
    async close() {
      if (closed) return;
      clearInterval(timer);
      await flush();
      closed = true;
      await new Promise<void>((resolve) => {
        dest.once('close', () => resolve());
        dest.once('error', () => resolve());
        dest.end();
      });
    },
  };
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Collects events in memory; for tests and embedding. */
export class MemoryAuditSink implements AuditSink {
  readonly events: AuditEvent[] = [];
  write(event: AuditEvent): void {
    this.events.push(event);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
