// The input document a Rego policy sees: built once per request by the caller, then
// handed unchanged to every evaluation for that request (decision, list filtering).
//
// The shape mirrors opa-envoy-plugin (`input.attributes.request.http…`,
// `input.attributes.source.address`) so Envoy users find what they know, plus the
// MCP facts the gateway has already worked out (`input.mcp…`) and the caller's
// identity (`input.identity…`). Precomputed fields sit beside the raw facts so a
// policy never re-derives them.
//
// The field-by-field reference is in README.md ("The policy input"); keep both in step.
//
// There is no time field: call `time.now_ns()` (the gateway provides it, constant
// within one evaluation).
import type { ItemKind } from '../curation/curation.js';
import type { JsonRpcMessage } from '../mcp/jsonrpc.js';
import { targetOf, type Target } from '../mcp/protocol.js';
import { INTERNAL_HEADER_PREFIX } from '../gateway/internal-headers.js';

export interface PolicyIdentity {
  subject: string;
  issuer: string | null;
  groups: string[];
  scopes: string[];
  claims: Record<string, unknown>;
  method: string;
}

/** One entry of a tools/prompts/resources list, as the policy judges it. */
export interface ListItem {
  kind: ItemKind;
  /** The name (tools, prompts) or URI / URI template (resources). */
  name: string;
  /** The entry as the upstream sent it. */
  item: unknown;
}

export interface PolicyInput {
  attributes: {
    request: { http: { method: string; path: string; host: string; headers: Record<string, string> } };
    source: { address: string | undefined };
  };
  identity: PolicyIdentity;
  server: { name: string };
  mcp: {
    protocol_version: string | null;
    method: string | null;
    kind: 'request' | 'notification' | 'response' | null;
    request_id: string | number | null;
    session_id: string | null;
    tool: string | null;
    prompt: string | null;
    resource: string | null;
    /** The curated item kind+name this message addresses. */
    target: { kind: ItemKind; name: string } | null;
    arguments: unknown;
    /** `client_to_server` for what callers send; `server_to_client` for requests upstreams send to the caller (sampling, elicitation, roots). */
    direction: 'client_to_server' | 'server_to_client';
  };
  /** Set only when the policy is asked whether an item may be SEEN (list filtering). */
  list_item?: ListItem;
  /** Set only for the one-evaluation form of list filtering (`visible_names`). */
  list_items?: readonly ListItem[];
  /** There is none: use time.now_ns() (provided as a builtin). */
  time_ns?: never;
}

/** The facts a caller has at hand when it builds the input (all already parsed). */
export interface PolicyFacts {
  http: { method: string; path: string; host: string; headers: Readonly<Record<string, string>> };
  sourceAddress: string | undefined;
  identity: PolicyIdentity;
  server: string;
  protocolVersion: string | undefined;
  sessionId: string | undefined;
  /** The JSON-RPC message of a POST; undefined for GET and DELETE. */
  message: JsonRpcMessage | undefined;
  /** The message's target if the caller already computed it (targetOf); computed when omitted. */
  target?: Target | undefined;
  /** Who sent the message: the caller (default), or the upstream (a server-initiated request). */
  direction?: 'client_to_server' | 'server_to_client';
}

/** Request headers a policy never sees: they carry credentials. */
export const DEFAULT_CREDENTIAL_HEADERS: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'x-api-key'];


export interface PolicyInputBuilderOptions {
  /** Extra credential-bearing headers to drop (e.g. the configured API-key header). Case-insensitive. */
  credentialHeaders?: readonly string[];
}

export type PolicyInputBuilder = (facts: PolicyFacts) => PolicyInput;

/** Compiles the header filter once; the returned function builds one input per request. */
export function createPolicyInputBuilder(options: PolicyInputBuilderOptions = {}): PolicyInputBuilder {
  const drop = new Set([...DEFAULT_CREDENTIAL_HEADERS, ...(options.credentialHeaders ?? []).map((h) => h.toLowerCase())]);
  const headersFor = (h: Readonly<Record<string, string>>): Record<string, string> => {
    // A null-prototype object: a header named "__proto__" is just a header.
    const out = Object.create(null) as Record<string, string>;
    for (const k in h) {
      if (drop.has(k) || k.startsWith(INTERNAL_HEADER_PREFIX)) continue;
      out[k] = h[k]!;
    }
    return out;
  };
  return (f) => {
    const msg = f.message;
    const isCall = msg !== undefined && msg.kind !== 'response';
    const method = isCall ? msg.method : null;
    const params = isCall ? msg.params : undefined;
    let target: Target | undefined = f.target;
    if (target === undefined && method !== null) {
      const t = targetOf(method, params);
      if (t.ok) target = t.target;
    }
    const args = params === undefined ? undefined : method === 'completion/complete' ? params.argument : params.arguments;
    return {
      attributes: {
        request: { http: { method: f.http.method, path: f.http.path, host: f.http.host, headers: headersFor(f.http.headers) } },
        source: { address: f.sourceAddress },
      },
      identity: f.identity,
      server: { name: f.server },
      mcp: {
        protocol_version: f.protocolVersion ?? null,
        method,
        kind: msg?.kind ?? null,
        request_id: msg === undefined || msg.kind === 'notification' ? null : msg.id,
        session_id: f.sessionId ?? null,
        tool: target?.kind === 'tool' ? target.name : null,
        prompt: target?.kind === 'prompt' ? target.name : null,
        resource: target?.kind === 'resource' ? target.name : null,
        target: target ? { kind: target.kind, name: target.name } : null,
        arguments: args === undefined ? null : args,
        direction: f.direction ?? 'client_to_server',
      },
    };
  };
}
