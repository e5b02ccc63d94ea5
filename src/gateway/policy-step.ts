// The Rego step of a message's decision: evaluate, record the decision in the audit
// event, and turn it into a refusal (or, in dry-run, a "would deny" that passes) or
// into the headers the policy adds upstream.
import { randomUUID } from 'node:crypto';
import { POLICY_INPUT_VERSION, type AuditEvent } from '../audit/event.js';
import { createRedactor, type Redactor } from '../audit/redact.js';
import { JsonRpcErrorCode } from '../mcp/errors.js';
import type { JsonRpcId } from '../mcp/jsonrpc.js';
import type { Target } from '../mcp/protocol.js';
import type { PolicyInput } from '../policy/input.js';
import type { Refusal } from './refusal.js';
import type { ServerRuntime } from './runtime.js';
import type { PolicyLimit } from '../limits/types.js';
import type { ApprovalDemand } from '../approvals/demand.js';

// A policy returns the same few redact lists over and over: compile each once.
const redactors = new Map<string, Redactor>();
function redactorFor(keys: readonly string[]): Redactor {
  const id = keys.join('\0');
  let r = redactors.get(id);
  if (!r) {
    if (redactors.size >= 256) redactors.clear();
    redactors.set(id, (r = createRedactor({ names: keys })));
  }
  return r;
}

export type PolicyStep = { refusal: Refusal } | { refusal: undefined; headers: readonly [string, string][]; rateLimits: readonly PolicyLimit[]; approval?: ApprovalDemand | undefined };

/**
 * `record` turns the input into what the audit event keeps of it (audit.policy_input), so
 * that `mcp-gateway policy replay` can evaluate another bundle on the same facts.
 */
export function applyPolicy(server: ServerRuntime, input: PolicyInput, target: Target | undefined, rpcId: JsonRpcId | null, ev: AuditEvent, record?: (input: PolicyInput, eventArguments: unknown) => unknown): PolicyStep {
  const bundle = server.policy!.current();
  const d = bundle.decide(input);
  const dryRun = server.config.dryRun;
  ev.policy = { decision_id: randomUUID(), revision: bundle.revision, allowed: d.allowed, reasons: d.reasons, dry_run: dryRun, error: d.error };
  if (record) {
    ev.policy.input_version = POLICY_INPUT_VERSION;
    // The decision's own redact list covers the recorded input too.
    const recorded = record(input, ev.arguments);
    ev.policy.input = d.redact.length ? redactorFor(d.redact)(recorded) : recorded;
  }
  if (d.redact.length && ev.arguments !== undefined) ev.arguments = redactorFor(d.redact)(ev.arguments);
  if (d.allowed) return { refusal: undefined, headers: d.headers, rateLimits: d.rateLimits, ...(d.approval && { approval: d.approval }) };
  if (dryRun) {
    ev.reason = 'would_deny';
    ev.message = d.error ?? d.reasons.join('; ');
    // It passes as if allowed, so the limits it names count.
    return { refusal: undefined, headers: [], rateLimits: d.rateLimits };
  }
  const what = target ? `${target.kind} "${target.name}"` : `method "${ev.rpc?.method}"`;
  return {
    refusal: {
      reason: 'policy_denied',
      // A request gets its JSON-RPC error in a 200; a notification can only get an HTTP status.
      httpStatus: rpcId === null ? 403 : 200,
      rpcCode: JsonRpcErrorCode.Forbidden,
      rpcId,
      message: d.errorMessage ?? (d.error ? `Denied by policy (${d.error})` : `Denied by policy: ${what}${d.reasons.length ? ` — ${d.reasons.join('; ')}` : ''}`),
      // A denying policy's headers go to the caller with the refusal (e.g. a retry hint).
      ...(d.headers.length && { headers: d.headers }),
    },
  };
}
