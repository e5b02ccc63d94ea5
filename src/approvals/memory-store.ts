// Approvals in this process (one replica). Each method runs to completion without
// awaiting anything, so its read-check-write is atomic on Node's single thread.
import { NEW_OUTCOME, RETAIN_AFTER_EXPIRY_MS, stateOf, type ApprovalFacts, type ApprovalRecord } from './record.js';
import type { ApprovalStore, DecideResult } from './store.js';

/** Requests kept at most; the oldest go first beyond it (a flood cannot grow memory without bound). */
const MAX_RECORDS = 10_000;

export class MemoryApprovalStore implements ApprovalStore {
  private readonly records = new Map<string, ApprovalRecord>();
  private readonly byDigest = new Map<string, string>();
  /** Session id → until when (ms). */
  private readonly capable = new Map<string, number>();

  async open(facts: ApprovalFacts, nowMs: number): Promise<{ record: ApprovalRecord; created: boolean }> {
    this.sweep(nowMs);
    const id = this.byDigest.get(facts.digest);
    const live = id === undefined ? undefined : this.records.get(id);
    if (live && live.status !== 'used') return { record: { ...live }, created: false };
    const record: ApprovalRecord = { ...facts, ...NEW_OUTCOME };
    if (this.records.size >= MAX_RECORDS) this.evictOldest();
    this.records.set(record.id, record);
    this.byDigest.set(record.digest, record.id);
    return { record: { ...record }, created: true };
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    const r = this.records.get(id);
    return r && { ...r };
  }

  async decide(id: string, status: 'approved' | 'denied', by: string, comment: string | undefined, nowMs: number): Promise<DecideResult> {
    const r = this.records.get(id);
    if (!r || stateOf(r, nowMs) !== 'pending') return { ok: false, record: r && { ...r } };
    Object.assign(r, { status, decidedBy: by, decidedMs: nowMs, comment });
    return { ok: true, record: { ...r } };
  }

  async consume(id: string, _digest: string, nowMs: number): Promise<boolean> {
    const r = this.records.get(id);
    if (!r || stateOf(r, nowMs) !== 'approved') return false;
    r.status = 'used';
    r.usedMs = nowMs;
    if (this.byDigest.get(r.digest) === id) this.byDigest.delete(r.digest);
    return true;
  }

  async release(id: string, digest: string): Promise<void> {
    if (this.byDigest.get(digest) === id) this.byDigest.delete(digest);
  }

  async markUrlCapable(session: string, ttlMs: number): Promise<void> {
    if (this.capable.size >= MAX_RECORDS) this.capable.delete(this.capable.keys().next().value!);
    this.capable.set(session, Date.now() + ttlMs);
  }

  async isUrlCapable(session: string): Promise<boolean> {
    return (this.capable.get(session) ?? 0) > Date.now();
  }

  async close(): Promise<void> {}

  /**
   * Drops records kept past their retention. The map is in creation order, which is expiry
   * order for one TTL; a longer-lived record at the front only delays the sweep behind it.
   */
  private sweep(nowMs: number): void {
    for (const [id, r] of this.records) {
      if (r.expiresMs + RETAIN_AFTER_EXPIRY_MS > nowMs) break;
      this.drop(id, r);
    }
  }

  private evictOldest(): void {
    const first = this.records.entries().next().value;
    if (first) this.drop(first[0], first[1]);
  }

  private drop(id: string, r: ApprovalRecord): void {
    this.records.delete(id);
    if (this.byDigest.get(r.digest) === id) this.byDigest.delete(r.digest);
  }
}
