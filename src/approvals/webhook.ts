// The optional notification of a pending approval: one JSON POST, fail-soft (a slow or
// failing receiver is logged and never holds up or changes the call's answer).
import type { ApprovalRecord } from './record.js';

export interface WebhookConfig {
  url: string;
  timeoutMs: number;
}

export function notifyPending(cfg: WebhookConfig, r: ApprovalRecord, url: string, onError: (message: string) => void): void {
  const body = JSON.stringify({
    type: 'approval.requested',
    id: r.id,
    url,
    server: r.server,
    method: r.method,
    target: r.target,
    caller: r.caller.subject,
    reason: r.reason,
    approvers: r.approvers,
    arguments: r.arguments,
    created_at: new Date(r.createdMs).toISOString(),
    expires_at: new Date(r.expiresMs).toISOString(),
  });
  fetch(cfg.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(cfg.timeoutMs), redirect: 'manual' })
    .then(async (res) => {
      await res.body?.cancel();
      if (res.status < 200 || res.status >= 300) onError(`approval webhook answered HTTP ${res.status}`);
    })
    .catch((err: Error) => onError(`approval webhook failed: ${err.message}`));
}
