// The usage report as text: an aligned table, JSON, or CSV (RFC 4180 quoting).
import type { Dimension, UsageReport, UsageRow } from './report.js';

export type ReportFormat = 'table' | 'json' | 'csv';

const METRICS = ['calls', 'errors', 'refusals', 'p50_ms', 'p95_ms', 'request_bytes', 'response_bytes', 'cost_units'] as const;

function values(r: UsageRow): (number | undefined)[] {
  return [r.calls, r.errors, r.refusals, r.p50Ms, r.p95Ms, r.requestBytes, r.responseBytes, r.costUnits];
}

/** Milliseconds to 3 significant digits at most (the quantiles are within 1 %). */
function ms(v: number | undefined): string {
  return v === undefined ? '' : String(Number(v.toPrecision(3)));
}

function cell(v: number | undefined, i: number): string {
  return i === 3 || i === 4 ? ms(v) : v === undefined ? '' : String(Math.round(v * 1e6) / 1e6);
}

export function formatReport(report: UsageReport, format: ReportFormat): string {
  const by = report.by;
  if (format === 'json') {
    const one = (r: UsageRow) => ({ ...r.key, ...Object.fromEntries(METRICS.map((m, i) => [m, i === 3 || i === 4 ? (values(r)[i] === undefined ? null : Number(ms(values(r)[i]))) : values(r)[i]])) });
    return `${JSON.stringify({ by, rows: report.rows.map(one), total: one(report.total), envoy_replies: report.envoyReplies }, null, 2)}\n`;
  }
  const header = [...by, ...METRICS];
  const line = (r: UsageRow, label?: string) => [...by.map((d: Dimension, i) => (label !== undefined && i === 0 ? label : (r.key[d] ?? ''))), ...values(r).map(cell)];
  const body = report.rows.map((r) => line(r));
  if (format === 'csv') {
    return [header, ...body].map((cols) => cols.map(csvField).join(',')).join('\r\n') + '\r\n';
  }
  // An empty key (no tool, no method) reads as "-" in a table.
  const all = [header, ...body.map((cols) => cols.map((c, i) => (i < by.length && c === '' ? '-' : c))), line(report.total, 'TOTAL')];
  const widths = header.map((_, i) => Math.max(...all.map((cols) => cols[i]!.length)));
  const text = (cols: string[]) => cols.map((c, i) => (i < by.length ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [text(header), rule, ...all.slice(1, -1).map(text), rule, text(all[all.length - 1]!)].join('\n') + '\n';
}

function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}
