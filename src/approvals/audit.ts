// The approval.* audit events: one per step of a request's life (requested, approved,
// denied, used, expired) and per refused attempt to decide (forbidden). Metrics count
// them by type (mcp_gateway_approvals_total{outcome}).
import { emptyAuditEvent, type AuditEvent } from '../audit/event.js';
import type { ApprovalRecord } from './record.js';

export const APPROVAL_EVENT_PREFIX = 'approval.';

export type ApprovalEventType = 'requested' | 'approved' | 'denied' | 'used' | 'expired' | 'forbidden';

export function approvalEvent(type: ApprovalEventType, r: ApprovalRecord, detail: { url?: string; by?: string; comment?: string; message?: string } = {}): AuditEvent {
  const ev = emptyAuditEvent();
  ev.type = APPROVAL_EVENT_PREFIX + type;
  ev.server = r.server;
  // The caller whose call it is; the approver who acted (if one did) is approval.by.
  ev.identity = { subject: r.caller.subject, method: r.caller.method, issuer: r.caller.issuer };
  ev.rpc = { kind: 'request', id: undefined, method: r.method };
  ev.target = r.target as AuditEvent['target'];
  ev.arguments = r.arguments;
  ev.decision = type === 'denied' || type === 'expired' || type === 'forbidden' ? 'deny' : 'allow';
  ev.reason = `approval_${type}`;
  ev.message = detail.message;
  ev.approval = {
    id: r.id,
    status: r.status,
    approvers: r.approvers,
    reason: r.reason,
    ...(detail.by && { by: detail.by }),
    ...(detail.comment && { comment: detail.comment }),
    ...(detail.url && { url: detail.url }),
  };
  return ev;
}
