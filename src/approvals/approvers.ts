// Who may decide a request: someone the request names (`group:<name>` in their groups,
// or `subject:<id>` their subject), and, unless allow_self_approval, not the caller.
import type { Identity } from '../identity/types.js';
import { callerKey } from '../sessions/binding.js';
import type { ApprovalRecord } from './record.js';

export type ApproverCheck = { ok: true } | { ok: false; why: string };

export function mayDecide(who: Identity, r: ApprovalRecord, allowSelfApproval: boolean): ApproverCheck {
  // The same subject through another credential (a JWT instead of the API key) is the caller too.
  if (!allowSelfApproval && (callerKey(who) === r.caller.key || who.subject === r.caller.subject)) return { ok: false, why: 'you made this call: someone else must approve it (allow_self_approval is off)' };
  return isApprover(who, r) ? { ok: true } : { ok: false, why: `you are not one of the approvers of this call (${r.approvers.join(', ')})` };
}

/** Named by the request: `group:<name>` in their groups, or `subject:<id>` their subject. */
export function isApprover(who: { subject: string; groups: readonly string[] }, r: Pick<ApprovalRecord, 'approvers'>): boolean {
  return r.approvers.some((a) => (a.startsWith('group:') ? who.groups.includes(a.slice(6)) : a.startsWith('subject:') && who.subject === a.slice(8)));
}
