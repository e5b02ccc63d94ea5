// The lockfile step of a message's decision (after curation, before the policy): a
// tools/call or prompts/get of an item the lock does not know, or that was last listed
// with another definition, is refused in enforce and flagged in observe; a tools/call's
// arguments are validated against the pinned inputSchema (validate_arguments: enforce).
// A resources/read (or subscribe) must name a locked resource or an instance of a locked
// resource template (RFC 6570) whose last listed definition is the locked one.
import type { AuditEvent } from '../audit/event.js';
import { JsonRpcErrorCode } from '../mcp/errors.js';
import type { JsonRpcId, JsonRpcMessage } from '../mcp/jsonrpc.js';
import type { Target } from '../mcp/protocol.js';
import { integrityRecord } from '../integrity/findings.js';
import { scanRecord } from '../integrity/screen.js';
import type { Refusal, RefusalReason } from './refusal.js';
import type { ServerRuntime } from './runtime.js';

export function applyIntegrity(server: ServerRuntime, msg: Extract<JsonRpcMessage, { kind: 'request' | 'notification' }>, target: Target | undefined, rpcId: JsonRpcId | null, refuseStatus: number, ev: AuditEvent): Refusal | undefined {
  const { pins, screen } = server;
  const refuse = (reason: RefusalReason, message: string, data?: Record<string, unknown>): Refusal => ({ reason, httpStatus: refuseStatus, rpcCode: JsonRpcErrorCode.InvalidParams, rpcId, message, ...(data && { data }) });
  if (pins && target?.kind === 'resource' && READS.has(msg.method)) return pinnedRead(server, pins, target.name, refuse, ev);
  if ((!pins && !screen) || !target || (target.kind !== 'tool' && target.kind !== 'prompt')) return undefined;
  const kind = target.kind;
  const noun = kind === 'tool' ? 'Tool' : 'Prompt';
  if (screen) {
    const f = screen.checkCall(kind, target.name);
    if (f) {
      ev.definition_scan = scanRecord(screen.action === 'hide' ? 'refused' : 'flagged', [f]);
      const signals = [...new Set(f.signals.map((s) => s.signal))];
      if (screen.action === 'hide') return refuse(`${kind}_definition_suspicious`, `${noun} "${target.name}" on server "${server.config.name}" was listed with a definition that looks poisoned (${signals.join(', ')}); review it with mcp-gateway tools diff`, { signals });
    }
  }
  if (!pins) return undefined;
  if (pins.pinning !== 'off') {
    const f = pins.checkCall(kind, target.name);
    if (f) {
      ev.integrity = integrityRecord(pins.pinning === 'enforce' ? 'refused' : 'flagged', [f]);
      if (pins.pinning === 'enforce') {
        return f.finding === 'not_pinned'
          ? refuse(`${kind}_not_pinned`, `${noun} "${target.name}" is not in the lockfile of server "${server.config.name}" (not reviewed: mcp-gateway tools approve)`)
          : refuse(`${kind}_definition_changed`, `${noun} "${target.name}" on server "${server.config.name}" was last listed with a definition that differs from the lockfile (${f.fields!.join(', ')}; review it with mcp-gateway tools diff)`, { fields: f.fields });
      }
    }
  }
  if (kind !== 'tool' || msg.method !== 'tools/call') return undefined;
  const validate = pins.validator(target.name);
  if (validate === undefined) {
    // validate_arguments is on, and there is no pinned schema to validate against.
    if (pins.entry('tool', target.name) !== undefined || !validatesArguments(server)) return undefined;
    return refuse('tool_not_pinned', `Tool "${target.name}" is not in the lockfile of server "${server.config.name}", so its arguments cannot be validated (validate_arguments: enforce)`);
  }
  if (typeof validate !== 'function') return refuse('invalid_arguments', `Arguments of tool "${target.name}" cannot be validated: ${validate.error}`);
  const args = msg.params?.arguments ?? {};
  const r = validate(args);
  if (r.ok) return undefined;
  return refuse('invalid_arguments', `Invalid arguments for tool "${target.name}": ${r.path} ${r.message} (keyword "${r.keyword}")`, { path: r.path, keyword: r.keyword });
}

const validatesArguments = (server: ServerRuntime) => server.config.integrity.validateArguments === 'enforce';

/** Methods that read a resource's contents (now or as it changes). */
const READS: ReadonlySet<string> = new Set(['resources/read', 'resources/subscribe']);

function pinnedRead(server: ServerRuntime, pins: NonNullable<ServerRuntime['pins']>, uri: string, refuse: (reason: RefusalReason, message: string, data?: Record<string, unknown>) => Refusal, ev: AuditEvent): Refusal | undefined {
  if (pins.pinning === 'off') return undefined;
  const f = pins.checkRead(uri);
  if (!f) return undefined;
  const enforce = pins.pinning === 'enforce';
  ev.integrity = integrityRecord(enforce ? 'refused' : 'flagged', [f]);
  if (!enforce) return undefined;
  const where = `on server "${server.config.name}"`;
  if (f.finding === 'not_pinned') return refuse('resource_not_pinned', `Resource "${uri}" ${where} is neither a resource nor an instance of a resource template in the lockfile (not reviewed: mcp-gateway tools approve)`);
  const what = f.kind === 'resource' ? 'was last listed' : `matches only resource templates last listed (first "${f.name}")`;
  return refuse('resource_definition_changed', `Resource "${uri}" ${where} ${what} with a definition that differs from the lockfile (${f.fields!.join(', ')}; review it with mcp-gateway tools diff)`, { [f.kind === 'resource' ? 'resource' : 'template']: f.name, fields: f.fields });
}
