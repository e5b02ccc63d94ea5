// Traces of the gateway with the OpenTelemetry SDK: one SERVER span per decided MCP
// message, named and attributed as the OpenTelemetry MCP semantic conventions say
// (gen-ai/mcp.md, "Server"), with the decision's steps (policy, token exchange) as
// children. The provider is the sidecar's own (never registered globally), so nothing
// else in the process is traced by accident. Off (no telemetry.tracing), none of this
// runs: the runtime has no tracer.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, createTraceState, trace, type Attributes, type Context, type Link, type Span, type SpanContext, type Tracer } from '@opentelemetry/api';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace';
import type { AuditEvent } from '../audit/event.js';
import type { TracingSection } from '../config/types.js';
import type { HeaderEdit } from '../gateway/verdict.js';
import type { ExchangeTrace, ExchangeTracer, TraceStep } from '../gateway/trace.js';
import type { HeaderBag } from '../gateway/exchange.js';
import { callerContext, formatTraceparent, type RemoteContext } from './trace-context.js';
import { bounded, logged, otlpResource, spanExporter, SHUTDOWN_WAIT_MS } from './otlp.js';
import type { Logger } from './log.js';

export const TRACER_NAME = 'mcp-gateway';

export class GatewayTracing implements ExchangeTracer {
  private readonly provider: TracerProvider;
  private readonly tracer: Tracer;

  /** `exporter` replaces the OTLP exporter (tests, the bench's sink); `processor` replaces the batching. */
  constructor(cfg: TracingSection, opts: { exporter?: SpanExporter; processor?: SpanProcessor; log?: Logger } = {}) {
    const processor = opts.processor ?? new BatchSpanProcessor({ exporter: logged(opts.exporter ?? spanExporter(cfg), opts.log, 'traces', cfg.endpoint), scheduledDelayMillis: cfg.exportIntervalMs, exportTimeoutMillis: cfg.timeoutMs });
    this.provider = new TracerProvider({
      resource: otlpResource(cfg.serviceName, cfg.resourceAttributes),
      // The caller's sampled flag decides; a trace that starts here is sampled at the ratio.
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(cfg.samplerRatio) }),
      spanProcessors: [processor],
    });
    this.tracer = this.provider.getTracer(TRACER_NAME);
  }

  exchange(startedMs: number): ExchangeTrace {
    return new MessageSpan(this.tracer, startedMs);
  }

  /** Exports what is buffered (tests, and before the process exits). */
  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  /** Exports what is left (waiting at most SHUTDOWN_WAIT_MS) and stops. */
  shutdown(): Promise<void> {
    return bounded(this.provider.shutdown(), SHUTDOWN_WAIT_MS);
  }
}

function spanContextOf(r: RemoteContext): SpanContext {
  return { traceId: r.traceId, spanId: r.spanId, traceFlags: r.flags & 1, isRemote: true, ...(r.traceState && { traceState: createTraceState(r.traceState) }) };
}

const STEP_NAMES: Record<TraceStep['kind'], string> = { policy: 'mcp_gateway.policy.evaluate', token_exchange: 'mcp_gateway.token_exchange' };

class MessageSpan implements ExchangeTrace {
  private span: Span | undefined;
  private context: Context | undefined;
  private edit: HeaderEdit | undefined;
  /** Steps that ran before the span started (token exchange happens at request headers). */
  private pending: [TraceStep, number, number][] | undefined;
  ids: { traceId: string; spanId: string } | undefined;
  metaRewrite: { from: string; to: string } | undefined;

  constructor(
    private readonly tracer: Tracer,
    private readonly startedMs: number,
  ) {}

  begin(headers: HeaderBag, params: unknown): HeaderEdit {
    if (this.edit) return this.edit;
    const caller = callerContext(headers, params);
    const parent = caller.parent ? trace.setSpanContext(ROOT_CONTEXT, spanContextOf(caller.parent)) : ROOT_CONTEXT;
    const links: Link[] | undefined = caller.link ? [{ context: spanContextOf(caller.link) }] : undefined;
    // Named when it ends (the target is known then); the sampler does not look at the name.
    const span = this.tracer.startSpan('mcp', { kind: SpanKind.SERVER, startTime: this.startedMs, ...(links && { links }) }, parent);
    this.span = span;
    this.context = trace.setSpan(ROOT_CONTEXT, span);
    const sc = span.spanContext();
    this.ids = { traceId: sc.traceId, spanId: sc.spanId };
    // Upstream, the gateway's span is the parent; a caller's tracestate that is not the parent's goes.
    const state = sc.traceState?.serialize();
    const traceparent = formatTraceparent(sc.traceId, sc.spanId, sc.traceFlags);
    if (caller.metaTraceparent !== undefined) this.metaRewrite = { from: caller.metaTraceparent, to: traceparent };
    const set: [string, string][] = [['traceparent', traceparent]];
    if (state) set.push(['tracestate', state]);
    this.edit = state || headers['tracestate'] === undefined ? { set } : { set, remove: ['tracestate'] };
    if (this.pending) for (const [s, a, b] of this.pending) this.record(s, a, b);
    this.pending = undefined;
    return this.edit;
  }

  step(step: TraceStep, startedMs: number, endedMs: number): void {
    if (!this.span) (this.pending ??= []).push([step, startedMs, endedMs]);
    else this.record(step, startedMs, endedMs);
  }

  private record(step: TraceStep, startedMs: number, endedMs: number): void {
    if (!this.span!.isRecording()) return;
    const attributes: Attributes =
      step.kind === 'policy'
        ? { 'mcp_gateway.policy.revision': step.bundleRevision, 'mcp_gateway.policy.decision_id': step.decisionId, 'mcp_gateway.policy.outcome': step.outcome }
        : { 'mcp_gateway.server': step.server, 'mcp_gateway.token_exchange.outcome': step.outcome };
    const child = this.tracer.startSpan(STEP_NAMES[step.kind], { kind: step.kind === 'token_exchange' ? SpanKind.CLIENT : SpanKind.INTERNAL, startTime: startedMs, attributes }, this.context);
    if (step.outcome === 'error' || step.outcome === 'deny' || step.outcome === 'refused') {
      child.setAttribute('error.type', step.kind === 'policy' ? (step.outcome === 'deny' ? 'policy_denied' : 'policy_error') : `token_exchange_${step.outcome}`);
      child.setStatus({ code: SpanStatusCode.ERROR, ...(step.error && { message: step.error }) });
    }
    child.end(endedMs);
  }

  end(ev: AuditEvent, rpcCode: number | undefined): void {
    const span = this.span;
    if (!span) return;
    this.span = undefined;
    if (span.isRecording()) {
      span.updateName(spanName(ev));
      span.setAttributes(spanAttributes(ev, rpcCode));
      if (ev.decision === 'deny') span.setStatus({ code: SpanStatusCode.ERROR, ...(ev.message && { message: ev.message }) });
      else if (ev.upstream_status !== undefined && ev.upstream_status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }
}

/** `{mcp.method.name} {target}`; the target is a tool or prompt name, never a resource URI (cardinality). Not a message: `{http method} {server}`. */
export function spanName(ev: AuditEvent): string {
  const method = ev.rpc?.method;
  if (method !== undefined) {
    const t = ev.target;
    return t && t.kind !== 'resource' ? `${method} ${t.name}` : method;
  }
  if (ev.rpc?.kind === 'response') return 'mcp.response';
  return ev.server ? `${ev.http.method} ${ev.server}` : ev.http.method || 'mcp';
}

/** The conventions' attributes, then the gateway's own (`mcp_gateway.*`), from the exchange's audit event. */
export function spanAttributes(ev: AuditEvent, rpcCode: number | undefined): Attributes {
  const a: Attributes = { 'network.transport': 'tcp', 'network.protocol.name': 'http', 'http.request.method': ev.http.method, 'mcp_gateway.decision': ev.decision, 'mcp_gateway.reason': ev.reason, 'mcp_gateway.event.type': ev.type };
  const rpc = ev.rpc;
  if (rpc?.method !== undefined) a['mcp.method.name'] = rpc.method;
  if (rpc?.id !== undefined && rpc.id !== null) a['jsonrpc.request.id'] = String(rpc.id);
  const t = ev.target;
  if (t?.kind === 'tool') {
    a['gen_ai.tool.name'] = t.name;
    if (rpc?.method === 'tools/call') a['gen_ai.operation.name'] = 'execute_tool';
  } else if (t?.kind === 'prompt') a['gen_ai.prompt.name'] = t.name;
  else if (t?.kind === 'resource') a['mcp.resource.uri'] = t.name;
  if (ev.session_id !== undefined) a['mcp.session.id'] = ev.session_id;
  if (ev.protocol_version !== undefined) a['mcp.protocol.version'] = ev.protocol_version;
  if (ev.server !== undefined) a['mcp_gateway.server'] = ev.server;
  if (ev.http.status !== undefined) a['http.response.status_code'] = ev.http.status;
  if (ev.policy) a['mcp_gateway.policy.decision_id'] = ev.policy.decision_id;
  if (ev.client_address !== undefined) {
    const client = splitAddress(ev.client_address);
    a['client.address'] = client.address;
    if (client.port !== undefined) a['client.port'] = client.port;
  }
  if (ev.decision === 'deny') {
    // The stable reason code, as in the audit event and the metrics.
    a['error.type'] = ev.reason;
    if (rpcCode !== undefined) a['rpc.response.status_code'] = String(rpcCode);
  } else if (ev.upstream_status !== undefined && ev.upstream_status >= 500) a['error.type'] = String(ev.upstream_status);
  return a;
}

/** Envoy's `source.address`: `1.2.3.4:5678` or `[::1]:5678`. */
function splitAddress(s: string): { address: string; port: number | undefined } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(s);
  return m ? { address: m[1]!, port: Number(m[2]) } : { address: s, port: undefined };
}
