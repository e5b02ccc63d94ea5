// `aggregates`: one endpoint over several servers, each still governed as if called directly.
// An aggregate is compiled into a virtual server of its own (its curation, policy, limits and
// audit over the prefixed names) whose upstream is the gateway's aggregator (src/aggregate/server.ts),
// which calls each member back through Envoy's own listener with the caller's credentials.
import { z } from 'zod';
import { compileGlobs } from '../curation/glob.js';

/** The aggregator's default address: loopback only, it is reached through Envoy. */
export const DEFAULT_AGGREGATOR_LISTEN = '127.0.0.1:9002';
export const DEFAULT_SEPARATOR = '__';
/** Path of an aggregate at the aggregator: `/aggregate/<name>`. */
export const AGGREGATOR_PATH_PREFIX = '/aggregate/';
/**
 * The header that proves a request came through Envoy and the sidecar: the sidecar sets it
 * (an upstream credential of the aggregate's virtual server) and strips any a caller sends
 * (the x-mcp-gateway- prefix is the gateway's own).
 */
export const AGGREGATE_KEY_HEADER = 'x-mcp-gateway-aggregate-key';
/** Where the sidecar and the aggregator find that key (set per process by the launcher unless given). */
export const AGGREGATE_KEY_ENV = 'MCP_GATEWAY_AGGREGATE_KEY';

const glob = z.string().min(1, 'a pattern cannot be empty');
const rules = z.object({ allow: z.array(glob).optional(), deny: z.array(glob).optional() }).strict();

export const aggregateSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9]([a-z0-9_-]{0,62})$/, 'an aggregate name is 1-63 characters of a-z, 0-9, "-" or "_", starting with a letter or digit'),
    servers: z.array(z.string().min(1)).min(2, 'an aggregate joins at least two servers'),
    // Between the member's name and the tool/prompt name: `<member><separator><name>`.
    separator: z.string().regex(/^[A-Za-z0-9_.:-]{1,8}$/, 'a separator is 1-8 characters of A-Z, a-z, 0-9, "_", ".", ":" or "-"').optional(),
    path: z.string().regex(/^\/[A-Za-z0-9._~\/-]*$/, 'expected an absolute URL path such as /mcp/all').optional(),
    // The aggregate's own curation, over the prefixed names (each member's applies too).
    tools: rules.optional(),
    prompts: rules.optional(),
    resources: rules.optional(),
    policy: z.object({ bundle: z.string().min(1).optional(), dry_run: z.boolean().optional() }).strict().optional(),
    max_call_duration_ms: z.number().int().min(1).optional(),
  })
  .strict();

export type RawAggregate = z.infer<typeof aggregateSchema>;

/** What the aggregator needs of an aggregate (ServerConfig.aggregate). */
export interface AggregateConfig {
  /** Member server names, in the order lists are merged. */
  members: readonly string[];
  separator: string;
}

/** The raw `servers[]` entry an aggregate compiles to: its upstream is the aggregator. */
export function aggregateServerEntry(a: RawAggregate, aggregatorListen: string) {
  return {
    name: a.name,
    url: `http://${aggregatorListen}${AGGREGATOR_PATH_PREFIX}${a.name}`,
    upstream_auth: { static: { header: AGGREGATE_KEY_HEADER, prefix: '', value_env: AGGREGATE_KEY_ENV } },
    ...(a.path !== undefined && { path: a.path }),
    ...(a.tools && { tools: a.tools }),
    ...(a.prompts && { prompts: a.prompts }),
    ...(a.resources && { resources: a.resources }),
    ...(a.policy && { policy: a.policy }),
    ...(a.max_call_duration_ms !== undefined && { max_call_duration_ms: a.max_call_duration_ms }),
  };
}

export function aggregateConfigOf(a: RawAggregate): AggregateConfig {
  return { members: a.servers, separator: a.separator ?? DEFAULT_SEPARATOR };
}

/** Where the aggregator calls members: Envoy's listener, at loopback when it listens on a wildcard address. */
export function listenerBase(listen: { host: string; port: number }): string {
  const { host, port } = listen;
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

interface CheckedGateway {
  listen: { host: string; port: number };
  aggregatorListen: { host: string };
  allowedHosts: readonly string[];
  tls: unknown;
}

interface CheckedServer {
  name: string;
  aggregate: AggregateConfig | undefined;
}

/** Problems of the `aggregates` section (paths relative to the config root). */
export function checkAggregates(raw: readonly RawAggregate[] | undefined, servers: readonly CheckedServer[], gateway: CheckedGateway): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  if (!raw?.length) return out;
  const byName = new Map(servers.map((s) => [s.name, s]));
  if (!/^(127\.|localhost$|::1$)/.test(gateway.aggregatorListen.host)) out.push({ path: ['gateway', 'aggregator_listen'], message: 'the aggregator must listen on loopback (it is reached through Envoy only)' });
  const memberHost = new URL(listenerBase(gateway.listen)).host;
  if (!compileGlobs(gateway.allowedHosts, { caseInsensitive: true }).test(memberHost)) {
    out.push({ path: ['gateway', 'allowed_hosts'], message: `aggregates call their members at ${memberHost}: add it to allowed_hosts` });
  }
  if (gateway.tls) out.push({ path: ['aggregates'], message: 'aggregates call their members through the listener over plain HTTP: not available with gateway.tls yet' });
  raw.forEach((a, i) => {
    const sep = a.separator ?? DEFAULT_SEPARATOR;
    const seen = new Set<string>();
    a.servers.forEach((m, j) => {
      const s = byName.get(m);
      if (!s) out.push({ path: ['aggregates', i, 'servers', j], message: `no server "${m}"` });
      else if (s.aggregate) out.push({ path: ['aggregates', i, 'servers', j], message: `"${m}" is an aggregate: aggregates join servers, not other aggregates` });
      if (seen.has(m)) out.push({ path: ['aggregates', i, 'servers', j], message: `"${m}" is listed twice` });
      seen.add(m);
      // Names are split at the first separator: a member name must not contain it.
      if (m.includes(sep)) out.push({ path: ['aggregates', i, 'servers', j], message: `the member name "${m}" contains the separator "${sep}": choose another separator` });
    });
  });
  return out;
}
