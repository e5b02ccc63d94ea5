// A worker's audit sink: every event goes to the primary, which writes it to the one sink
// (file or stdout) — lines never interleave, and no two processes append to one file.
// An event is handed to the IPC channel before the worker replies to Envoy, as the
// single-process sink writes it before then.
import type { AuditSink } from '../audit/event.js';
import type { Channel } from './channel.js';

export function ipcAuditSink(channel: Channel): AuditSink {
  return {
    write(event) {
      channel.notify('audit', event);
    },
    flush: () => channel.call<void>('audit.flush'),
    async close() {
      // The primary closes the sink, after every worker has stopped.
    },
  };
}
