// OAuth 2.0 Protected Resource Metadata (RFC 9728) for each virtual server, built once
// at start-up. MCP clients find it through the 401's `resource_metadata` and at the
// well-known paths: `/.well-known/oauth-protected-resource<server path>` and, for
// clients that only try the root form, `/.well-known/oauth-protected-resource`.
import type { GatewayConfig } from '../config/types.js';
import { JSON_CONTENT_TYPE, type Verdict } from '../gateway/verdict.js';

export const METADATA_ROOT = '/.well-known/oauth-protected-resource';

/** Well-known path → the JSON document served there. */
export function protectedResourceMetadata(config: GatewayConfig): Map<string, string> {
  const docs = new Map<string, string>();
  const servers = config.servers.filter((s) => s.oauth);
  for (const s of servers) {
    const o = s.oauth!;
    docs.set(
      o.metadataPath,
      JSON.stringify({
        resource: o.resource,
        authorization_servers: o.authorizationServers,
        ...(o.scopesSupported.length && { scopes_supported: o.scopesSupported }),
        bearer_methods_supported: ['header'],
        resource_name: `MCP server "${s.name}" via mcp-gateway`,
        ...(o.resourceDocumentation && { resource_documentation: o.resourceDocumentation }),
      }),
    );
  }
  if (servers.length === 1) {
    docs.set(METADATA_ROOT, docs.get(servers[0]!.oauth!.metadataPath)!);
  } else if (servers.length > 1) {
    // Several resources behind one origin: the root document describes the gateway itself.
    const scopes = [...new Set(servers.flatMap((s) => s.oauth!.scopesSupported))];
    docs.set(
      METADATA_ROOT,
      JSON.stringify({
        resource: config.gateway.publicUrl,
        authorization_servers: [...new Set(servers.flatMap((s) => s.oauth!.authorizationServers))],
        ...(scopes.length && { scopes_supported: scopes }),
        bearer_methods_supported: ['header'],
      }),
    );
  }
  return docs;
}

const CORS: [string, string][] = [['access-control-allow-origin', '*']];

/** The gateway's own answer at a well-known metadata path (browsers may fetch it: CORS open). */
export function metadataResponse(docs: ReadonlyMap<string, string>, path: string, method: string): Verdict {
  const reply = (status: number, headers: [string, string][], body = ''): Verdict => ({ kind: 'respond', status, headers: [...headers, ...CORS], body, details: 'mcp_gateway_metadata' });
  if (method === 'OPTIONS') return reply(204, [['access-control-allow-methods', 'GET'], ['access-control-allow-headers', 'mcp-protocol-version']]);
  const doc = docs.get(path);
  if (doc === undefined) return reply(404, [JSON_CONTENT_TYPE], '{"error":"not_found"}');
  if (method !== 'GET' && method !== 'HEAD') return reply(405, [['allow', 'GET']]);
  return reply(200, [JSON_CONTENT_TYPE, ['cache-control', 'max-age=300']], doc);
}
