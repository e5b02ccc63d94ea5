// Operational log (not the audit trail): pino JSON lines on stderr, so that
// stdout can carry the audit stream alone when audit.sink is stdout.
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'mcp-gateway'): Logger {
  return pino({ name, level, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 2, sync: false }));
}
