// Load, validate and normalize the YAML config. Every problem is reported at
// once, each with its place in the file (line:column) and its key path.
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve, dirname } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { configSchema, DEFAULTS, type RawConfig } from './schema.js';
import type { AuditSection, GatewayConfig, HostPort, OpenApiSource, OtlpTarget, TracingSection, ServerConfig, ServerOAuth, CurationRules, UpstreamAuthConfig, UpstreamTraffic, UpstreamVersion, LimitsSection, LimitDimension, FailureMode } from './types.js';
import { normalizeAuth } from '../identity/config.js';
import { resolveApprovals, resolveServerApprovals } from '../approvals/config.js';
import { underPrefix } from './paths.js';
import { compileNamePattern, valuePatternProblem } from '../audit/redact.js';
import { sidecarWorkers, workerListenProblems } from '../workers/addresses.js';
import { bridgeUrl as stdioBridgeUrl, stdioOf, stdioProblems } from '../stdio/config.js';
import { DEFAULT_AGGREGATOR_LISTEN, aggregateConfigOf, aggregateServerEntry, checkAggregates } from '../aggregate/config.js';

/** A server's traffic settings with their defaults (see the README's table). */
function trafficOf(s: RawConfig['servers'][number], url: URL, abs: (p: string) => string): UpstreamTraffic {
  const hc = s.health_check;
  const od = s.outlier_detection;
  return {
    healthCheck: hc && {
      kind: hc.kind ?? 'mcp',
      path: hc.path ?? (url.pathname || '/'),
      intervalMs: hc.interval_ms ?? 5000,
      timeoutMs: hc.timeout_ms ?? Math.min(1000, Math.floor((hc.interval_ms ?? 5000) / 2)),
      unhealthyThreshold: hc.unhealthy_threshold ?? 2,
      healthyThreshold: hc.healthy_threshold ?? 1,
      panicThresholdPercent: hc.panic_threshold_percent ?? 50,
    },
    outlierDetection: od && {
      // Neither named: gateway errors (502/503/504 and connect failures), Envoy's gentlest signal.
      consecutiveGatewayErrors: od.consecutive_gateway_errors ?? (od.consecutive_5xx === undefined ? 5 : undefined),
      consecutive5xx: od.consecutive_5xx,
      intervalMs: od.interval_ms ?? 10_000,
      baseEjectionMs: od.base_ejection_ms ?? 30_000,
      maxEjectionPercent: od.max_ejection_percent ?? 50,
    },
    circuitBreakers: s.circuit_breakers && {
      maxConnections: s.circuit_breakers.max_connections,
      maxPendingRequests: s.circuit_breakers.max_pending_requests,
      maxRequests: s.circuit_breakers.max_requests,
      maxRetries: s.circuit_breakers.max_retries,
    },
    retries: s.retries ?? 0,
    maxCallDurationMs: s.max_call_duration_ms,
    tls: {
      caFile: s.tls?.ca_file === undefined ? SYSTEM_CA_BUNDLE : abs(s.tls.ca_file),
      sni: s.tls?.sni,
      subjectAltNames: s.tls?.subject_alt_names,
      clientCertFile: s.tls?.client_cert_file === undefined ? undefined : abs(s.tls.client_cert_file),
      clientKeyFile: s.tls?.client_key_file === undefined ? undefined : abs(s.tls.client_key_file),
    },
  };
}

/** Debian/Ubuntu's CA bundle, what Envoy verifies https: upstreams against unless tls.ca_file says otherwise. */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export interface ConfigProblem {
  /** Key path such as `servers[0].tools.allow[1]`. */
  path: string;
  line: number | undefined;
  column: number | undefined;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(`${source}: ${problems.length} configuration error(s)\n` + problems.map((p) => '  ' + formatProblem(source, p)).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatProblem(source: string, p: ConfigProblem): string {
  const where = p.line !== undefined ? `${source}:${p.line}:${p.column ?? 1}` : source;
  return `${where} ${p.path || '(top level)'}: ${p.message}`;
}

export async function loadConfigFile(file: string): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', line: undefined, column: undefined, message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return parseConfig(text, file);
}

/** Parse config text. `source` names it in messages and anchors relative paths. */
export function parseConfig(text: string, source = '<config>'): GatewayConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const problems: ConfigProblem[] = [];
  for (const e of doc.errors) {
    const pos = e.linePos?.[0];
    problems.push({ path: '', line: pos?.line, column: pos?.col, message: `YAML: ${e.message.split('\n')[0]}` });
  }
  if (problems.length) throw new ConfigError(source, problems);

  const parsed = configSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
      let message = issue.message;
      if (issue.code === 'unrecognized_keys') {
        // Point at the first unknown key itself, not at its parent.
        for (const key of issue.keys) {
          problems.push({ path: formatPath([...path, key]), ...position(doc, lineCounter, [...path, key], true), message: `unknown key "${key}"` });
        }
        continue;
      }
      if (issue.code === 'invalid_type' && issue.input === undefined) message = 'required';
      problems.push({ path: formatPath(path), ...position(doc, lineCounter, path), message });
    }
    throw new ConfigError(source, problems);
  }
  const config = normalize(parsed.data, source);
  const semantic = checkSemantics(config, parsed.data);
  if (semantic.length) {
    throw new ConfigError(
      source,
      semantic.map((s) => ({ path: formatPath(s.path), ...position(doc, lineCounter, s.path), message: s.message })),
    );
  }
  return config;
}

function formatPath(path: readonly (string | number)[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

function position(doc: Document, lc: LineCounter, path: readonly (string | number)[], keyNode = false): { line: number | undefined; column: number | undefined } {
  // Walk up until a node exists (a missing key is reported at its parent).
  for (let n = path.length; n >= 0; n--) {
    const sub = path.slice(0, n);
    let node: unknown;
    if (keyNode && n === path.length && n > 0) {
      const parent = doc.getIn(sub.slice(0, -1), true) as { items?: { key: unknown }[] } | undefined;
      node = parent?.items?.find((p) => isNode(p.key) && (p.key as { value?: unknown }).value === sub[sub.length - 1])?.key;
    } else {
      node = n === 0 ? doc.contents : doc.getIn(sub, true);
    }
    if (isNode(node) && node.range) {
      const { line, col } = lc.linePos(node.range[0]);
      return { line, column: col };
    }
  }
  return { line: undefined, column: undefined };
}

function parseHostPort(s: string): HostPort {
  const i = s.lastIndexOf(':');
  const host = s.slice(0, i).replace(/^\[|\]$/g, '');
  return { host, port: Number(s.slice(i + 1)) };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function rulesOf(r: { allow?: string[] | undefined; deny?: string[] | undefined } | undefined): CurationRules {
  return { allow: r?.allow ?? ['*'], deny: r?.deny ?? [] };
}

function normalize(raw: RawConfig, source: string): GatewayConfig {
  const g = raw.gateway ?? {};
  const listen = parseHostPort(g.listen ?? DEFAULTS.listen);
  const pathPrefix = g.path_prefix ?? DEFAULTS.pathPrefix;
  const hostForms = (h: string) => (h.includes(':') ? `[${h}]` : h);
  const allowedHosts =
    g.allowed_hosts ??
    (isLoopback(listen.host)
      ? // A loopback listener is what DNS rebinding targets: accept only loopback Host headers.
        ['localhost', '127.0.0.1', '[::1]', hostForms(listen.host)].flatMap((h) => [h, `${h}:${listen.port}`])
      : ['*']);
  const sidecarListen = raw.sidecar?.listen ?? DEFAULTS.sidecarListen;
  const audit = raw.audit ?? {};
  const tracing = tracingOf(raw.telemetry?.tracing);
  const baseDir = source.startsWith('<') ? process.cwd() : dirname(resolve(source));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const auditFile = audit.file === undefined ? undefined : abs(audit.file);
  const globalBundle = raw.policy?.bundle === undefined ? undefined : abs(raw.policy.bundle);
  const publicUrl = (g.public_url ?? `${g.tls ? 'https' : 'http'}://${listen.host.includes(':') ? `[${listen.host}]` : listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host}:${listen.port}`).replace(/\/+$/, '');
  const oauthFor = (path: string, o: { scopes_supported?: string[] | undefined; required_scopes?: string[] | undefined } | undefined): ServerOAuth | undefined => {
    if (!raw.oauth) return undefined;
    const metadataPath = `/.well-known/oauth-protected-resource${path}`;
    const required = o?.required_scopes ?? raw.oauth.required_scopes ?? [];
    return {
      resource: `${publicUrl}${path}`,
      metadataUrl: `${publicUrl}${metadataPath}`,
      metadataPath,
      authorizationServers: raw.oauth.authorization_servers,
      scopesSupported: o?.scopes_supported ?? raw.oauth.scopes_supported ?? required,
      requiredScopes: required,
      resourceDocumentation: raw.oauth.resource_documentation,
    };
  };
  const aggregatorListen = g.aggregator_listen ?? DEFAULT_AGGREGATOR_LISTEN;
  const aggregates = new Map((raw.aggregates ?? []).map((a) => [a.name, aggregateConfigOf(a)]));
  const rawServers = [...raw.servers, ...(raw.aggregates ?? []).map((a): RawConfig['servers'][number] => aggregateServerEntry(a, aggregatorListen))];
  const servers: ServerConfig[] = rawServers.map((s, i) => {
    const urls = (u: string | string[]) => (Array.isArray(u) ? u : [u]).map((x) => new URL(x));
    const versions: UpstreamVersion[] = (s.versions ?? []).map((v) => ({ name: v.name, replicas: urls(v.url), weight: v.weight ?? 1, matchHeader: v.match_header }));
    const openapi = openapiOf(s.openapi, abs);
    const stdio = stdioOf(s, baseDir, abs);
    const replicas = s.versions ? versions.flatMap((v) => v.replicas) : openapi ? [bridgeUrl(openapi.listen)] : stdio ? [stdioBridgeUrl(stdio.port)] : urls(s.url!);
    const ua = s.upstream_auth;
    const upstreamAuth: UpstreamAuthConfig = ua?.static
      ? {
          kind: 'static',
          header: (ua.static.header ?? 'authorization').toLowerCase(),
          prefix: ua.static.prefix ?? ((ua.static.header ?? 'authorization').toLowerCase() === 'authorization' ? 'Bearer ' : ''),
          secret: { file: ua.static.value_file === undefined ? undefined : abs(ua.static.value_file), env: ua.static.value_env },
        }
      : ua?.token_exchange
        ? {
            kind: 'token_exchange',
            tokenEndpoint: ua.token_exchange.token_endpoint,
            clientId: ua.token_exchange.client_id,
            clientSecret: { file: ua.token_exchange.client_secret_file === undefined ? undefined : abs(ua.token_exchange.client_secret_file), env: ua.token_exchange.client_secret_env },
            audience: ua.token_exchange.audience ?? (openapi ? openapi.baseUrl.href : replicas[0]!.href),
            scope: ua.token_exchange.scope,
            timeoutMs: ua.token_exchange.timeout_ms ?? DEFAULTS.tokenExchangeTimeoutMs,
          }
        : { kind: 'none' };
    return {
    name: s.name,
    replicas,
    versions,
    stdio,
    upstreamAuth,
    openapi,
    catalog: { title: s.catalog?.title, description: s.catalog?.description, version: s.catalog?.version },
    path: s.path ?? `${pathPrefix}/${s.name}`,
    oauth: oauthFor(s.path ?? `${pathPrefix}/${s.name}`, s.oauth),
    url: replicas[0]!,
    tools: rulesOf(s.tools),
    prompts: rulesOf(s.prompts),
    resources: rulesOf(s.resources),
    connectTimeoutMs: s.connect_timeout_ms ?? DEFAULTS.connectTimeoutMs,
    traffic: trafficOf(s, replicas[0]!, abs),
    // An aggregate does not inherit the top-level bundle: it is written for the members' own names.
    policyBundle: s.policy?.bundle !== undefined ? abs(s.policy.bundle) : i < raw.servers.length ? globalBundle : undefined,
    dryRun: s.policy?.dry_run ?? raw.policy?.dry_run ?? false,
    forwardCookies: s.forward_cookies ?? false,
    inspectResponses: s.inspect_responses ?? 'all',
    toolCosts: Object.entries(s.tool_costs ?? {}).map(([pattern, units]) => ({ pattern, units })),
    integrity: {
      pinning: s.pinning ?? 'off',
      lockfile: s.lockfile !== undefined ? abs(s.lockfile) : raw.lockfile !== undefined ? abs(raw.lockfile) : undefined,
      validateArguments: s.validate_arguments ?? 'off',
      scanDefinitions: s.scan_definitions ?? 'off',
      allowedUrlHosts: s.allowed_url_hosts ?? [],
      scanResults: s.scan_results && { action: s.scan_results.action ?? 'redact', detect: s.scan_results.detect ?? ['secrets', 'pii', 'prompt_injection'], tools: s.scan_results.tools ?? ['*'], external: s.scan_results.external && { url: s.scan_results.external.url, timeoutMs: s.scan_results.external.timeout_ms ?? 2000 } },
    },
    approvals: resolveServerApprovals(s.approvals),
    aggregate: i < raw.servers.length ? undefined : aggregates.get(s.name),
  };
  });
  return {
    gateway: {
      listen,
      pathPrefix,
      adminListen: parseHostPort(g.admin ?? DEFAULTS.admin),
      allowedOrigins: g.allowed_origins ?? DEFAULTS.loopbackOrigins,
      allowedHosts: [...new Set(allowedHosts)],
      maxRequestBytes: g.max_request_bytes ?? DEFAULTS.maxRequestBytes,
      maxResponseBytes: g.max_response_bytes ?? DEFAULTS.maxResponseBytes,
      drainTimeMs: g.drain_time_ms ?? DEFAULTS.drainTimeMs,
      drainTimeoutMs: g.drain_timeout_ms ?? DEFAULTS.drainTimeoutMs,
      publicUrl,
      catalog: g.catalog && { path: g.catalog.path ?? '/v0.1/servers', namespace: g.catalog.namespace ?? 'local.mcp-gateway', cacheTtlMs: g.catalog.cache_ttl_ms ?? 60_000 },
      tls: g.tls && {
        certFile: abs(g.tls.cert_file),
        keyFile: abs(g.tls.key_file),
        clientCaFile: g.tls.client_ca_file === undefined ? undefined : abs(g.tls.client_ca_file),
        requireClientCertificate: g.tls.require_client_certificate ?? g.tls.client_ca_file !== undefined,
      },
      streamIdleTimeoutS: g.stream_idle_timeout_s ?? DEFAULTS.streamIdleTimeoutS,
      aggregatorListen: parseHostPort(aggregatorListen),
    },
    sidecar: {
      listen: sidecarListen.startsWith('unix:')
        ? { kind: 'unix', path: sidecarListen.slice('unix:'.length) }
        : { kind: 'tcp', ...parseHostPort(sidecarListen) },
      messageTimeoutMs: raw.sidecar?.message_timeout_ms ?? DEFAULTS.messageTimeoutMs,
      workers: sidecarWorkers(raw.sidecar?.workers),
    },
    servers,
    lockfile: raw.lockfile === undefined ? undefined : abs(raw.lockfile),
    httpRoutes: (raw.http_routes ?? []).map((r) => {
      const replicas = (Array.isArray(r.url) ? r.url : [r.url]).map((u) => new URL(u));
      return {
        name: r.name,
        pathPrefix: r.path_prefix,
        url: replicas[0]!,
        replicas,
        auth: r.auth ?? 'none',
        forwardCredentials: r.forward_credentials ?? false,
        connectTimeoutMs: r.connect_timeout_ms ?? DEFAULTS.connectTimeoutMs,
        timeoutMs: r.timeout_ms ?? 15_000,
      };
    }),
    auth: normalizeAuth(raw.auth, baseDir, servers.flatMap((s) => (s.oauth ? [s.oauth.resource] : []))),
    sessions: {
      key: raw.sessions?.key_file !== undefined ? { file: abs(raw.sessions.key_file) } : raw.sessions?.key_env !== undefined ? { env: raw.sessions.key_env } : undefined,
      ttlS: raw.sessions?.ttl_s ?? DEFAULTS.sessionTtlS,
    },
    policy: {
      timeoutMs: raw.policy?.timeout_ms ?? DEFAULTS.policyTimeoutMs,
      reloadIntervalMs: raw.policy?.reload_interval_ms ?? DEFAULTS.policyReloadIntervalMs,
      visibilityCache: raw.policy?.visibility_cache && {
        key: raw.policy.visibility_cache.key,
        maxClasses: raw.policy.visibility_cache.max_classes ?? 10_000,
        maxItems: raw.policy.visibility_cache.max_items ?? 10_000,
      },
    },
    audit: {
      sink: audit.sink ?? (auditFile ? 'file' : 'stdout'),
      file: auditFile,
      redact: [...new Set([...(audit.redact_defaults === false ? [] : DEFAULTS.redact), ...(audit.redact ?? [])])],
      redactValues: [...new Set([...(audit.redact_value_defaults === false ? [] : DEFAULTS.redactValues), ...(audit.redact_values ?? [])])],
      includeArguments: audit.include_arguments ?? true,
      policyInput: audit.policy_input ?? true,
      durability: audit.durability ?? 'buffered',
      otlp: auditOtlpOf(audit.otlp, tracing),
    },
    limits: limitsOf(raw),
    telemetry: {
      listen: raw.telemetry?.listen === undefined ? undefined : parseHostPort(raw.telemetry.listen),
      usage: usageOf(raw.telemetry?.usage),
      tracing,
    },
    log: { level: raw.log?.level ?? 'info' },
    approvals: resolveApprovals(raw.approvals, parseHostPort),
    source,
  };
}

function openapiOf(o: RawConfig['servers'][number]['openapi'], abs: (p: string) => string): OpenApiSource | undefined {
  if (!o) return undefined;
  return {
    spec: abs(o.spec),
    baseUrl: new URL(o.base_url),
    listen: parseHostPort(o.listen ?? '127.0.0.1:0'),
    include: { tags: o.include?.tags, operations: o.include?.operations },
    exclude: { tags: o.exclude?.tags ?? [], operations: o.exclude?.operations ?? [] },
    timeoutMs: o.timeout_ms ?? 30_000,
    maxResponseBytes: o.max_response_bytes ?? DEFAULTS.maxResponseBytes,
  };
}

/** The MCP endpoint of an OpenAPI bridge listening at `l`. */
export function bridgeUrl(l: HostPort): URL {
  return new URL(`http://${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}/mcp`);
}

function limitsOf(raw: RawConfig): LimitsSection {
  const svc = raw.rate_limit_service;
  const redis = raw.redis;
  return {
    limits: (raw.rate_limits ?? []).map((l) => ({
      name: l.name,
      match: {
        servers: l.match?.servers,
        methods: l.match?.methods,
        tools: l.match?.tools,
        prompts: l.match?.prompts,
        resources: l.match?.resources,
        subjects: l.match?.subjects,
        groups: l.match?.groups,
        authMethods: l.match?.auth_methods,
        claims: l.match?.claims,
      },
      key: (l.key ?? []) as LimitDimension[],
      rate: l.requests_per_unit !== undefined && l.unit !== undefined ? { requestsPerUnit: l.requests_per_unit, unit: l.unit } : undefined,
      concurrency: l.concurrency,
      streams: l.streams ?? false,
      shadow: l.shadow ?? false,
    })),
    service: svc && {
      address: parseHostPort(svc.address),
      domain: svc.domain ?? DEFAULTS.rateLimitDomain,
      timeoutMs: svc.timeout_ms ?? DEFAULTS.rateLimitTimeoutMs,
      failureMode: svc.failure_mode ?? (DEFAULTS.limitFailureMode as FailureMode),
    },
    redis: redis && {
      url: redis.url,
      timeoutMs: redis.timeout_ms ?? DEFAULTS.redisTimeoutMs,
      leaseTtlMs: redis.lease_ttl_ms ?? DEFAULTS.leaseTtlMs,
      failureMode: redis.failure_mode ?? (DEFAULTS.limitFailureMode as FailureMode),
    },
  };
}

type RawOtlp = NonNullable<NonNullable<RawConfig['audit']>['otlp']>;
const DEFAULT_PROTOCOL = 'http/protobuf';
const DEFAULT_SERVICE = 'mcp-gateway';

function otlpTargetOf(t: RawOtlp, endpoint: string, fallback?: TracingSection): OtlpTarget {
  return {
    endpoint,
    protocol: t.protocol ?? fallback?.protocol ?? DEFAULT_PROTOCOL,
    headers: t.headers ?? fallback?.headers ?? {},
    timeoutMs: t.timeout_ms ?? fallback?.timeoutMs ?? 10_000,
    exportIntervalMs: t.export_interval_ms ?? fallback?.exportIntervalMs ?? 1000,
  };
}

function tracingOf(t: NonNullable<RawConfig['telemetry']>['tracing']): TracingSection | undefined {
  if (!t) return undefined;
  const serviceName = t.service_name ?? DEFAULT_SERVICE;
  // Off unless asked for: Envoy's router would replace the gateway's span context upstream (src/envoy/tracing.ts).
  const envoy = t.envoy ?? false;
  return {
    ...otlpTargetOf(t, t.endpoint),
    samplerRatio: t.sampler_ratio ?? 1,
    serviceName,
    resourceAttributes: t.resource_attributes ?? {},
    envoy: { enabled: envoy !== false, serviceName: (typeof envoy === 'object' && envoy.service_name) || `${serviceName}-envoy` },
  };
}

/** audit.otlp: its own endpoint, or telemetry.tracing's (checkSemantics reports neither). */
function auditOtlpOf(a: RawOtlp | undefined, tracing: TracingSection | undefined): AuditSection['otlp'] {
  if (!a) return undefined;
  const endpoint = a.endpoint ?? tracing?.endpoint ?? '';
  const same = a.endpoint === undefined || a.endpoint === tracing?.endpoint;
  return {
    ...otlpTargetOf(a, endpoint, same ? tracing : undefined),
    serviceName: tracing?.serviceName ?? DEFAULT_SERVICE,
    resourceAttributes: tracing?.resourceAttributes ?? {},
  };
}

function usageOf(u: NonNullable<RawConfig['telemetry']>['usage']): GatewayConfig['telemetry']['usage'] {
  const label = u?.caller_label;
  return {
    callerLabel: label === undefined ? undefined : label === 'subject' || label === 'group' ? { kind: label } : { kind: 'claim', name: label.slice('claim:'.length) },
    maxCallers: u?.max_callers ?? DEFAULTS.usageMaxCallers,
  };
}

function checkSemantics(c: GatewayConfig, raw: RawConfig): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  const names = new Map<string, number>();
  const paths = new Map<string, number>();
  c.servers.forEach((s, i) => {
    const dupName = names.get(s.name);
    if (dupName !== undefined) out.push({ path: ['servers', i, 'name'], message: `duplicate server name "${s.name}" (also servers[${dupName}])` });
    names.set(s.name, i);
    const dupPath = paths.get(s.path);
    if (dupPath !== undefined) out.push({ path: ['servers', i, 'path'], message: `path ${s.path} is already served by servers[${dupPath}]` });
    paths.set(s.path, i);
    if (s.approvals.length && !c.approvals) out.push({ path: ['servers', i, 'approvals'], message: 'approval rules need the top-level approvals section (where the approval page listens)' });
    for (const u of s.replicas) {
      if (u.protocol !== 'http:' && u.protocol !== 'https:') {
        out.push({ path: ['servers', i, 'url'], message: `unsupported scheme ${u.protocol} (use http: or https:)` });
      }
      if (u.username || u.password) {
        out.push({ path: ['servers', i, 'url'], message: 'credentials in the URL are not allowed (they would end up in logs); use upstream_auth' });
      }
      if (u.protocol !== s.url.protocol || u.pathname !== s.url.pathname) {
        out.push({ path: ['servers', i, 'url'], message: 'replicas of one server must share scheme and path' });
      }
    }
    // Aggregates come after the configured servers and have no raw entry of their own.
    const rawServer = raw.servers[i];
    if (rawServer) for (const [key, message] of stdioProblems(rawServer)) out.push({ path: ['servers', i, key], message });
    const ua = rawServer?.upstream_auth;
    if (ua && (ua.static === undefined) === (ua.token_exchange === undefined)) {
      out.push({ path: ['servers', i, 'upstream_auth'], message: 'set exactly one of static or token_exchange' });
    }
    if (ua?.static && (ua.static.value_file === undefined) === (ua.static.value_env === undefined)) {
      out.push({ path: ['servers', i, 'upstream_auth', 'static'], message: 'set exactly one of value_file or value_env (secrets are never written inline)' });
    }
    if (ua?.token_exchange && (ua.token_exchange.client_secret_file === undefined) === (ua.token_exchange.client_secret_env === undefined)) {
      out.push({ path: ['servers', i, 'upstream_auth', 'token_exchange'], message: 'set exactly one of client_secret_file or client_secret_env' });
    }
    if (ua?.token_exchange && !raw.auth) {
      out.push({ path: ['servers', i, 'upstream_auth', 'token_exchange'], message: 'token exchange needs authenticated callers: configure auth' });
    }
    if (s.path.startsWith('/.well-known/')) out.push({ path: ['servers', i, 'path'], message: '/.well-known/ is reserved' });
    const oa = s.openapi;
    if (oa && !isLoopback(oa.listen.host)) out.push({ path: ['servers', i, 'openapi', 'listen'], message: 'the bridge listens on loopback only (it is reached through Envoy)' });
    if (oa && oa.baseUrl.protocol !== 'http:' && oa.baseUrl.protocol !== 'https:') out.push({ path: ['servers', i, 'openapi', 'base_url'], message: `unsupported scheme ${oa.baseUrl.protocol} (use http: or https:)` });
    if (oa && (oa.baseUrl.username || oa.baseUrl.password)) out.push({ path: ['servers', i, 'openapi', 'base_url'], message: 'credentials in the URL are not allowed (they would end up in logs); use upstream_auth' });
    const tls = raw.servers[i]?.tls;
    if (tls && s.url.protocol !== 'https:') out.push({ path: ['servers', i, 'tls'], message: 'tls applies to https: upstreams only' });
    if (tls && (tls.client_cert_file === undefined) !== (tls.client_key_file === undefined)) out.push({ path: ['servers', i, 'tls'], message: 'a client certificate needs both client_cert_file and client_key_file' });
    if (s.versions.length) {
      const seen = new Set<string>();
      s.versions.forEach((v, j) => {
        if (seen.has(v.name)) out.push({ path: ['servers', i, 'versions', j, 'name'], message: `duplicate version "${v.name}"` });
        seen.add(v.name);
        if (v.weight === 0 && !v.matchHeader) out.push({ path: ['servers', i, 'versions', j], message: 'weight 0 and no match_header: nothing would ever reach this version' });
        if (v.matchHeader?.name.startsWith('x-mcp-gateway-')) out.push({ path: ['servers', i, 'versions', j, 'match_header', 'name'], message: 'x-mcp-gateway- headers are the gateway\'s own' });
      });
      if (s.versions.every((v) => v.weight === 0)) out.push({ path: ['servers', i, 'versions'], message: 'at least one version needs a weight above 0 (requests without a matching header go by weight)' });
    }
    const cat = c.gateway.catalog;
    if (cat && (underPrefix(s.path, cat.path) || underPrefix(cat.path, s.path))) out.push({ path: ['gateway', 'catalog', 'path'], message: `overlaps the path of MCP server "${s.name}" (${s.path})` });
    for (const [j, r] of c.httpRoutes.entries()) {
      if (underPrefix(s.path, r.pathPrefix)) out.push({ path: ['http_routes', j, 'path_prefix'], message: `covers ${s.path}, the path of MCP server "${s.name}"` });
    }
    if ((s.integrity.pinning !== 'off' || s.integrity.validateArguments !== 'off') && s.integrity.lockfile === undefined) {
      out.push({ path: ['servers', i, s.integrity.pinning !== 'off' ? 'pinning' : 'validate_arguments'], message: 'needs a lockfile (servers[].lockfile or the top-level lockfile; create it with mcp-gateway tools lock)' });
    }
    const hc = s.traffic.healthCheck;
    if (hc && hc.timeoutMs >= hc.intervalMs) out.push({ path: ['servers', i, 'health_check', 'timeout_ms'], message: `must be shorter than interval_ms (${hc.intervalMs})` });
    if (raw.servers[i]?.health_check?.path !== undefined && hc?.kind === 'tcp') out.push({ path: ['servers', i, 'health_check', 'path'], message: 'a tcp health check has no path' });
  });
  out.push(...checkAggregates(raw.aggregates, c.servers, c.gateway));
  if (c.auth.jwt && c.auth.jwt.audiences.length === 0) {
    out.push({ path: ['auth', 'jwt', 'audiences'], message: 'required unless an oauth section is configured (then each server\'s canonical URI is its audience)' });
  }
  if (raw.oauth && !c.auth.jwt && !c.auth.envoyJwtAuthn) {
    out.push({ path: ['oauth'], message: 'an OAuth resource server verifies access tokens: configure auth.jwt (issuer and jwks of the authorization server)' });
  }
  if (c.gateway.tls?.requireClientCertificate && !c.gateway.tls.clientCaFile) {
    out.push({ path: ['gateway', 'tls', 'client_ca_file'], message: 'require_client_certificate needs the CA that signs client certificates' });
  }
  if (c.auth.mtls && !c.gateway.tls?.clientCaFile) {
    out.push({ path: ['auth', 'mtls'], message: 'mTLS identities need gateway.tls.client_ca_file (Envoy verifies the client certificate)' });
  }
  if (raw.sessions?.key_file !== undefined && raw.sessions.key_env !== undefined) {
    out.push({ path: ['sessions'], message: 'set one of key_file or key_env' });
  }
  raw.audit?.redact?.forEach((p, i) => {
    if (compileNamePattern(p) === undefined) out.push({ path: ['audit', 'redact', i], message: `"${p}" has no letters or digits, so it names nothing` });
  });
  raw.audit?.redact_values?.forEach((p, i) => {
    const problem = valuePatternProblem(p);
    if (problem) out.push({ path: ['audit', 'redact_values', i], message: problem });
  });
  const cat = c.gateway.catalog;
  if (cat && underPrefix(cat.path, '/.well-known')) out.push({ path: ['gateway', 'catalog', 'path'], message: '/.well-known/ is reserved' });
  c.httpRoutes.forEach((r, j) => {
    if (cat && (underPrefix(cat.path, r.pathPrefix) || underPrefix(r.pathPrefix, cat.path))) out.push({ path: ['gateway', 'catalog', 'path'], message: `overlaps http_routes[${j}] (${r.pathPrefix})` });
  });
  const routeNames = new Set<string>();
  c.httpRoutes.forEach((r, j) => {
    if (routeNames.has(r.name) || c.servers.some((s) => s.name === r.name)) out.push({ path: ['http_routes', j, 'name'], message: `"${r.name}" is already the name of a server or route` });
    routeNames.add(r.name);
    if (underPrefix('/.well-known/x', r.pathPrefix) || r.pathPrefix === '/.well-known') out.push({ path: ['http_routes', j, 'path_prefix'], message: '/.well-known/ is reserved' });
    if (r.pathPrefix === '/' ) out.push({ path: ['http_routes', j, 'path_prefix'], message: 'a route for every path would hide the MCP servers' });
    c.httpRoutes.forEach((o, k) => {
      if (k < j && (underPrefix(o.pathPrefix, r.pathPrefix) || underPrefix(r.pathPrefix, o.pathPrefix))) out.push({ path: ['http_routes', j, 'path_prefix'], message: `overlaps http_routes[${k}] (${o.pathPrefix})` });
    });
    for (const u of r.replicas) if (u.protocol !== 'http:' && u.protocol !== 'https:') out.push({ path: ['http_routes', j, 'url'], message: `unsupported scheme ${u.protocol} (use http: or https:)` });
    if (r.replicas.some((u) => u.protocol !== r.url.protocol || u.pathname !== r.url.pathname)) out.push({ path: ['http_routes', j, 'url'], message: 'replicas of one route must share scheme and path' });
    if (r.auth === 'required' && !c.auth.jwt && !c.auth.apiKeys && !c.auth.envoyJwtAuthn && !c.auth.mtls) out.push({ path: ['http_routes', j, 'auth'], message: 'auth: required needs a way to authenticate callers: configure auth' });
  });
  if (raw.audit?.otlp && !c.audit.otlp?.endpoint) out.push({ path: ['audit', 'otlp', 'endpoint'], message: 'audit.otlp needs an endpoint (or telemetry.tracing.endpoint to share)' });
  if (c.audit.sink === 'file' && !c.audit.file) out.push({ path: ['audit', 'file'], message: 'sink "file" needs audit.file: <path>' });
  if (raw.audit?.sink === 'stdout' && raw.audit.file) out.push({ path: ['audit', 'file'], message: 'audit.file is set but audit.sink is "stdout"; remove one' });
  const limitNames = new Map<string, number>();
  raw.rate_limits?.forEach((l, i) => {
    const dup = limitNames.get(l.name);
    if (dup !== undefined) out.push({ path: ['rate_limits', i, 'name'], message: `duplicate limit name "${l.name}" (also rate_limits[${dup}])` });
    limitNames.set(l.name, i);
    const rate = l.requests_per_unit !== undefined || l.unit !== undefined;
    if (rate && (l.requests_per_unit === undefined || l.unit === undefined)) {
      out.push({ path: ['rate_limits', i], message: 'a rate needs both requests_per_unit and unit (second, minute, hour or day)' });
    }
    if (rate === (l.concurrency !== undefined)) {
      out.push({ path: ['rate_limits', i], message: 'set either requests_per_unit + unit (a rate) or concurrency (requests in flight), not both' });
    }
    if (l.streams) {
      if (l.concurrency === undefined) out.push({ path: ['rate_limits', i, 'streams'], message: 'streams: true caps open GET streams: it needs concurrency (streams in flight), not a rate' });
      const perMessage = (['methods', 'tools', 'prompts', 'resources'] as const).filter((k) => l.match?.[k] !== undefined);
      if (perMessage.length) out.push({ path: ['rate_limits', i, 'match'], message: `a GET stream carries no JSON-RPC message: ${perMessage.join(', ')} cannot match it` });
      const perMessageKey = (l.key ?? []).filter((k) => k === 'tool' || k === 'method');
      if (perMessageKey.length) out.push({ path: ['rate_limits', i, 'key'], message: `a GET stream carries no JSON-RPC message: ${perMessageKey.join(', ')} cannot be part of its key` });
    }
    const key = l.key ?? [];
    const dupKey = key.find((k, j) => key.indexOf(k) !== j);
    if (dupKey !== undefined) out.push({ path: ['rate_limits', i, 'key'], message: `"${dupKey}" is listed twice` });
    const kinds = ['tools', 'prompts', 'resources'].filter((k) => l.match?.[k as 'tools'] !== undefined);
    if (kinds.length > 1) out.push({ path: ['rate_limits', i, 'match'], message: `a request addresses one kind of item: use one of ${kinds.join(', ')} per limit` });
    l.match?.servers?.forEach((g, j) => {
      if (!g.includes('*') && !g.includes('?') && !names.has(g)) out.push({ path: ['rate_limits', i, 'match', 'servers', j], message: `no server is named "${g}"` });
    });
  });
  const l = c.gateway.listen;
  const a = c.gateway.adminListen;
  if (l.host === a.host && l.port === a.port) out.push({ path: ['gateway', 'admin'], message: 'the admin address must differ from gateway.listen' });
  if (c.sidecar.listen.kind === 'tcp' && c.sidecar.listen.port === l.port && c.sidecar.listen.host === l.host) {
    out.push({ path: ['sidecar', 'listen'], message: 'the sidecar address must differ from gateway.listen' });
  }
  out.push(...workerListenProblems(c.sidecar, [l, a]));
  // Each worker has its own gate: they share approvals only through a shared store.
  if (c.approvals && c.sidecar.workers > 1 && c.approvals.store.kind !== 'redis') {
    out.push({ path: ['approvals', 'store'], message: 'with sidecar.workers > 1 approvals need store: { kind: redis } (each worker process holds calls back; they share the requests through the store)' });
  }
  return out;
}
