// The gateway's one error taxonomy. A refusal's `reason` is a stable code: the
// same string is the audit event's reason and the metric label.
import type { JsonRpcId } from '../mcp/jsonrpc.js';
import { jsonRpcErrorBody } from '../mcp/jsonrpc.js';
import type { AuthFailureReason } from '../identity/types.js';

export type RefusalReason =
  | 'unknown_server'
  | 'host_forbidden'
  | 'origin_forbidden'
  | 'method_not_allowed'
  | 'body_too_large'
  | 'empty_body'
  | 'invalid_utf8'
  | 'invalid_json'
  | 'duplicate_key'
  | 'too_deep'
  | 'batch_not_supported'
  | 'not_an_object'
  | 'invalid_request'
  | 'unsupported_protocol_version'
  | 'header_mismatch'
  | 'method_case_mismatch'
  | 'method_removed'
  | 'invalid_params'
  | 'not_curated'
  | 'uri_not_canonical'
  | 'response_uninspectable'
  | 'body_not_allowed'
  | AuthFailureReason
  | 'insufficient_scope'
  | 'session_malformed'
  | 'session_expired'
  | 'session_foreign'
  | 'credential_unavailable'
  | 'token_exchange_failed'
  | 'policy_denied'
  | 'answer_forged'
  | 'tool_not_pinned'
  | 'tool_definition_changed'
  | 'prompt_not_pinned'
  | 'prompt_definition_changed'
  | 'resource_not_pinned'
  | 'resource_definition_changed'
  | 'tool_definition_suspicious'
  | 'prompt_definition_suspicious'
  | 'invalid_arguments'
  | 'result_blocked'
  | 'rate_limited'
  | 'rate_limit_unavailable'
  | 'approval_pending'
  | 'approval_denied'
  | 'approval_expired'
  | 'approval_unavailable';

export interface Refusal {
  reason: RefusalReason;
  httpStatus: number;
  /** JSON-RPC error code for the body. */
  rpcCode: number;
  message: string;
  /** The id of the refused request, when known; null otherwise. */
  rpcId: JsonRpcId | null;
  headers?: readonly [string, string][];
  /** Members the error's `data` carries besides `reason` (e.g. `supported`/`requested` for -32022). */
  data?: Readonly<Record<string, unknown>>;
}

/** The HTTP body of a refusal: always a JSON-RPC error object, which MCP clients understand. */
export function refusalBody(r: Refusal): string {
  return jsonRpcErrorBody(r.rpcId, r.rpcCode, r.message, r.data ? { ...r.data, reason: r.reason } : { reason: r.reason });
}
