// Requests an upstream sends to the caller (sampling/createMessage, elicitation/create,
// roots/list) on a governed server: decided by the server's Rego policy like the
// caller's own requests (input.mcp.direction is "server_to_client"), and audited one
// event each (type mcp.server_request). A refused one never reaches the client: it is
// dropped from the stream, and the upstream gets a JSON-RPC error for it, POSTed by the
// sidecar to the upstream's URL in the same session, so the server is not left waiting.
import { randomUUID } from 'node:crypto';
import { emptyAuditEvent, type AuditEvent } from '../audit/event.js';
import { JsonRpcErrorCode } from '../mcp/errors.js';
import { jsonRpcErrorBody, type JsonRpcId } from '../mcp/jsonrpc.js';
import type { PolicyInput } from '../policy/input.js';
import type { ServerRuntime } from './runtime.js';

/** What upstreams may ask clients, all revisions that have server-to-client requests. */
export const SERVER_REQUEST_METHODS: ReadonlySet<string> = new Set(['sampling/createMessage', 'elicitation/create', 'roots/list']);

export interface ServerRequest {
  id: JsonRpcId;
  method: string;
  params: Record<string, unknown> | undefined;
}

export interface ServerRequestContext {
  server: ServerRuntime;
  /** The exchange's audit event: who, where, which session. */
  exchange: Readonly<AuditEvent>;
  /** The policy input for this message (the exchange's facts, this message, direction server_to_client). */
  input: (req: ServerRequest) => PolicyInput;
  /** Where the refusal goes: the upstream session the request came in. */
  upstream: { sessionId: string | undefined; protocolVersion: string | undefined; headers: readonly [string, string][] };
  latencyMs: number;
}

export interface ServerRequestDecision {
  allowed: boolean;
  event: AuditEvent;
}

export function decideServerRequest(req: ServerRequest, c: ServerRequestContext): ServerRequestDecision {
  const ev = emptyAuditEvent();
  const x = c.exchange;
  Object.assign(ev, { type: 'mcp.server_request', request_id: x.request_id, trace_id: x.trace_id, session_id: x.session_id, server: x.server, http: { ...x.http }, protocol_version: x.protocol_version, identity: x.identity, caller: x.caller, client_address: x.client_address, upstream_status: x.upstream_status, latency_ms: c.latencyMs });
  ev.rpc = { kind: 'request', id: req.id, method: req.method };
  const policy = c.server.policy;
  if (!policy) return { allowed: true, event: ev };
  const bundle = policy.current();
  const d = bundle.decide(c.input(req));
  const dryRun = c.server.config.dryRun;
  ev.policy = { decision_id: randomUUID(), revision: bundle.revision, allowed: d.allowed, reasons: d.reasons, dry_run: dryRun, error: d.error };
  if (d.allowed) return { allowed: true, event: ev };
  const why = d.errorMessage ?? (d.error ? `Denied by policy (${d.error})` : `Denied by policy: ${req.method} from server "${c.server.config.name}"${d.reasons.length ? ` — ${d.reasons.join('; ')}` : ''}`);
  ev.message = why;
  if (dryRun) {
    ev.reason = 'would_deny';
    return { allowed: true, event: ev };
  }
  ev.decision = 'deny';
  ev.reason = 'policy_denied';
  answerUpstream(c.server, c.upstream, jsonRpcErrorBody(req.id, JsonRpcErrorCode.Forbidden, why, { reason: 'policy_denied' }));
  return { allowed: false, event: ev };
}

/**
 * The refusal, as the client's answer would have been: a POST of the JSON-RPC response in
 * the request's session. Best effort (the upstream times the request out otherwise): it
 * goes from the sidecar straight to the server's first replica, with the brokered
 * credential, not through Envoy (so not with the cluster's TLS settings).
 */
function answerUpstream(server: ServerRuntime, up: ServerRequestContext['upstream'], body: string): void {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (up.sessionId !== undefined) headers['mcp-session-id'] = up.sessionId;
  if (up.protocolVersion !== undefined) headers['mcp-protocol-version'] = up.protocolVersion;
  for (const [k, v] of up.headers) headers[k] = v;
  void fetch(server.config.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5000) })
    .then((r) => r.body?.cancel())
    .catch(() => undefined);
}
