// A worker's audit sink: it formats each event's line itself (the sink's own pino shape)
// and sends it to the primary, which writes it to the one sink (file or stdout) as it
// is — lines never interleave, no two processes append to one file, and the primary
// does not serialize what the workers already did.
//
// audit.durability buffered (the default): lines of one turn of the event loop travel as
// one message. write_through and fsync: each line is handed to the IPC channel before the
// worker replies to Envoy, as the single-process sink writes it before then.
import pino from 'pino';
import type { AuditSink } from '../audit/event.js';
import { AUDIT_LOGGER_OPTIONS } from '../audit/sink.js';
import type { AuditSection } from '../config/types.js';
import type { Channel } from './channel.js';

/** A batch is sent before the turn ends once it is this large. */
const BATCH_BYTES = 64 * 1024;

export function ipcAuditSink(channel: Channel, durability: AuditSection['durability']): AuditSink {
  let batch = '';
  let scheduled = false;
  const send = () => {
    scheduled = false;
    if (batch === '') return;
    const lines = batch;
    batch = '';
    channel.notify('audit', lines);
  };
  const destination = {
    write(line: string) {
      if (durability !== 'buffered') return channel.notify('audit', line);
      batch += line;
      if (batch.length >= BATCH_BYTES) send();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(send);
      }
    },
  };
  const logger = pino(AUDIT_LOGGER_OPTIONS, destination);
  return {
    write: (event) => logger.info(event),
    async flush() {
      send();
      await channel.call<void>('audit.flush');
    },
    async close() {
      // What is batched goes now; the primary closes the sink, after every worker has stopped.
      send();
    },
  };
}

/** A line back to the event it records (for a sink that takes events, not lines: embedding, tests, audit.otlp). */
export function eventOfLine(line: string): Record<string, unknown> {
  const { level: _level, time: _time, log: _log, ...event } = JSON.parse(line) as Record<string, unknown>;
  return event;
}
