// What an exchange tells tracing, as a small interface of the gateway's own (the OTel
// implementation is src/telemetry/tracing.ts). Off, the runtime has no tracer and an
// exchange holds no trace: every call site is one `?.` and allocates nothing.
import type { AuditEvent } from '../audit/event.js';
import type { HeaderBag } from './exchange.js';
import type { HeaderEdit } from './verdict.js';

export interface ExchangeTracer {
  /** A trace for one exchange that began at `startedMs` (performance.now()). */
  exchange(startedMs: number): ExchangeTrace;
}

/** A step of the decision, recorded as a child span once it has run. */
export type TraceStep =
  | { kind: 'policy'; bundleRevision: string; outcome: 'allow' | 'deny' | 'error'; decisionId: string; error: string | undefined }
  | { kind: 'token_exchange'; server: string; outcome: 'success' | 'refused' | 'error'; error: string | undefined };

export interface ExchangeTrace {
  /**
   * The message (or HTTP request) is known: its span starts, at the exchange's start, as
   * a child of the caller's context (`params._meta` over the headers). Idempotent.
   * Returns the request header edit that carries the gateway's span context upstream.
   */
  begin(headers: HeaderBag, params: unknown): HeaderEdit;
  /** A step that ran from `startedMs` to `endedMs` (performance.now()). */
  step(step: TraceStep, startedMs: number, endedMs: number): void;
  /** The span's ids for the audit event (after begin). */
  readonly ids: { traceId: string; spanId: string } | undefined;
  /**
   * After begin: when the caller's context came from `params._meta.traceparent`, that value
   * and the gateway's, for the body to carry the gateway's span context upstream as well.
   */
  readonly metaRewrite: { from: string; to: string } | undefined;
  /** The exchange is over: the span gets the audit event's facts and ends. `rpcCode`: the JSON-RPC error the gateway answered with. */
  end(ev: AuditEvent, rpcCode: number | undefined): void;
}
