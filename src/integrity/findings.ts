// What the integrity checks found about one item, as the audit event records it.
import type { PinnedKind } from './definition.js';

export interface IntegrityFinding {
  kind: PinnedKind;
  name: string;
  /**
   * `changed`: listed with a definition other than the lock's; `not_pinned`: the lock does
   * not know it; `duplicate`: listed more than once in one answer (which one a client keeps
   * is its own choice, so none is shown).
   */
  finding: 'changed' | 'not_pinned' | 'duplicate';
  /** For `changed`: the pinned fields that differ from the lock. */
  fields?: string[];
}

/** The audit event's `integrity` member. */
export interface IntegrityRecord {
  /** hidden: removed from a list (enforce); refused: a call refused (enforce); flagged: let through and recorded (observe). */
  action: 'hidden' | 'refused' | 'flagged';
  /** The first MAX_RECORDED findings. */
  findings: IntegrityFinding[];
  /** All of them, by finding. */
  counts: { changed: number; not_pinned: number; duplicate: number };
}

/** A hostile upstream can list thousands of unknown items: the event records the first ones and a count. */
export const MAX_RECORDED = 20;

export function integrityRecord(action: IntegrityRecord['action'], findings: readonly IntegrityFinding[]): IntegrityRecord {
  const counts = { changed: 0, not_pinned: 0, duplicate: 0 };
  for (const f of findings) counts[f.finding]++;
  return { action, findings: findings.slice(0, MAX_RECORDED), counts };
}
