// The MCP Registry API's shapes (API spec version 2025-12-01, server.json schema
// 2025-12-11, github.com/modelcontextprotocol/registry docs/reference): a ServerList
// `{servers: ServerResponse[], metadata: {nextCursor?, count}}` where each ServerResponse
// is `{server: ServerDetail, _meta}`. Registry-aware clients read these as they are.
import type { GatewayConfig, ServerConfig } from '../config/types.js';
import type { CatalogTool, ToolList } from './tool-source.js';

export const SERVER_SCHEMA_URL = 'https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json';
/** The reverse-DNS key of the gateway's own facts in `_meta`. */
export const CATALOG_META_KEY = 'io.github.mcp-gateway/catalog';

export interface ServerResponse {
  server: {
    $schema: string;
    name: string;
    title?: string;
    description: string;
    version: string;
    remotes: { type: 'streamable-http'; url: string; headers?: { name: string; description: string; isRequired: boolean; isSecret: boolean }[] }[];
  };
  _meta: Record<string, unknown>;
}

export interface ServerList {
  servers: ServerResponse[];
  metadata: { count: number; nextCursor?: string };
}

/** `<namespace>/<server name>`: the registry's name pattern ^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$ holds for every server name. */
export function registryName(config: GatewayConfig, s: ServerConfig): string {
  return `${config.gateway.catalog!.namespace}/${s.name}`;
}

/** The headers a client must send, as server.json's KeyValueInput (none when OAuth discovery tells it). */
function headersOf(config: GatewayConfig, s: ServerConfig): ServerResponse['server']['remotes'][number]['headers'] {
  const a = config.auth;
  const out: NonNullable<ServerResponse['server']['remotes'][number]['headers']> = [];
  if (a.jwt && !s.oauth) out.push({ name: 'Authorization', description: 'Bearer <access token>', isRequired: !a.apiKeys, isSecret: true });
  if (a.apiKeys) out.push({ name: a.apiKeys.header, description: 'an API key issued by the gateway operator', isRequired: !a.jwt, isSecret: true });
  return out.length ? out : undefined;
}

export function serverResponse(config: GatewayConfig, s: ServerConfig, tools: readonly CatalogTool[] | undefined, list: ToolList): ServerResponse {
  const headers = headersOf(config, s);
  const o = s.oauth;
  return {
    server: {
      $schema: SERVER_SCHEMA_URL,
      name: registryName(config, s),
      ...(s.catalog.title !== undefined && { title: s.catalog.title }),
      // At most 100 characters (the config checks servers[].catalog; the default fits).
      description: s.catalog.description ?? `MCP server "${s.name}" through mcp-gateway`,
      version: s.catalog.version ?? '0.0.0',
      remotes: [{ type: 'streamable-http', url: `${config.gateway.publicUrl}${s.path}`, ...(headers && { headers }) }],
    },
    _meta: {
      [CATALOG_META_KEY]: {
        server: s.name,
        ...(tools ? { tools: tools.map(({ definition: _, ...t }) => t) } : {}),
        toolsSource: list.source,
        ...(list.source === 'unavailable' && { toolsUnavailable: list.reason }),
        ...(o && {
          authorization: {
            resourceMetadata: o.metadataUrl,
            resource: o.resource,
            authorizationServers: o.authorizationServers,
            ...(o.scopesSupported.length && { scopesSupported: o.scopesSupported }),
            ...(o.requiredScopes.length && { requiredScopes: o.requiredScopes }),
          },
        }),
      },
    },
  };
}
