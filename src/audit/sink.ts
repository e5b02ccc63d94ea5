// Audit sinks: pino writing JSON lines to stdout or to an append-only file.
// Writes are asynchronous (the hot path never blocks on I/O); flush() and
// close() drain the buffer, which is what SIGTERM handling calls.
import pino from 'pino';
import type { AuditEvent, AuditSink } from './event.js';
import type { AuditSection } from '../config/types.js';

const FLUSH_MS = 250;

export function createAuditSink(cfg: AuditSection): AuditSink {
  // Events are buffered (one write per 4 KiB instead of one per event) and flushed at
  // least every FLUSH_MS; close() flushes synchronously, so SIGTERM loses nothing.
  const dest =
    cfg.sink === 'file'
      ? pino.destination({ dest: cfg.file!, append: true, mkdir: true, sync: false, minLength: 4096 })
      : pino.destination({ dest: 1, sync: false, minLength: 4096 });
  const timer = setInterval(() => {
    try {
      dest.flush();
    } catch {
      // Not open yet, or a write in flight: the next tick (or close) flushes.
    }
  }, FLUSH_MS);
  timer.unref();
  const logger = pino(
    {
      base: { log: 'audit' },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
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
      if (!closed) logger.info(event);
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

/** Collects events in memory; for tests and embedding. */
export class MemoryAuditSink implements AuditSink {
  readonly events: AuditEvent[] = [];
  write(event: AuditEvent): void {
    this.events.push(event);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
