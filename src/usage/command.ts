// `mcp-gateway usage`: the report over an audit trail, to stdout; counts of what was
// skipped to stderr.
import { formatReport, type ReportFormat } from './format.js';
import { readAuditTrail } from './read.js';
import { UsageAggregator, parseDimensions, parseTimeArg } from './report.js';

export interface UsageArgs {
  audit: string;
  by: string[] | undefined;
  since: string | undefined;
  until: string | undefined;
  format: string | undefined;
}

export async function usageCommand(args: UsageArgs, UsageError: new (message: string) => Error): Promise<number> {
  const format = (args.format ?? 'table') as ReportFormat;
  if (!['table', 'json', 'csv'].includes(format)) throw new UsageError(`--format ${format}: expected table, json or csv`);
  const now = Date.now();
  let by, since, until;
  try {
    by = parseDimensions(args.by);
    since = args.since === undefined ? undefined : parseTimeArg(args.since, now);
    until = args.until === undefined ? undefined : parseTimeArg(args.until, now);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const agg = new UsageAggregator(by, { since, until });
  const stats = await readAuditTrail(args.audit, agg);
  const report = agg.report();
  process.stdout.write(formatReport(report, format));
  const notes = [
    stats.malformed ? `${stats.malformed} malformed line(s) skipped` : undefined,
    stats.outsideWindow ? `${stats.outsideWindow} call(s) outside --since/--until` : undefined,
    report.envoyReplies ? `${report.envoyReplies} request(s) Envoy answered itself (counted as refusals, server _none)` : undefined,
  ].filter((n) => n !== undefined);
  if (notes.length) process.stderr.write(`${args.audit}: ${notes.join('; ')}\n`);
  return 0;
}
