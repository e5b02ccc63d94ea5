// The approval step of a request's decision, after the policy allowed it: a call that a
// policy decision (`approval`) or a server rule (`servers[].approvals`) says needs a
// human's approval is held back — nothing goes upstream — until an approver approved
// exactly this call; it then passes once. How the client is told depends on what it
// can do (see pendingAnswer).
import type { AuditEvent } from '../audit/event.js';
import type { ApprovalGate, GateOutcome } from '../approvals/gate.js';
import type { ApprovalDemand } from '../approvals/demand.js';
import type { Identity } from '../identity/types.js';
import { JsonRpcErrorCode } from '../mcp/errors.js';
import type { JsonRpcId, JsonRpcMessage } from '../mcp/jsonrpc.js';
import { STATELESS_PROTOCOL_VERSIONS, type Target } from '../mcp/protocol.js';
import type { Refusal } from './refusal.js';
import type { ServerRuntime } from './runtime.js';

/** The requests an approval can gate: those that address one tool, prompt or resource (also MRTR's list, 2026-07-28 basic/patterns/mrtr "Supported Requests"). */
const GATED_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);
/** Where 2026-07-28 requests carry the client's capabilities (basic/index `_meta`). */
const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
/** The key of the gateway's own entry in an InputRequiredResult's inputRequests. */
export const APPROVAL_INPUT_KEY = 'io.mcp-gateway/approval';

export type ApprovalStep =
  | { kind: 'pass' }
  | { kind: 'refuse'; refusal: Refusal }
  /** A JSON-RPC result (not an error) that ends the exchange: the 2026-07-28 InputRequiredResult. */
  | { kind: 'answer'; body: string; reason: 'approval_pending'; message: string };

export interface ApprovalContext {
  gate: ApprovalGate | undefined;
  server: ServerRuntime;
  msg: Extract<JsonRpcMessage, { kind: 'request' | 'notification' }>;
  target: Target | undefined;
  identity: Identity;
  /** The policy decision's demand, if it made one. */
  policyDemand: ApprovalDemand | undefined;
  /** The arguments as the page shows them (redacted). */
  shownArguments: unknown;
  /** The negotiated (header or _meta) protocol version, and the session the request came in. */
  protocolVersion: string | undefined;
  sessionId: string | undefined;
}

/** The demand on this message, if any: undefined costs one Map lookup when no rule and no policy demand apply. */
export function approvalDemand(server: ServerRuntime, msg: ApprovalContext['msg'], target: Target | undefined, policyDemand: ApprovalDemand | undefined): ApprovalDemand | undefined {
  if (policyDemand) return policyDemand;
  const rules = server.approvalRules;
  if (!rules || msg.method !== 'tools/call' || target?.kind !== 'tool') return undefined;
  return rules.forTool(target.name);
}

export async function applyApproval(c: ApprovalContext, demand: ApprovalDemand, rpcId: JsonRpcId | null, ev: AuditEvent): Promise<ApprovalStep> {
  const unavailable = (message: string): ApprovalStep => ({
    kind: 'refuse',
    refusal: { reason: 'approval_unavailable', httpStatus: rpcId === null ? 400 : 503, rpcCode: JsonRpcErrorCode.InternalError, rpcId, message },
  });
  if (rpcId === null || !GATED_METHODS.has(c.msg.method) || !c.target) return unavailable(`Approval is required, but only a tools/call, prompts/get or resources/read request can be approved (not "${c.msg.method}")`);
  if (!c.gate) return unavailable('Approval is required, but this gateway has no approvals section configured (nobody could approve the call)');
  const params = c.msg.params ?? {};
  const outcome = await c.gate.check({
    identity: c.identity,
    server: c.server.config.name,
    method: c.msg.method,
    target: c.target,
    arguments: c.msg.method === 'resources/read' ? undefined : params.arguments,
    shownArguments: c.shownArguments,
    demand,
  });
  return stepOf(c, outcome, rpcId, ev);
}

async function stepOf(c: ApprovalContext, o: GateOutcome, rpcId: JsonRpcId, ev: AuditEvent): Promise<ApprovalStep> {
  if (o.kind === 'unavailable') return { kind: 'refuse', refusal: { reason: 'approval_unavailable', httpStatus: 503, rpcCode: JsonRpcErrorCode.InternalError, rpcId, message: `Approvals could not be checked (${o.message}); try again shortly` } };
  const r = o.record;
  ev.approval = { id: r.id, status: o.kind === 'final' ? o.state : r.status };
  if (o.kind === 'pass') return { kind: 'pass' };
  if (o.kind === 'final') {
    const denied = o.state === 'denied';
    const message = denied
      ? `Approval denied${r.decidedBy ? ` by ${r.decidedBy}` : ''}${r.comment ? `: ${r.comment}` : ''}`
      : `Approval expired: nobody ${r.status === 'approved' ? 'used the approval' : 'decided'} before ${new Date(r.expiresMs).toISOString()}; call again to ask anew`;
    return { kind: 'refuse', refusal: { reason: denied ? 'approval_denied' : 'approval_expired', httpStatus: 200, rpcCode: JsonRpcErrorCode.Forbidden, rpcId, message, data: { approval_id: r.id } } };
  }
  ev.approval.url = o.url;
  return pendingAnswer(c, o.url, r.id, r.reason, r.expiresMs, rpcId);
}

/**
 * A pending approval, told the way the client can act on it:
 * - 2026-07-28 with `elicitation.url` in its `_meta` capabilities: an InputRequiredResult with a
 *   URL-mode `elicitation/create` input request and no requestState (basic/patterns/mrtr
 *   "InputRequiredResult"; client/elicitation "URL Mode Elicitation Requests"). The client opens
 *   the URL and retries the same request; the retry is matched by its digest, not by state.
 * - 2025-11-25 whose session declared `elicitation.url` at initialize: URLElicitationRequiredError,
 *   -32042, `data.elicitations` = one URL-mode elicitation (client/elicitation "URL Elicitation
 *   Required Error"). The gateway sends no notifications/elicitation/complete (it holds no stream
 *   to the client of its own): the client retries when the user says they are done.
 * - Anyone else (servers MUST NOT send a mode the client did not declare), and a 2026-07-28 retry
 *   whose `inputResponses` declined or cancelled the URL: -32003 with
 *   `data.reason: "approval_pending"` and the URL in `data.approval_url`, for a person to open.
 */
async function pendingAnswer(c: ApprovalContext, url: string, id: string, reason: string, expiresMs: number, rpcId: JsonRpcId): Promise<ApprovalStep> {
  const message = `Approval required: ${reason}. Ask an approver to open ${url}, then call again with the same arguments.`;
  if (c.protocolVersion !== undefined && (STATELESS_PROTOCOL_VERSIONS as readonly string[]).includes(c.protocolVersion)) {
    // A retry whose user declined (or cancelled) opening the URL ends the round trips: the plain error below, still pending.
    const answered = (c.msg.params?.inputResponses as Record<string, { action?: unknown } | undefined> | undefined)?.[APPROVAL_INPUT_KEY]?.action;
    if ((answered === undefined || answered === 'accept') && declaresUrlElicitation((c.msg.params?._meta as Record<string, unknown> | undefined)?.[META_CLIENT_CAPABILITIES])) {
      const result = { resultType: 'input_required', inputRequests: { [APPROVAL_INPUT_KEY]: { method: 'elicitation/create', params: { mode: 'url', url, message } } } };
      return { kind: 'answer', body: JSON.stringify({ jsonrpc: '2.0', id: rpcId, result }), reason: 'approval_pending', message };
    }
  } else if (c.protocolVersion === '2025-11-25' && c.sessionId !== undefined && (await c.gate!.store.isUrlCapable(c.sessionId).catch(() => false))) {
    return { kind: 'refuse', refusal: { reason: 'approval_pending', httpStatus: 200, rpcCode: JsonRpcErrorCode.UrlElicitationRequired, rpcId, message, data: { elicitations: [{ mode: 'url', elicitationId: id, url, message }] } } };
  }
  return { kind: 'refuse', refusal: { reason: 'approval_pending', httpStatus: 200, rpcCode: JsonRpcErrorCode.Forbidden, rpcId, message, data: { approval_id: id, approval_url: url, expires_at: new Date(expiresMs).toISOString() } } };
}

/** `capabilities.elicitation.url` present (an empty `elicitation` means form mode only). */
export function declaresUrlElicitation(capabilities: unknown): boolean {
  const e = (capabilities as { elicitation?: unknown } | null | undefined)?.elicitation;
  return e !== null && typeof e === 'object' && !Array.isArray(e) && (e as Record<string, unknown>).url !== undefined;
}
