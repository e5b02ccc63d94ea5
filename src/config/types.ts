// The normalized, validated configuration every other module reads.
// Produced once by loadConfig(); never mutated afterwards (reload swaps the whole object).
import type { AuthConfig } from '../identity/config.js';
import type { ResultScanConfig } from '../guardrails/result-guard.js';
import type { ApprovalRuleConfig, ApprovalsConfig } from '../approvals/config.js';
import type { StdioServerConfig } from '../stdio/config.js';
import type { AggregateConfig } from '../aggregate/config.js';

export type { AuthConfig };

export interface HostPort {
  host: string;
  port: number;
}

/** Allow/deny globs for one kind of MCP item. `*` matches any run of characters, `?` one. */
export interface CurationRules {
  allow: readonly string[];
  deny: readonly string[];
}

export interface ServerConfig {
  /** Name of the virtual server; also its Envoy cluster suffix. */
  name: string;
  /** Path the gateway serves it at (default `<path_prefix>/<name>`). */
  path: string;
  /** The upstream MCP endpoint (the first replica). */
  url: URL;
  /** Every replica (same scheme and path), of every version; one element for most servers. */
  replicas: readonly URL[];
  /** `versions`: named groups of replicas; empty when the server has a plain `url`. */
  versions: readonly UpstreamVersion[];
  /** `servers[].catalog`: how the catalog describes the server (each field optional). */
  catalog: { title: string | undefined; description: string | undefined; version: string | undefined };
  /** `openapi`: the REST API behind the gateway's bridge, which is then this server's upstream (src/openapi). */
  openapi: OpenApiSource | undefined;
  /** `command`: a stdio program the gateway runs behind a bridge at `url` (src/stdio); undefined: a URL upstream. */
  stdio: StdioServerConfig | undefined;
  /** What the upstream receives in place of the caller's credentials. */
  upstreamAuth: UpstreamAuthConfig;
  tools: CurationRules;
  prompts: CurationRules;
  /** Matched against resource URIs (and, for templates/list, the uriTemplate text). */
  resources: CurationRules;
  /** Upstream connect timeout (Envoy cluster). */
  connectTimeoutMs: number;
  /** How Envoy treats the replicas: health checks, ejection, limits, retries, call duration, TLS. */
  traffic: UpstreamTraffic;
  /** The Rego bundle governing this server (absolute path), or undefined for curation only. */
  policyBundle: string | undefined;
  /** Evaluate and audit the policy, but let denied traffic pass ("would deny"). */
  dryRun: boolean;
  /** OAuth 2.1 resource-server facts, when the config has an `oauth` section. */
  oauth: ServerOAuth | undefined;
  /** Pass the caller's `Cookie` header to the upstream (default: stripped, it is a credential). */
  forwardCookies: boolean;
  /**
   * On a governed server, which upstream answers the sidecar reads: `all` (every 2xx POST
   * and GET body: lists under any id, replays, resource notifications) or `lists` (only the
   * answer to a list request, cheaper, and blind to replays and answers under other ids).
   */
  inspectResponses: 'all' | 'lists';
  /** `tool_costs`: cost units of a tools/call that passed, first matching pattern wins (empty: no cost). */
  toolCosts: readonly { pattern: string; units: number }[];
  /** Tool integrity: pinning to the lockfile, argument validation (src/integrity). */
  integrity: ServerIntegrity;
  /** `approvals`: tools that need a human's approval per call (src/approvals); empty: none. */
  approvals: readonly ApprovalRuleConfig[];
  /**
   * An aggregate (`aggregates[]`): its upstream is the gateway's aggregator, which gets the
   * caller's credentials (to call each member through the listener as the caller); undefined otherwise.
   */
  aggregate: AggregateConfig | undefined;
}

export interface OpenApiSource {
  /** The OpenAPI document (absolute path). */
  spec: string;
  baseUrl: URL;
  /** Where the bridge listens; port 0 until `up` binds a free one (then `url` is the bound address). */
  listen: HostPort;
  include: { tags: readonly string[] | undefined; operations: readonly string[] | undefined };
  exclude: { tags: readonly string[]; operations: readonly string[] };
  timeoutMs: number;
  maxResponseBytes: number;
}

export interface ServerIntegrity {
  /** `enforce`: items that differ from the lock (or that it lacks) are hidden and refused; `observe`: flagged only. */
  pinning: 'enforce' | 'observe' | 'off';
  /** The lockfile (absolute path): `servers[].lockfile`, else the top-level `lockfile`. */
  lockfile: string | undefined;
  /** `enforce`: tools/call arguments are validated against the lock's inputSchema before the upstream. */
  validateArguments: 'enforce' | 'off';
  /** `flag` | `hide`: listed definitions are scanned for hidden instructions, invisible Unicode, long base64, unknown URL hosts. */
  scanDefinitions: 'off' | 'flag' | 'hide';
  /** Hosts (globs) URLs in definitions may name besides the upstream's own. */
  allowedUrlHosts: readonly string[];
  /** servers[].scan_results: tool results scanned for secrets and personal data; undefined: off. */
  scanResults: ResultScanConfig | undefined;
}

export interface HttpRouteConfig {
  name: string;
  /** Matches this path and everything under it (`/api/x`, `/api/x/…`; not `/api/xy`). */
  pathPrefix: string;
  url: URL;
  replicas: readonly URL[];
  /** `none`: Envoy alone; `required`: the sidecar authenticates the caller first (audited). */
  auth: 'none' | 'required';
  /** Pass the caller's credentials on (default: removed, as for MCP servers). */
  forwardCredentials: boolean;
  connectTimeoutMs: number;
  /** Envoy's route timeout (0: none). */
  timeoutMs: number;
}

export interface UpstreamVersion {
  name: string;
  replicas: readonly URL[];
  /** Share of new sessions (relative to the other versions); 0: only by `matchHeader`. */
  weight: number;
  /** A request with this header value goes to this version. */
  matchHeader: { name: string; value: string } | undefined;
}

export interface UpstreamTraffic {
  /** Active health checks of every replica; undefined: none (Envoy's default). */
  healthCheck:
    | { kind: 'mcp' | 'http' | 'tcp'; path: string; intervalMs: number; timeoutMs: number; unhealthyThreshold: number; healthyThreshold: number; panicThresholdPercent: number }
    | undefined;
  /** Passive ejection of a failing replica; undefined: none. */
  outlierDetection: { consecutiveGatewayErrors: number | undefined; consecutive5xx: number | undefined; intervalMs: number; baseEjectionMs: number; maxEjectionPercent: number } | undefined;
  /** Envoy's circuit-breaker thresholds (undefined fields keep Envoy's 1024 / 3 defaults). */
  circuitBreakers: { maxConnections?: number; maxPendingRequests?: number; maxRequests?: number; maxRetries?: number } | undefined;
  /** Retries of requests that never reached an upstream (0: none). */
  retries: number;
  /** Longest a POST may take to be answered in full (SSE answers included); undefined: no limit. */
  maxCallDurationMs: number | undefined;
  /** TLS to an https: upstream (absolute paths). */
  tls: { caFile: string; sni: string | undefined; subjectAltNames: readonly string[] | undefined; clientCertFile: string | undefined; clientKeyFile: string | undefined };
}

export interface ServerOAuth {
  /** Canonical resource URI (RFC 8707): `<gateway.public_url><path>`; tokens must name it in `aud`. */
  resource: string;
  /** Where its RFC 9728 metadata is served (absolute URL) and the path of that URL. */
  metadataUrl: string;
  metadataPath: string;
  authorizationServers: readonly string[];
  scopesSupported: readonly string[];
  /** Scopes a token must carry; otherwise 403 insufficient_scope. */
  requiredScopes: readonly string[];
  resourceDocumentation: string | undefined;
}

export interface SecretRef {
  file?: string | undefined;
  env?: string | undefined;
}

export type UpstreamAuthConfig =
  | { kind: 'none' }
  | { kind: 'static'; header: string; prefix: string; secret: SecretRef }
  | { kind: 'token_exchange'; tokenEndpoint: string; clientId: string; clientSecret: SecretRef; audience: string; scope: string | undefined; timeoutMs: number };

export interface SessionsSection {
  /** Where the binding key(s) come from; undefined: an ephemeral key per process (when auth is on). */
  key: SecretRef | undefined;
  ttlS: number;
}

export interface PolicySection {
  timeoutMs: number;
  reloadIntervalMs: number;
  /** List visibility remembered per caller class (the input paths in `key`); undefined: every list evaluated. */
  visibilityCache: { key: readonly string[]; maxClasses: number; maxItems: number } | undefined;
}

export interface GatewaySection {
  listen: HostPort;
  pathPrefix: string;
  adminListen: HostPort;
  /** Origin header allow-list (globs). A request with any other Origin gets 403. */
  allowedOrigins: readonly string[];
  /** Host header allow-list (globs); `*` allows any host. */
  allowedHosts: readonly string[];
  maxRequestBytes: number;
  maxResponseBytes: number;
  /** Envoy's --drain-time-s (rounded up to seconds): over how long a drain asks connections to close (HTTP/2 GOAWAY, HTTP/1 `Connection: close`). */
  drainTimeMs: number;
  /** How long a drain waits for open requests (SSE streams too) before Envoy stops. */
  drainTimeoutMs: number;
  /** TLS on the listener (absolute paths); with a client CA, client certificates are verified. */
  tls: { certFile: string; keyFile: string; clientCaFile: string | undefined; requireClientCertificate: boolean } | undefined;
  /** How clients reach the gateway (scheme://host[:port], no trailing slash). */
  publicUrl: string;
  /** `gateway.catalog`: the discovery endpoint; undefined: not served. */
  catalog: { path: string; namespace: string; cacheTtlMs: number } | undefined;
  /** Envoy stream idle timeout; long enough for quiet SSE streams. */
  streamIdleTimeoutS: number;
  /** Where the aggregator listens (used only with aggregates). */
  aggregatorListen: HostPort;
}

export interface SidecarSection {
  /** `host:port` or `unix:/path/to.sock`. */
  listen: { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };
  /** Envoy's ext_proc message_timeout. */
  messageTimeoutMs: number;
  /** ext_proc worker processes (`auto` resolved to the cores available); 1: the sidecar is one process. */
  workers: number;
}

export interface AuditSection {
  sink: 'stdout' | 'file';
  file: string | undefined;
  /**
   * Secret-name patterns in force (the built-ins unless `redact_defaults: false`, plus
   * `redact`): matched against normalised argument keys at any depth (see audit/redact.ts).
   */
  redact: readonly string[];
  /** Value patterns in force (RegExp sources): matching substrings of any string are replaced. */
  redactValues: readonly string[];
  /** Record tool/prompt arguments at all. */
  includeArguments: boolean;
  /** Record the (redacted) policy input in policy-decided events, for `mcp-gateway policy replay`. */
  policyInput: boolean;
  /**
   * When an event is on its way to disk: 'buffered' (batched, flushed every 250 ms and on
   * SIGTERM), 'write_through' (write(2) before the sidecar replies to Envoy), 'fsync' (and fsync(2)).
   */
  durability: AuditDurability;
  /** Audit events also as OpenTelemetry log records over OTLP (`audit.otlp`); undefined: not exported. */
  otlp: (OtlpTarget & { serviceName: string; resourceAttributes: Readonly<Record<string, string>> }) | undefined;
}

/** Where OTLP goes: the collector's base URL (as OTEL_EXPORTER_OTLP_ENDPOINT). */
export interface OtlpTarget {
  endpoint: string;
  protocol: 'grpc' | 'http/protobuf';
  /** Sent with every export (e.g. a collector's API key). */
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
  /** How long spans / log records wait in the batch before they are exported. */
  exportIntervalMs: number;
}

/** `telemetry.tracing`: OpenTelemetry traces over OTLP. */
export interface TracingSection extends OtlpTarget {
  /** Share of traces that start at the gateway which are sampled (the caller's sampled flag decides the others). */
  samplerRatio: number;
  serviceName: string;
  resourceAttributes: Readonly<Record<string, string>>;
  /** Envoy's own spans (its OpenTelemetry tracer) to the same collector. */
  envoy: { enabled: boolean; serviceName: string };
}

export type AuditDurability = 'buffered' | 'write_through' | 'fsync';

/** Who usage is attributed to (`telemetry.usage`). */
export interface UsageSection {
  /** The caller key: in the audit event's `caller` and as the usage metrics' `caller` label; undefined: no caller label. */
  callerLabel: { kind: 'subject' } | { kind: 'group' } | { kind: 'claim'; name: string } | undefined;
  /** Distinct caller label values before the rest count as `_other`. */
  maxCallers: number;
}

export type LimitUnit = 'second' | 'minute' | 'hour' | 'day';

/**
 * A counter key dimension: `caller` (the identity's subject: JWT sub, API key name, mTLS
 * identity), `server`, `tool` (the tool, prompt or resource addressed), `method`, or
 * `claim:<name>` (a verified token claim, e.g. a tenant).
 */
export type LimitDimension = 'caller' | 'server' | 'tool' | 'method' | `claim:${string}`;

/** Which requests a limit applies to; every listed field must match (globs; empty lists are absent). */
export interface LimitMatch {
  servers: readonly string[] | undefined;
  methods: readonly string[] | undefined;
  tools: readonly string[] | undefined;
  prompts: readonly string[] | undefined;
  resources: readonly string[] | undefined;
  subjects: readonly string[] | undefined;
  groups: readonly string[] | undefined;
  authMethods: readonly string[] | undefined;
  claims: Readonly<Record<string, readonly string[]>> | undefined;
}

export interface RateLimitConfig {
  name: string;
  match: LimitMatch;
  key: readonly LimitDimension[];
  /** A rate (requests per unit, fixed window) or a concurrency cap (requests in flight): exactly one. */
  rate: { requestsPerUnit: number; unit: LimitUnit } | undefined;
  concurrency: number | undefined;
  /**
   * A concurrency cap on open server streams (HTTP GET, server-to-client SSE) instead of
   * requests: held while the stream is open. Stream caps never count requests, nor the reverse.
   */
  streams: boolean;
  /** Count, audit and meter, but let the request through. */
  shadow: boolean;
}

export type FailureMode = 'open' | 'closed';

export interface RateLimitServiceConfig {
  /** gRPC address of envoyproxy/ratelimit (host:port). */
  address: HostPort;
  domain: string;
  timeoutMs: number;
  failureMode: FailureMode;
}

export interface RedisConfig {
  url: string;
  timeoutMs: number;
  /** A slot not renewed for this long is free again (a crashed replica cannot hold it forever). */
  leaseTtlMs: number;
  failureMode: FailureMode;
}

export interface LimitsSection {
  limits: readonly RateLimitConfig[];
  /** Rates are counted by envoyproxy/ratelimit (shared by all replicas); undefined: in-process. */
  service: RateLimitServiceConfig | undefined;
  /** Concurrency slots are held in Redis (shared by all replicas); undefined: in-process. */
  redis: RedisConfig | undefined;
}

export interface GatewayConfig {
  gateway: GatewaySection;
  sidecar: SidecarSection;
  servers: readonly ServerConfig[];
  /** Plain HTTP routes beside the MCP servers (`http_routes`). */
  httpRoutes: readonly HttpRouteConfig[];
  /** The top-level `lockfile` (absolute path), the default of every server's. */
  lockfile: string | undefined;
  auth: AuthConfig;
  sessions: SessionsSection;
  policy: PolicySection;
  audit: AuditSection;
  /** `rate_limits`, `rate_limit_service`, `redis`. */
  limits: LimitsSection;
  /** The sidecar's HTTP endpoint (/metrics, /healthz, /readyz); undefined: none. */
  telemetry: { listen: HostPort | undefined; usage: UsageSection; tracing: TracingSection | undefined };
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent' };
  /** Approval gates (the page, the store, the webhook); undefined: no call can be approved. */
  approvals: ApprovalsConfig | undefined;
  /** Where the config was loaded from, for messages. */
  source: string;
}
