// MCP protocol versions and method tables the gateway relies on.
import type { ItemKind } from '../curation/curation.js';
import { canonicalName } from '../curation/canonical.js';

export const SUPPORTED_PROTOCOL_VERSIONS = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25', '2026-07-28'] as const;
export type ProtocolVersion = (typeof SUPPORTED_PROTOCOL_VERSIONS)[number];
const SUPPORTED = new Set<string>(SUPPORTED_PROTOCOL_VERSIONS);
export const isSupportedProtocolVersion = (v: string): v is ProtocolVersion => SUPPORTED.has(v);

/** The stateless revision that requires Mcp-Method / Mcp-Name headers (SEP-2243). */
export const STANDARD_HEADERS_VERSION = '2026-07-28';

/**
 * Revisions whose requests carry their protocol version in `_meta` (2026-07-28, SEP-2575):
 * a client refused one of them retries the same request at another of them, with no
 * `initialize` in between, so these are what an UnsupportedProtocolVersionError lists
 * for a request that came with a `_meta` version.
 */
export const STATELESS_PROTOCOL_VERSIONS: readonly ProtocolVersion[] = ['2026-07-28'];

/** Where a 2026-07-28 request carries its protocol version: `params._meta[META_PROTOCOL_VERSION]`. */
export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';

/**
 * The request's `_meta` protocol version: the string, `undefined` when there is none
 * (no params, no `_meta`, or no such key), or `null` when the key holds something else.
 */
export function metaProtocolVersion(params: Record<string, unknown> | undefined): string | undefined | null {
  const meta = params?._meta;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return undefined;
  if (!Object.hasOwn(meta, META_PROTOCOL_VERSION)) return undefined;
  const v = (meta as Record<string, unknown>)[META_PROTOCOL_VERSION];
  return typeof v === 'string' ? v : null;
}

/**
 * Requests a revision removed (its changelog, and the ClientRequest union of its schema):
 * 2026-07-28 dropped the initialize handshake, ping, logging/setLevel and
 * resources/(un)subscribe (replaced by subscriptions/listen). A server answers them with
 * 404 and -32601 Method not found. (tasks/* moved to the io.modelcontextprotocol/tasks
 * extension, so they are not removed: an upstream may implement the extension.)
 */
const REMOVED_METHODS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['2026-07-28', new Set(['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe'])],
]);

/** Whether `method` does not exist at protocol `version` (false for versions the gateway does not know). */
export function isRemovedMethod(version: string | undefined, method: string): boolean {
  return version !== undefined && (REMOVED_METHODS.get(version)?.has(method) ?? false);
}

/** Methods a client may send (requests and notifications), all revisions. */
const CLIENT_METHODS = [
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'completion/complete',
  'logging/setLevel',
  'tasks/get',
  'tasks/list',
  'tasks/result',
  'tasks/cancel',
  'server/discover',
  'subscriptions/listen',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
  'notifications/tasks/status',
] as const;
const KNOWN_LOWER = new Map(CLIENT_METHODS.map((m) => [m.toLowerCase(), m]));
const KNOWN = new Set<string>(CLIENT_METHODS);
/** A method the gateway knows by name (any revision): what a metric label may be. */
export const isKnownMethod = (m: string): boolean => KNOWN.has(m);

/**
 * A method that differs from a known one only by case ("Tools/Call") is refused:
 * a lenient upstream could treat it as the real method after the gateway did not.
 */
export function caseCollision(method: string): string | undefined {
  if (KNOWN.has(method)) return undefined;
  // Also on the canonical form names get (NFKC, invisible characters removed, trimmed):
  // "tools/call ", "tools/call\u200b" and a full-width "ｔｏｏｌｓ/ｃａｌｌ" are refused too.
  return KNOWN_LOWER.get(method.toLowerCase()) ?? KNOWN_LOWER.get(canonicalName(method).toLowerCase());
}

export interface ListMethod {
  kind: ItemKind;
  /** Key of the array in the result. */
  resultKey: string;
  /** Key of the item field matched against the curation rules. */
  itemKey: string;
}

export const LIST_METHODS: ReadonlyMap<string, ListMethod> = new Map([
  ['tools/list', { kind: 'tool', resultKey: 'tools', itemKey: 'name' }],
  ['prompts/list', { kind: 'prompt', resultKey: 'prompts', itemKey: 'name' }],
  ['resources/list', { kind: 'resource', resultKey: 'resources', itemKey: 'uri' }],
  ['resources/templates/list', { kind: 'resource', resultKey: 'resourceTemplates', itemKey: 'uriTemplate' }],
]);

export type Target = { kind: ItemKind; name: string; /** A completion ref may name a URI template. */ template?: true };
export type TargetResult = { ok: true; target: Target | undefined } | { ok: false; message: string };

/** Requests that address one curated item, and the params field naming it (also what `Mcp-Name` mirrors). */
export const NAMED_TARGETS: ReadonlyMap<string, { kind: ItemKind; param: 'name' | 'uri' }> = new Map([
  ['tools/call', { kind: 'tool', param: 'name' }],
  ['prompts/get', { kind: 'prompt', param: 'name' }],
  ['resources/read', { kind: 'resource', param: 'uri' }],
  ['resources/subscribe', { kind: 'resource', param: 'uri' }],
  ['resources/unsubscribe', { kind: 'resource', param: 'uri' }],
]);

/** Which curated item a request addresses (tools/call → the tool, completion → its ref, …). */
export function targetOf(method: string, params: Record<string, unknown> | undefined): TargetResult {
  const named = NAMED_TARGETS.get(method);
  if (named) {
    const v = params?.[named.param];
    if (typeof v !== 'string') return { ok: false, message: `${method} needs params.${named.param} as a string` };
    return { ok: true, target: { kind: named.kind, name: v } };
  }
  if (method === 'completion/complete') {
    const ref = params?.ref as Record<string, unknown> | undefined;
    if (ref === null || typeof ref !== 'object') return { ok: false, message: 'completion/complete needs params.ref' };
    if (ref.type === 'ref/prompt' && typeof ref.name === 'string') return { ok: true, target: { kind: 'prompt', name: ref.name } };
    // A resource ref names a URI or a URI template (what resources/templates/list lists).
    if (ref.type === 'ref/resource' && typeof ref.uri === 'string') return { ok: true, target: { kind: 'resource', name: ref.uri, template: true } };
    return { ok: false, message: 'completion/complete params.ref must be ref/prompt with a name or ref/resource with a uri' };
  }
  return { ok: true, target: undefined };
}
