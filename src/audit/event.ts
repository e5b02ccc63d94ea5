// The audit event: one per message the gateway decides on. The README documents
// this schema; change both together.
import type { IntegrityRecord } from '../integrity/findings.js';
import type { ScanRecord } from '../integrity/screen.js';
import type { ResultScanRecord } from '../guardrails/result-guard.js';

export type Decision = 'allow' | 'deny';

export interface AuditEvent {
  /** Stable event type: "mcp.request", "mcp.notification", "mcp.response", "http.stream" (GET), "http.delete", "http.reject". */
  type: string;
  /** Envoy's x-request-id. */
  request_id: string | undefined;
  /** W3C trace id: the gateway span's when tracing is on, otherwise the caller's traceparent header's. */
  trace_id: string | undefined;
  /** The gateway span's id (telemetry.tracing on): the audit log record's and the trace's link. */
  span_id: string | undefined;
  session_id: string | undefined;
  /** Virtual server name (undefined for an unknown path). */
  server: string | undefined;
  http: { method: string; path: string; status: number | undefined };
  protocol_version: string | undefined;
  /** Who the caller is (absent when the request was refused before authentication). */
  identity: { subject: string; method: string; issuer: string | undefined } | undefined;
  /** Who usage is attributed to (telemetry.usage.caller_label: the subject, first group or a claim); absent unless configured. */
  caller: string | undefined;
  /** The JSON-RPC message, when there was one. */
  rpc: { kind: 'request' | 'notification' | 'response'; id: string | number | null | undefined; method: string | undefined } | undefined;
  /** mcp.server_request: the request was embedded in an input_required result (2026-07-28; rpc.id is its key). */
  input_request?: boolean;
  /** The tool, prompt or resource addressed. */
  target: { kind: 'tool' | 'prompt' | 'resource'; name: string } | undefined;
  /** Tool/prompt arguments with sensitive keys redacted. */
  arguments: unknown;
  decision: Decision;
  /** The Rego decision, when the server has a policy. */
  policy:
    | {
        decision_id: string;
        revision: string;
        allowed: boolean;
        reasons: string[];
        dry_run: boolean;
        error: string | undefined;
        /** The shape of `input` (POLICY_INPUT_VERSION); absent with `audit.policy_input: false`. */
        input_version?: number;
        /** What the policy saw, redacted as the arguments are (for `mcp-gateway policy replay`). */
        input?: unknown;
      }
    | undefined;
  /**
   * A limit this request went over (refused, or let through because the limit is in shadow
   * mode), or a limits backend that did not answer (`unavailable`, with what the failure mode did).
   */
  rate_limit:
    | { limit: string; kind: 'rate' | 'concurrency'; shadow: boolean; retry_after_ms: number }
    | { unavailable: 'service' | 'redis'; fail_open: boolean }
    | undefined;
  /** Stable reason code ("allowed", "not_curated", "duplicate_key", …): also the metric label. */
  reason: string;
  /** Human-readable detail. */
  message: string | undefined;
  /** For list responses: how many items the upstream returned and how many the caller saw. */
  filtered: { returned: number; visible: number } | undefined;
  /** Lockfile findings: listed items that differ from the lock or that it lacks (hidden or flagged), or the call refused or flagged for one. */
  integrity: IntegrityRecord | undefined;
  /** servers[].scan_definitions: listed items whose definitions look poisoned (hidden or flagged), or the call refused or flagged for one. */
  definition_scan: ScanRecord | undefined;
  /** servers[].scan_results: what was found in the result (kinds and counts, never values) and what was done. */
  result_scan: ResultScanRecord | undefined;
  /** Upstream HTTP status (undefined when no response came back). */
  upstream_status: number | undefined;
  /** servers[].versions: the version whose replica answered. */
  upstream_version: string | undefined;
  /** Bytes of the request body the gateway read (POST). */
  request_bytes: number | undefined;
  /** Bytes of the upstream's answer: its Content-Length, or what the gateway read of an inspected body (absent when neither is known). */
  response_bytes: number | undefined;
  /** Cost units of a tools/call that passed (servers[].tool_costs); absent when the tool has no cost. */
  cost_units: number | undefined;
  /** An approval gate (src/approvals): the request's id and state; on approval.* events also who decided and why. */
  approval?: { id: string; status: string; approvers?: readonly string[]; reason?: string; by?: string; comment?: string; url?: string } | undefined;
  /** Gateway-side duration from request headers to the decision being complete (ms). */
  latency_ms: number;
  client_address: string | undefined;
}

/** The version of the recorded policy input's shape: bump it when PolicyInput changes incompatibly. */
export const POLICY_INPUT_VERSION = 1;

export interface AuditSink {
  write(event: AuditEvent): void;
  /** Flushes everything written so far; resolves when it is on disk/stdout. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A fresh event for one exchange, filled in as the exchange is decided. */
export function emptyAuditEvent(): AuditEvent {
  return {
    type: 'mcp.request',
    request_id: undefined,
    trace_id: undefined,
    span_id: undefined,
    session_id: undefined,
    server: undefined,
    identity: undefined,
    caller: undefined,
    http: { method: '', path: '', status: undefined },
    protocol_version: undefined,
    rpc: undefined,
    target: undefined,
    arguments: undefined,
    decision: 'allow',
    policy: undefined,
    rate_limit: undefined,
    reason: 'allowed',
    message: undefined,
    filtered: undefined,
    integrity: undefined,
    definition_scan: undefined,
    result_scan: undefined,
    upstream_status: undefined,
    upstream_version: undefined,
    request_bytes: undefined,
    response_bytes: undefined,
    cost_units: undefined,
    latency_ms: 0,
    client_address: undefined,
  };
}
