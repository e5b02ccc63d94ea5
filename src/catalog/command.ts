// `mcp-gateway catalog --config FILE [--token JWT | --api-key KEY | --as SUBJECT [--group G ...]]`:
// prints the catalog a caller would get, computed as the sidecar computes it (the same
// runtime: curation, policy, lockfiles, upstream reads). --as previews a caller without
// credentials: an API-key subject takes its configured groups, any other the --group flags.
import type { GatewayConfig } from '../config/types.js';
import type { Identity } from '../identity/types.js';
import { MemoryAuditSink } from '../audit/sink.js';
import { createRuntime, ANONYMOUS, type ServerRuntime } from '../gateway/runtime.js';
import type { Logger } from '../telemetry/log.js';
import { withBridges } from '../openapi/command.js';
import { Catalog } from './catalog.js';

export interface CatalogOptions {
  token: string | undefined;
  apiKey: string | undefined;
  as: string | undefined;
  groups: readonly string[] | undefined;
  out: (text: string) => void;
}

/** A mistake in how the command was called (the CLI prints its usage). */
export class CatalogUsageError extends Error {
  readonly usage = true;
}

const DEFAULT_CATALOG = { path: '/v0.1/servers', namespace: 'local.mcp-gateway', cacheTtlMs: 0 };

export async function catalogCommand(loaded: GatewayConfig, o: CatalogOptions, log: Logger): Promise<number> {
  if ([o.token, o.apiKey, o.as].filter((x) => x !== undefined).length > 1) throw new CatalogUsageError('catalog takes one of --token, --api-key or --as');
  return withBridges(loaded, log, async (config) => {
    const rt = await createRuntime(config, new MemoryAuditSink(), log);
    try {
      let identity: Identity = ANONYMOUS;
      if (o.token !== undefined || o.apiKey !== undefined) {
        if (!rt.authenticator) throw new CatalogUsageError('the config has no auth section: every caller is anonymous (leave out --token/--api-key)');
        const headers = o.token !== undefined ? { authorization: `Bearer ${o.token}` } : { [config.auth.apiKeys?.header ?? 'x-api-key']: o.apiKey! };
        const r = await rt.authenticator.authenticate({ headers, envoyJwtPayload: undefined });
        if (!r.ok) throw new Error(`the credential was refused: ${r.message}`);
        identity = r.identity;
      } else if (o.as !== undefined) {
        const key = config.auth.apiKeys?.keys.find((k) => k.subject === o.as);
        identity = key
          ? { subject: key.subject, issuer: undefined, groups: [...key.groups], scopes: [...key.scopes], claims: {}, method: 'api_key' }
          : { subject: o.as, issuer: undefined, groups: [...(o.groups ?? [])], scopes: [], claims: {}, method: 'jwt' };
      }
      const cat = { ...DEFAULT_CATALOG, ...config.gateway.catalog };
      const servers = config.servers.map((s) => rt.route(s.path)).filter((s): s is ServerRuntime => s !== undefined);
      const catalog = new Catalog({ ...config, gateway: { ...config.gateway, catalog: cat } }, servers, rt.policyInput);
      const a = await catalog.answer({ method: 'GET', path: cat.path, query: new URLSearchParams(), http: { method: 'GET', path: cat.path, host: 'localhost', headers: {} }, sourceAddress: undefined }, { ...identity, issuer: identity.issuer ?? null });
      o.out(`${JSON.stringify(JSON.parse(a.body), null, 2)}\n`);
      return a.status === 200 ? 0 : 1;
    } finally {
      rt.close();
    }
  });
}
