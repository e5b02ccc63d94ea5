// Where approvals live: in memory for one replica, in Redis for many. Every transition
// is atomic in the store, so two replicas (or two retries) cannot both use one approval.
import type { ApprovalFacts, ApprovalRecord } from './record.js';

export type DecideResult = { ok: true; record: ApprovalRecord } | { ok: false; record: ApprovalRecord | undefined };

export interface ApprovalStore {
  /**
   * The live request for `facts.digest` (pending or approved, not expired); when there is
   * none, `facts` becomes one (pending) and `created` is true.
   */
  open(facts: ApprovalFacts, nowMs: number): Promise<{ record: ApprovalRecord; created: boolean }>;
  get(id: string): Promise<ApprovalRecord | undefined>;
  /** pending → approved/denied, unless it is no longer pending or has expired. */
  decide(id: string, status: 'approved' | 'denied', by: string, comment: string | undefined, nowMs: number): Promise<DecideResult>;
  /** approved → used, at most once; the digest is free for a new request afterwards. */
  consume(id: string, digest: string, nowMs: number): Promise<boolean>;
  /** Frees the digest of a request that ended denied or expired (reported to the caller once). */
  release(id: string, digest: string): Promise<void>;
  /** A 2025-11-25 session whose client declared `elicitation.url` at initialize (it can be sent -32042). */
  markUrlCapable(session: string, ttlMs: number): Promise<void>;
  isUrlCapable(session: string): Promise<boolean>;
  close(): Promise<void>;
}
