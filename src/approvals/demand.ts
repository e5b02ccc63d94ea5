// What asks for an approval: a policy decision's `approval` member, or a server's
// `approvals` rule for the tool. Either way the gate gets one ApprovalDemand.
import { compileGlobs, type GlobSet } from '../curation/glob.js';
import type { ApprovalRuleConfig } from './config.js';

export interface ApprovalDemand {
  /** `group:<name>` / `subject:<id>`; any one of them may approve. */
  approvers: readonly string[];
  reason: string;
  /** Overrides approvals.ttl_s for this call. */
  ttlS: number | undefined;
  /** Where the demand came from, for the audit trail. */
  source: 'policy' | 'config';
}

const APPROVER = /^(group|subject):.+$/;
const KEYS = new Set(['required', 'approvers', 'reason', 'ttl_s']);

/**
 * The policy decision's `approval: {required, approvers, reason?, ttl_s?}`. A problem is
 * pushed to `problems` (the decision then denies); `required: false` is no demand.
 */
export function parseApprovalMember(v: unknown, problems: string[]): ApprovalDemand | undefined {
  const at = 'policy decision: "approval"';
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return void problems.push(`${at} must be an object`);
  const a = v as Record<string, unknown>;
  const before = problems.length;
  for (const k of Object.keys(a).sort()) if (!KEYS.has(k)) problems.push(`${at}: unknown key ${JSON.stringify(k)} (expected required, approvers, reason, ttl_s)`);
  if (typeof a.required !== 'boolean') problems.push(`${at}.required must be a boolean`);
  const approvers = a.approvers;
  if (a.required === true && (!Array.isArray(approvers) || approvers.length === 0 || !approvers.every((x) => typeof x === 'string' && APPROVER.test(x)))) {
    problems.push(`${at}.approvers must be a non-empty array of "group:<name>" or "subject:<id>"`);
  }
  if (a.reason !== undefined && (typeof a.reason !== 'string' || a.reason.length > 500)) problems.push(`${at}.reason must be a string of at most 500 characters`);
  if (a.ttl_s !== undefined && (typeof a.ttl_s !== 'number' || !Number.isInteger(a.ttl_s) || a.ttl_s < 1 || a.ttl_s > 7 * 24 * 3600)) problems.push(`${at}.ttl_s must be a whole number of seconds from 1 to 604800`);
  if (problems.length > before || a.required !== true) return undefined;
  return { approvers: approvers as string[], reason: (a.reason as string | undefined) ?? 'approval required by policy', ttlS: a.ttl_s as number | undefined, source: 'policy' };
}

/** A server's `approvals` rules, compiled: the first rule whose tools match a tool's name. */
export class ApprovalRules {
  private readonly rules: { tools: GlobSet; demand: ApprovalDemand }[];

  constructor(rules: readonly ApprovalRuleConfig[]) {
    this.rules = rules.map((r) => ({ tools: compileGlobs(r.tools), demand: { approvers: r.approvers, reason: r.reason ?? 'approval required for this tool', ttlS: r.ttlS, source: 'config' } }));
  }

  forTool(name: string): ApprovalDemand | undefined {
    for (const r of this.rules) if (r.tools.test(name)) return r.demand;
    return undefined;
  }
}
