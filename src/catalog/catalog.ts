// The catalog: the virtual servers a caller may use, each with the tools that caller
// would see listed. Visibility is decided by the same pieces as a live tools/list: the
// server's curation, then its policy's list filtering (visibleSet) on an input built for
// this caller; a server whose policy refuses the caller's `initialize`, or that shows
// the caller none of its tools, is left out (and is "not found" at its own URL).
import type { GatewayConfig } from '../config/types.js';
import { underPrefix } from '../config/paths.js';
import type { ServerRuntime } from '../gateway/runtime.js';
import type { PolicyFacts, PolicyInputBuilder } from '../policy/input.js';
import type { PolicyIdentity } from '../policy/input.js';
import type { JsonRpcMessage } from '../mcp/jsonrpc.js';
import { registryName, serverResponse, type ServerList, type ServerResponse } from './registry-shape.js';
import { ToolSource } from './tool-source.js';

export interface CatalogRequest {
  method: string;
  /** The request path without its query. */
  path: string;
  query: URLSearchParams;
  /** What the policy input's `attributes.request.http` shows (credentials are dropped by the builder). */
  http: PolicyFacts['http'];
  sourceAddress: string | undefined;
}

export interface CatalogAnswer {
  status: number;
  body: string;
  /** Servers listed (for the audit event). */
  listed: number;
}

const MAX_LIMIT = 100;

function request(method: string, params: Record<string, unknown>): JsonRpcMessage {
  const body = { jsonrpc: '2.0', id: 'catalog', method, params };
  return { kind: 'request', id: 'catalog', method, params, body };
}
const INITIALIZE = request('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'mcp-gateway-catalog', version: '1' } });
const TOOLS_LIST = request('tools/list', {});

const json = (status: number, v: unknown, listed = 0): CatalogAnswer => ({ status, body: JSON.stringify(v), listed });
const notFound = (): CatalogAnswer => json(404, { error: 'Server not found' });

export class Catalog {
  readonly path: string;

  constructor(
    private readonly config: GatewayConfig,
    private readonly servers: readonly ServerRuntime[],
    private readonly policyInput: PolicyInputBuilder,
    private readonly tools: ToolSource = new ToolSource(config.gateway.catalog!.cacheTtlMs),
  ) {
    this.path = config.gateway.catalog!.path;
  }

  serves(path: string): boolean {
    return underPrefix(path, this.path);
  }

  /** One server as this caller sees it; undefined: hidden from this caller. */
  async entryFor(s: ServerRuntime, identity: PolicyIdentity, req: Omit<CatalogRequest, 'method' | 'path' | 'query'>): Promise<ServerResponse | undefined> {
    const facts = (message: JsonRpcMessage): PolicyFacts => ({ http: req.http, sourceAddress: req.sourceAddress, identity, server: s.config.name, protocolVersion: '2025-11-25', sessionId: undefined, message });
    if (s.policy && !s.config.dryRun && !s.policy.current().decide(this.policyInput(facts(INITIALIZE))).allowed) return undefined;
    const list = await this.tools.toolsOf(s.config);
    if (list.source === 'unavailable') return serverResponse(this.config, s.config, undefined, list);
    let visible = list.tools.filter((t) => s.curation.visible('tool', t.name));
    if (s.visibleSet && visible.length) {
      const seen = s.visibleSet(this.policyInput(facts(TOOLS_LIST)), visible.map((t) => ({ kind: 'tool' as const, name: t.name, item: t.definition })));
      visible = visible.filter((t) => seen.has(t.name));
    }
    if (list.tools.length > 0 && visible.length === 0 && (s.policy !== undefined || !s.curation.isOpen('tool')) && !s.config.dryRun) return undefined;
    return serverResponse(this.config, s.config, visible, list);
  }

  /** Never rejects: a failure is a 500 (the caller learns nothing of the upstreams behind it). */
  async answer(req: CatalogRequest, identity: PolicyIdentity): Promise<CatalogAnswer> {
    try {
      return await this.route(req, identity);
    } catch {
      return json(500, { error: 'the catalog could not be built' });
    }
  }

  private async route(req: CatalogRequest, identity: PolicyIdentity): Promise<CatalogAnswer> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'Method not allowed' });
    const rest = req.path.slice(this.path.length);
    if (rest === '' || rest === '/') return this.list(req, identity);
    // /{serverName}/versions and /{serverName}/versions/{version|latest}; the name is URL-encoded ("ns%2Fname").
    const m = /^\/([^/]+)\/versions(?:\/([^/]+))?$/.exec(rest);
    if (!m) return notFound();
    let name: string;
    let version: string | undefined;
    try {
      name = decodeURIComponent(m[1]!);
      version = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
    } catch {
      return notFound();
    }
    const s = this.servers.find((x) => registryName(this.config, x.config) === name);
    const entry = s && (await this.entryFor(s, identity, req));
    if (!entry || (version !== undefined && version !== 'latest' && version !== entry.server.version)) return notFound();
    return version === undefined ? json(200, { servers: [entry], metadata: { count: 1 } } satisfies ServerList, 1) : json(200, entry, 1);
  }

  private async list(req: CatalogRequest, identity: PolicyIdentity): Promise<CatalogAnswer> {
    const search = req.query.get('search') ?? '';
    const cursor = req.query.get('cursor') ?? '';
    const limitText = req.query.get('limit');
    const limit = limitText === null ? MAX_LIMIT : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1) return json(400, { error: 'limit must be a positive integer' });
    // Names sort; the cursor is the last name of the page before (opaque to clients).
    const candidates = this.servers
      .filter((s) => registryName(this.config, s.config).includes(search))
      .sort((a, b) => (registryName(this.config, a.config) < registryName(this.config, b.config) ? -1 : 1))
      .filter((s) => cursor === '' || registryName(this.config, s.config) > cursor);
    const entries = (await Promise.all(candidates.map((s) => this.entryFor(s, identity, req)))).filter((e): e is ServerResponse => e !== undefined);
    const page = entries.slice(0, Math.min(limit, MAX_LIMIT));
    const more = entries.length > page.length;
    return json(200, { servers: page, metadata: { count: page.length, ...(more && { nextCursor: page.at(-1)!.server.name }) } } satisfies ServerList, page.length);
  }
}
