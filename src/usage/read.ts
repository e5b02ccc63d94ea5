// Reads a JSON-lines audit trail as a stream (files of any size, one line in memory
// at a time) into a UsageAggregator.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { usageRecord, type UsageAggregator } from './report.js';

export interface ReadStats {
  lines: number;
  /** Lines that were not JSON audit events (a torn last line, other logs' garbage). */
  malformed: number;
  /** Calls outside --since/--until. */
  outsideWindow: number;
}

export async function readAuditTrail(path: string, into: UsageAggregator): Promise<ReadStats> {
  const stats: ReadStats = { lines: 0, malformed: 0, outsideWindow: 0 };
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    stats.lines++;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      stats.malformed++;
      continue;
    }
    const r = usageRecord(parsed);
    if (r === 'malformed') stats.malformed++;
    else if (r !== 'skip' && !into.add(r)) stats.outsideWindow++;
  }
  return stats;
}
