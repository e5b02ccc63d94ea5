// Reads a JSON-lines audit trail into a UsageAggregator.
import { NOT_JSON, readAuditLines } from '../audit/read-trail.js';
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
  for await (const parsed of readAuditLines(path)) {
    stats.lines++;
    if (parsed === NOT_JSON) {
      stats.malformed++;
      continue;
    }
    const r = usageRecord(parsed);
    if (r === 'malformed') stats.malformed++;
    else if (r !== 'skip' && !into.add(r)) stats.outsideWindow++;
  }
  return stats;
}
