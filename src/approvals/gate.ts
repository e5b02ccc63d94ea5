// The approval gate: what a call that needs approval gets. The first call opens a pending
// request (audited, optionally notified); a retry of the very same call (same digest)
// finds it — still pending, or approved (then used, once, and it passes), or denied or
// expired (a final answer, after which the digest is free for a new request).
import { randomBytes } from 'node:crypto';
import type { AuditSink } from '../audit/event.js';
import type { Identity } from '../identity/types.js';
import { callerKey } from '../sessions/binding.js';
import { approvalEvent } from './audit.js';
import type { ApprovalsConfig } from './config.js';
import type { ApprovalDemand } from './demand.js';
import { callDigest } from './digest.js';
import { stateOf, type ApprovalRecord } from './record.js';
import type { ApprovalStore } from './store.js';
import { notifyPending } from './webhook.js';

export interface GatedCall {
  identity: Identity;
  server: string;
  method: string;
  target: { kind: string; name: string };
  /** Exactly as sent: what the digest covers. */
  arguments: unknown;
  /** As the audit trail records them (redacted): what the page and webhook show. */
  shownArguments: unknown;
  demand: ApprovalDemand;
}

export type GateOutcome =
  | { kind: 'pass'; record: ApprovalRecord }
  | { kind: 'pending'; record: ApprovalRecord; url: string }
  | { kind: 'final'; record: ApprovalRecord; state: 'denied' | 'expired' }
  | { kind: 'unavailable'; message: string };

/** Unguessable ids: the URL names the request, and knowing it grants nothing by itself. */
export const newApprovalId = (): string => randomBytes(16).toString('base64url');

export class ApprovalGate {
  constructor(
    readonly config: ApprovalsConfig,
    readonly store: ApprovalStore,
    private readonly audit: AuditSink,
    private readonly warn: (message: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  urlOf(id: string): string {
    return `${this.config.publicUrl}/approvals/${id}`;
  }

  async check(call: GatedCall): Promise<GateOutcome> {
    try {
      return await this.decide(call);
    } catch (err) {
      this.warn(`approval store unavailable: ${(err as Error).message}`);
      return { kind: 'unavailable', message: (err as Error).message };
    }
  }

  private async decide(call: GatedCall, attempt = 0): Promise<GateOutcome> {
    const now = this.now();
    const id = callerKey(call.identity);
    const digest = callDigest({ caller: id, server: call.server, method: call.method, target: call.target, arguments: call.arguments });
    const ttlMs = (call.demand.ttlS ?? this.config.ttlS) * 1000;
    const { record, created } = await this.store.open(
      {
        id: newApprovalId(),
        digest,
        caller: { key: id, subject: call.identity.subject, method: call.identity.method, issuer: call.identity.issuer },
        server: call.server,
        method: call.method,
        target: call.target,
        arguments: call.shownArguments,
        reason: call.demand.reason,
        approvers: call.demand.approvers,
        source: call.demand.source,
        createdMs: now,
        expiresMs: now + ttlMs,
      },
      now,
    );
    const url = this.urlOf(record.id);
    if (created) {
      this.audit.write(approvalEvent('requested', record, { url }));
      if (this.config.webhook) notifyPending(this.config.webhook, record, url, this.warn);
      return { kind: 'pending', record, url };
    }
    const state = stateOf(record, now);
    switch (state) {
      case 'pending':
        return { kind: 'pending', record, url };
      case 'approved':
        if (await this.store.consume(record.id, digest, now)) {
          const used = { ...record, status: 'used' as const, usedMs: now };
          this.audit.write(approvalEvent('used', used, { by: record.decidedBy }));
          return { kind: 'pass', record: used };
        }
        // Another retry (or replica) used it first, or it expired just now: start over once.
        return attempt === 0 ? this.decide(call, 1) : { kind: 'unavailable', message: 'the approval could not be used (used concurrently)' };
      case 'denied':
      case 'expired':
        // Final for this request: reported now, then the digest is free for a new one.
        await this.store.release(record.id, digest);
        if (state === 'expired') this.audit.write(approvalEvent('expired', record));
        return { kind: 'final', record, state };
      case 'used':
        // The store hands out a used request only if it lost its digest mapping: start over.
        return attempt === 0 ? this.decide(call, 1) : { kind: 'unavailable', message: 'the approval store returned a used request' };
    }
  }
}
