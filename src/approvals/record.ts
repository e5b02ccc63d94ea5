// One approval request and its life: pending → approved → used, or pending → denied,
// or pending/approved → expired (read from the clock, never written).
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'used';
export type ApprovalState = ApprovalStatus | 'expired';

/** What the request was: fixed when it is created. */
export interface ApprovalFacts {
  id: string;
  digest: string;
  caller: { key: string; subject: string; method: string; issuer: string | undefined };
  server: string;
  method: string;
  target: { kind: string; name: string };
  /** The arguments as the audit trail records them (redacted). */
  arguments: unknown;
  reason: string;
  approvers: readonly string[];
  source: 'policy' | 'config';
  createdMs: number;
  /** A decision must be made, and a granted approval used, before this. */
  expiresMs: number;
}

/** What happened to it: changed only through the store's atomic transitions. */
export interface ApprovalOutcome {
  status: ApprovalStatus;
  decidedBy: string | undefined;
  decidedMs: number | undefined;
  comment: string | undefined;
  usedMs: number | undefined;
}

export type ApprovalRecord = ApprovalFacts & ApprovalOutcome;

/** The state now: a pending or granted approval past its expiry is expired. */
export function stateOf(r: ApprovalRecord, nowMs: number): ApprovalState {
  if ((r.status === 'pending' || r.status === 'approved') && nowMs >= r.expiresMs) return 'expired';
  return r.status;
}

/** How long a record is kept after it expires, so a late retry or page view still finds it. */
export const RETAIN_AFTER_EXPIRY_MS = 3600_000;

export const NEW_OUTCOME: ApprovalOutcome = Object.freeze({ status: 'pending', decidedBy: undefined, decidedMs: undefined, comment: undefined, usedMs: undefined });
