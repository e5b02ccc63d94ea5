// Audit events as OpenTelemetry log records over OTLP (`audit.otlp`), beside the
// stdout/file sink, which stays the record of truth: this one batches in memory and
// drops what the collector cannot take (counted by the SDK, never blocking a decision).
// Each record carries the event as its body, a few fields as attributes to query by, and
// the trace and span ids of the exchange's span, so the back end links log and trace.
import { ROOT_CONTEXT, SeverityNumber, TraceFlags, trace, type Attributes, type AnyValue, type Logger } from '@opentelemetry/api';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter } from '@opentelemetry/sdk-logs';
import type { AuditEvent, AuditSink } from '../audit/event.js';
import type { AuditSection } from '../config/types.js';
import { bounded, logExporter, logged, otlpResource, SHUTDOWN_WAIT_MS } from './otlp.js';
import type { Logger as Log } from './log.js';

/** The log records' event name (OTel `EventName`), one for every audit event. */
export const AUDIT_EVENT_NAME = 'mcp_gateway.audit';

/** The event as an OTel AnyValue: undefined fields left out (as in the JSON line). */
function anyValue(v: unknown): AnyValue {
  if (v === null || typeof v !== 'object') return v as AnyValue;
  if (Array.isArray(v)) return v.map(anyValue);
  const out: Record<string, AnyValue> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = anyValue(x);
  return out;
}

function attributesOf(ev: AuditEvent): Attributes {
  const a: Attributes = { 'mcp_gateway.event.type': ev.type, 'mcp_gateway.decision': ev.decision, 'mcp_gateway.reason': ev.reason };
  if (ev.server !== undefined) a['mcp_gateway.server'] = ev.server;
  if (ev.rpc?.method !== undefined) a['mcp.method.name'] = ev.rpc.method;
  if (ev.session_id !== undefined) a['mcp.session.id'] = ev.session_id;
  if (ev.target?.kind === 'tool') a['gen_ai.tool.name'] = ev.target.name;
  else if (ev.target?.kind === 'prompt') a['gen_ai.prompt.name'] = ev.target.name;
  else if (ev.target?.kind === 'resource') a['mcp.resource.uri'] = ev.target.name;
  if (ev.decision === 'deny') a['error.type'] = ev.reason;
  return a;
}

export class OtlpAuditSink implements AuditSink {
  private readonly provider: LoggerProvider;
  private readonly logger: Logger;

  constructor(
    private readonly inner: AuditSink,
    cfg: NonNullable<AuditSection['otlp']>,
    opts: { exporter?: LogRecordExporter; log?: Log } = {},
  ) {
    this.provider = new LoggerProvider({
      resource: otlpResource(cfg.serviceName, cfg.resourceAttributes),
      processors: [new BatchLogRecordProcessor({ exporter: logged(opts.exporter ?? logExporter(cfg), opts.log, 'audit log records', cfg.endpoint), scheduledDelayMillis: cfg.exportIntervalMs, exportTimeoutMillis: cfg.timeoutMs })],
    });
    this.logger = this.provider.getLogger('mcp-gateway.audit');
  }

  write(ev: AuditEvent): void {
    this.inner.write(ev);
    try {
      this.logger.emit({
        eventName: AUDIT_EVENT_NAME,
        severityNumber: ev.decision === 'deny' ? SeverityNumber.WARN : SeverityNumber.INFO,
        severityText: ev.decision === 'deny' ? 'WARN' : 'INFO',
        body: anyValue(ev),
        attributes: attributesOf(ev),
        ...(ev.trace_id && ev.span_id && { context: trace.setSpanContext(ROOT_CONTEXT, { traceId: ev.trace_id, spanId: ev.span_id, traceFlags: TraceFlags.SAMPLED }) }),
      });
    } catch {
      // The file/stdout line is written; the copy to the collector is best effort.
    }
  }

  async flush(): Promise<void> {
    await this.inner.flush();
    await this.provider.forceFlush();
  }

  async close(): Promise<void> {
    await this.inner.close();
    await bounded(this.provider.shutdown(), SHUTDOWN_WAIT_MS);
  }
}

/** Without audit.otlp: the sink itself. */
export function withOtlpAudit(sink: AuditSink, cfg: AuditSection['otlp'], log?: Log): AuditSink {
  return cfg ? new OtlpAuditSink(sink, cfg, { log }) : sink;
}
