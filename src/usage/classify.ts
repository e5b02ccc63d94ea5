// Which audit events are usage, and how each came out: shared by the usage metrics
// and the `mcp-gateway usage` report, so both count the same calls the same way.

/** The audit fields this needs (a live AuditEvent, or a line read back from the trail). */
export interface UsageFacts {
  type: string;
  decision: string;
  upstream_status?: number | undefined;
}

/**
 * Calls: JSON-RPC requests ("mcp.request"), and requests refused before their message
 * was read ("http.reject"; "http.local_reply", from the sidecar or Envoy's own lines).
 * Notifications, client responses, GET streams, DELETEs and server messages are not.
 */
export function isUsageEvent(ev: UsageFacts): boolean {
  return ev.type === 'mcp.request' || ev.type === 'http.reject' || ev.type === 'http.local_reply';
}

export type UsageOutcome = 'ok' | 'error' | 'refused';

/** refused: denied by the gateway (or Envoy); ok: passed and answered below 400; error: passed, then 400 or more, or no answer. */
export function usageOutcome(ev: UsageFacts): UsageOutcome {
  if (ev.decision === 'deny') return 'refused';
  return ev.upstream_status !== undefined && ev.upstream_status < 400 ? 'ok' : 'error';
}
