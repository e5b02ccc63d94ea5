// Requests an upstream sends to the caller (sampling/createMessage, elicitation/create,
// roots/list) on a governed server: decided by the server's Rego policy like the
// caller's own requests (input.mcp.direction is "server_to_client"), and audited one
// event each (type mcp.server_request). They come two ways:
// - 2025 revisions: a JSON-RPC request of the upstream's own in the response stream. A
//   refused one is dropped, and the exchange answers it to the upstream (server-answer.ts).
// - 2026-07-28 (multi round-trip requests, SEP-2322): embedded in an `input_required`
//   result of tools/call, prompts/get or resources/read, keyed by a server-assigned id
//   (the policy's mcp.request_id). The server keeps no state and waits for nothing: if any
//   one is refused, the client's request ends with the refusal (a JSON-RPC error in
//   place of the result), since a client that retried without the refused answer would
//   only be asked again.
import { randomUUID } from 'node:crypto';
import { emptyAuditEvent, type AuditEvent } from '../audit/event.js';
import type { JsonRpcId } from '../mcp/jsonrpc.js';
import type { PolicyInput } from '../policy/input.js';
import type { ServerRuntime } from './runtime.js';

/** What upstreams may ask clients, all revisions that have server-to-client requests. */
export const SERVER_REQUEST_METHODS: ReadonlySet<string> = new Set(['sampling/createMessage', 'elicitation/create', 'roots/list']);

export interface ServerRequest {
  /** The request's JSON-RPC id; for an embedded (2026-07-28) one, its key in inputRequests. */
  id: JsonRpcId;
  method: string;
  params: Record<string, unknown> | undefined;
  /** `message`: a JSON-RPC request of its own (2025); `input_required`: embedded in a result (2026-07-28). */
  via: 'message' | 'input_required';
}

export interface ServerRequestContext {
  server: ServerRuntime;
  /** The exchange's audit event: who, where, which session. */
  exchange: Readonly<AuditEvent>;
  /** The policy input for this message (the exchange's facts, this message, direction server_to_client). */
  input: (req: ServerRequest) => PolicyInput;
  latencyMs: number;
}

export interface ServerRequestDecision {
  allowed: boolean;
  event: AuditEvent;
  /** Why it was refused (set when not allowed). */
  message?: string;
}

export function decideServerRequest(req: ServerRequest, c: ServerRequestContext): ServerRequestDecision {
  const ev = emptyAuditEvent();
  const x = c.exchange;
  Object.assign(ev, { type: 'mcp.server_request', request_id: x.request_id, trace_id: x.trace_id, session_id: x.session_id, server: x.server, http: { ...x.http }, protocol_version: x.protocol_version, identity: x.identity, caller: x.caller, client_address: x.client_address, upstream_status: x.upstream_status, latency_ms: c.latencyMs });
  ev.rpc = { kind: 'request', id: req.id, method: req.method };
  if (req.via === 'input_required') ev.input_request = true;
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
  return { allowed: false, event: ev, message: why };
}

/**
 * The server requests an `input_required` result carries (2026-07-28), in key order;
 * undefined when the result is not one. An entry that is not a request object makes the
 * whole result uninspectable (`problem`): the client could not fulfil it either.
 */
export function inputRequestsOf(result: unknown): ServerRequest[] | { problem: string } | undefined {
  if (result === null || typeof result !== 'object' || (result as Record<string, unknown>).resultType !== 'input_required') return undefined;
  const map = (result as Record<string, unknown>).inputRequests;
  if (map === undefined) return [];
  if (map === null || typeof map !== 'object' || Array.isArray(map)) return { problem: 'its inputRequests is not an object' };
  const out: ServerRequest[] = [];
  for (const [key, r] of Object.entries(map as Record<string, unknown>)) {
    const method = r !== null && typeof r === 'object' ? (r as Record<string, unknown>).method : undefined;
    if (typeof method !== 'string') return { problem: `its input request "${key}" has no method` };
    const p = (r as Record<string, unknown>).params;
    const params = p !== null && typeof p === 'object' && !Array.isArray(p) ? (p as Record<string, unknown>) : undefined;
    out.push({ id: key, method, params, via: 'input_required' });
  }
  return out;
}
