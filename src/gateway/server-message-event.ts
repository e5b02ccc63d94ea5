// The audit event for a message from the upstream that the response filter changed or
// dropped (other than the exchange's own answer): the exchange's facts (who, where, which
// request), the message's own (kind, id, method, target) and what was done to it.
import { emptyAuditEvent, type AuditEvent } from '../audit/event.js';
import type { ServerMessageReport } from './response-filter.js';

export function serverMessageEvent(exchange: Readonly<AuditEvent>, m: ServerMessageReport, latencyMs: number): AuditEvent {
  const ev = emptyAuditEvent();
  ev.type = 'mcp.server_message';
  ev.request_id = exchange.request_id;
  ev.trace_id = exchange.trace_id;
  ev.span_id = exchange.span_id;
  ev.session_id = exchange.session_id;
  ev.server = exchange.server;
  ev.http = { ...exchange.http };
  ev.protocol_version = exchange.protocol_version;
  ev.identity = exchange.identity;
  ev.caller = exchange.caller;
  ev.client_address = exchange.client_address;
  ev.upstream_status = exchange.upstream_status;
  ev.rpc = m.kind === 'unknown' ? undefined : { kind: m.kind, id: m.id ?? undefined, method: m.method };
  ev.target = m.target;
  ev.filtered = m.filtered;
  ev.integrity = m.integrity;
  ev.definition_scan = m.definitionScan;
  ev.result_scan = m.resultScan;
  ev.decision = m.action === 'dropped' ? 'deny' : 'allow';
  ev.reason = m.reason;
  ev.message = m.message;
  ev.latency_ms = latencyMs;
  return ev;
}
