// The curation step of a message's decision: which tool, prompt or resource it
// addresses, recorded (with its redacted arguments) in the audit event, and whether this
// virtual server shows that item. A resource is addressed only by a URI in canonical
// form (src/mcp/resource-uri.ts), so the decision is made on what the upstream will read.
import type { AuditEvent } from '../audit/event.js';
import { JsonRpcErrorCode } from '../mcp/errors.js';
import type { JsonRpcId, JsonRpcMessage } from '../mcp/jsonrpc.js';
import { targetOf, type Target } from '../mcp/protocol.js';
import { checkResourceUri } from '../mcp/resource-uri.js';
import type { Redactor } from '../audit/redact.js';
import type { Refusal } from './refusal.js';
import type { ServerRuntime } from './runtime.js';

export type CurationStep = { refusal: Refusal } | { refusal: undefined; target: Target | undefined };

export interface CurationContext {
  server: ServerRuntime;
  rpcId: JsonRpcId | null;
  /** HTTP status of a refusal: 200 for a request (the error goes to the pending call), 400 for a notification. */
  refuseStatus: number;
  /** Set when arguments are audited (audit.include_arguments). */
  redact: Redactor | undefined;
}

export function applyCuration(msg: Extract<JsonRpcMessage, { kind: 'request' | 'notification' }>, c: CurationContext, ev: AuditEvent): CurationStep {
  const refuse = (reason: Refusal['reason'], message: string): CurationStep => ({ refusal: { reason, httpStatus: c.refuseStatus, rpcCode: JsonRpcErrorCode.InvalidParams, rpcId: c.rpcId, message } });
  const found = targetOf(msg.method, msg.params);
  if (!found.ok) return refuse('invalid_params', found.message);
  const t = found.target;
  if (!t) return { refusal: undefined, target: undefined };
  ev.target = { kind: t.kind, name: t.name };
  if (t.kind === 'resource' && c.server.governsResources) {
    const check = checkResourceUri(t.name, { template: t.template === true });
    if (!check.ok) {
      return refuse('uri_not_canonical', `Resource URI ${JSON.stringify(t.name)} ${check.problem}: send it in canonical form (RFC 3986: no dot segments, lower-case scheme and host, percent-encoding only where needed and in upper case)`);
    }
  }
  if (c.redact) {
    const args = msg.params?.arguments ?? (msg.method === 'completion/complete' ? msg.params?.argument : undefined);
    if (args !== undefined) ev.arguments = c.redact(args);
  }
  if (!c.server.curation.visible(t.kind, t.name)) {
    const noun = t.kind === 'tool' ? 'Tool' : t.kind === 'prompt' ? 'Prompt' : 'Resource';
    return refuse('not_curated', `${noun} "${t.name}" is not available on server "${c.server.config.name}"`);
  }
  return { refusal: undefined, target: t };
}
