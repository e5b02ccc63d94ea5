// The YAML config schema: the user-facing shape, with named defaults.
// Unknown keys are errors (a typo must not silently disable a rule).
import { z } from 'zod';
import { authSchema } from '../identity/config.js';
import { DEFAULT_SECRET_NAMES, DEFAULT_VALUE_PATTERNS } from '../audit/redact.js';
import { approvalsSchema, serverApprovalsSchema } from '../approvals/config.js';
import { stdioServerFields } from '../stdio/config.js';
import { aggregateSchema } from '../aggregate/config.js';

export const DEFAULTS = {
  listen: '127.0.0.1:10000',
  admin: '127.0.0.1:9901',
  sidecarListen: '127.0.0.1:9000',
  pathPrefix: '/mcp',
  maxRequestBytes: 1024 * 1024,
  maxResponseBytes: 8 * 1024 * 1024,
  drainTimeMs: 3000,
  drainTimeoutMs: 25_000,
  streamIdleTimeoutS: 3600,
  messageTimeoutMs: 1000,
  connectTimeoutMs: 5000,
  policyTimeoutMs: 100,
  sessionTtlS: 24 * 3600,
  tokenExchangeTimeoutMs: 2000,
  policyReloadIntervalMs: 2000,
  usageMaxCallers: 100,
  rateLimitDomain: 'mcp-gateway',
  rateLimitTimeoutMs: 100,
  redisTimeoutMs: 100,
  leaseTtlMs: 30_000,
  limitFailureMode: 'closed',
  redact: DEFAULT_SECRET_NAMES,
  redactValues: Object.values(DEFAULT_VALUE_PATTERNS),
  loopbackOrigins: ['http://localhost', 'http://localhost:*', 'http://127.0.0.1', 'http://127.0.0.1:*', 'http://[::1]', 'http://[::1]:*'],
} as const;

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:10000');
const glob = z.string().min(1, 'a pattern cannot be empty');
const rules = z
  .object({
    allow: z.array(glob).optional(),
    deny: z.array(glob).optional(),
  })
  .strict();

const serverName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9_-]{0,62})$/, 'a server name is 1-63 characters of a-z, 0-9, "-" or "_", starting with a letter or digit');

const policyRef = z
  .object({
    bundle: z.string().min(1, 'the path of a bundle built by `mcp-gateway policy build`').optional(),
    dry_run: z.boolean().optional(),
  })
  .strict();

const scopeList = z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope is visible ASCII without spaces, quotes or backslashes'));

const oauthServer = z
  .object({
    scopes_supported: scopeList.optional(),
    required_scopes: scopeList.optional(),
  })
  .strict();

const upstreamAuth = z
  .object({
    static: z
      .object({
        header: z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/i, 'a header name').optional(),
        prefix: z.string().optional(),
        value_file: z.string().min(1).optional(),
        value_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
      })
      .strict()
      .optional(),
    token_exchange: z
      .object({
        token_endpoint: z.string().url('the authorization server token endpoint URL'),
        client_id: z.string().min(1),
        client_secret_file: z.string().min(1).optional(),
        client_secret_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
        audience: z.string().min(1).optional(),
        scope: z.string().min(1).optional(),
        timeout_ms: z.number().int().min(50).max(30_000).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const upstreamUrl = z.string().url('expected an absolute http(s) URL such as http://127.0.0.1:3001/mcp');

// How Envoy treats one server's replicas (src/envoy/upstream-cluster.ts): all optional, Envoy's
// own behaviour where a field is absent.
const healthCheck = z
  .object({
    kind: z.enum(['mcp', 'http', 'tcp']).optional(),
    path: z.string().regex(/^\/[A-Za-z0-9._~\/?=&%-]*$/, 'expected an absolute URL path such as /healthz').optional(),
    interval_ms: z.number().int().min(100).max(3_600_000).optional(),
    timeout_ms: z.number().int().min(50).max(60_000).optional(),
    unhealthy_threshold: z.number().int().min(1).max(100).optional(),
    healthy_threshold: z.number().int().min(1).max(100).optional(),
    // Below this share of healthy replicas Envoy ignores health (panic mode); 0: never.
    panic_threshold_percent: z.number().min(0).max(100).optional(),
  })
  .strict();
const outlierDetection = z
  .object({
    consecutive_gateway_errors: z.number().int().min(1).max(1000).optional(),
    consecutive_5xx: z.number().int().min(1).max(1000).optional(),
    interval_ms: z.number().int().min(100).max(3_600_000).optional(),
    base_ejection_ms: z.number().int().min(100).max(3_600_000).optional(),
    max_ejection_percent: z.number().int().min(1).max(100).optional(),
  })
  .strict();
const circuitBreakers = z
  .object({
    max_connections: z.number().int().min(1).optional(),
    max_pending_requests: z.number().int().min(1).optional(),
    max_requests: z.number().int().min(1).optional(),
    max_retries: z.number().int().min(0).optional(),
  })
  .strict();
const upstreamTls = z
  .object({
    ca_file: z.string().min(1).optional(),
    sni: z.string().min(1).optional(),
    subject_alt_names: z.array(z.string().min(1)).min(1).optional(),
    client_cert_file: z.string().min(1).optional(),
    client_key_file: z.string().min(1).optional(),
  })
  .strict();

const upstreamUrls = z.union([upstreamUrl, z.array(upstreamUrl).min(1)]);

// Versions of one upstream (stable, canary, staging…): new sessions by weight, or a version
// by a request header; each session stays on the replica (and so the version) that created it.
const upstreamVersion = z
  .object({
    name: serverName,
    url: upstreamUrls,
    weight: z.number().int().min(0).max(1000).optional(),
    match_header: z
      .object({
        name: z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'a lower-case header name'),
        value: z.string().min(1),
      })
      .strict()
      .optional(),
  })
  .strict();

// An OpenAPI-described REST API served as an MCP server by the gateway's bridge (src/openapi).
const openapiSelector = z.object({ tags: z.array(z.string().min(1)).min(1).optional(), operations: z.array(glob).min(1).optional() }).strict();
const openapiSource = z
  .object({
    spec: z.string().min(1, 'the path of the OpenAPI 3.0/3.1 document (YAML or JSON)'),
    base_url: upstreamUrl,
    // Where the bridge listens (loopback); absent: a free port chosen by `up`.
    listen: hostPort.optional(),
    include: openapiSelector.optional(),
    exclude: openapiSelector.optional(),
    timeout_ms: z.number().int().min(1).max(600_000).optional(),
    max_response_bytes: z.number().int().min(1024).max(256 * 1024 * 1024).optional(),
  })
  .strict();

const server = z
  .object({
    name: serverName,
    // Several URLs: replicas of one upstream (same scheme and path), load-balanced with sticky sessions.
    url: upstreamUrls.optional(),
    versions: z.array(upstreamVersion).min(1).optional(),
    openapi: openapiSource.optional(),
    // How the catalog describes this server (server.json's title, description, version).
    catalog: z.object({ title: z.string().min(1).max(100).optional(), description: z.string().min(1).max(100).optional(), version: z.string().min(1).max(255).optional() }).strict().optional(),
    // A local stdio program instead of a URL (src/stdio): command, env, cwd, stdio.
    ...stdioServerFields,
    upstream_auth: upstreamAuth.optional(),
    path: z.string().regex(/^\/[A-Za-z0-9._~\/-]*$/, 'expected an absolute URL path such as /mcp/tools').optional(),
    tools: rules.optional(),
    prompts: rules.optional(),
    resources: rules.optional(),
    connect_timeout_ms: z.number().int().positive().optional(),
    health_check: healthCheck.optional(),
    outlier_detection: outlierDetection.optional(),
    circuit_breakers: circuitBreakers.optional(),
    // Retries of requests that never reached an upstream (connect failure, refused stream).
    retries: z.number().int().min(0).max(10).optional(),
    max_call_duration_ms: z.number().int().min(1).optional(),
    tls: upstreamTls.optional(),
    policy: policyRef.optional(),
    oauth: oauthServer.optional(),
    forward_cookies: z.boolean().optional(),
    inspect_responses: z.enum(['all', 'lists']).optional(),
    // Cost units per tools/call that passed, by tool name or glob (first match in the order written).
    tool_costs: z.record(glob, z.number().min(0)).optional(),
    // Tool integrity (src/integrity): pinning to a lockfile of reviewed definitions, argument validation.
    pinning: z.enum(['enforce', 'observe', 'off']).optional(),
    lockfile: z.string().min(1).optional(),
    validate_arguments: z.enum(['enforce', 'off']).optional(),
    scan_definitions: z.enum(['off', 'flag', 'hide']).optional(),
    allowed_url_hosts: z.array(glob).optional(),
    // Tool results scanned for secrets and personal data (redacted, blocked or flagged).
    scan_results: z
      .object({
        action: z.enum(['redact', 'block', 'flag']).optional(),
        detect: z.array(z.enum(['secrets', 'pii', 'prompt_injection'])).min(1).optional(),
        tools: z.array(glob).min(1).optional(),
        // An external guardrail asked about every string of the results (fails closed).
        external: z.object({ url: z.string().url('the guardrail endpoint URL'), timeout_ms: z.number().int().min(10).max(30_000).optional() }).strict().optional(),
      })
      .strict()
      .optional(),
    // Human approval before these tools run (src/approvals; needs the top-level approvals section).
    approvals: serverApprovalsSchema.optional(),
  })
  .strict()
  .refine((s) => [s.url, s.versions, s.command, s.openapi].filter((x) => x !== undefined).length === 1, { message: 'set exactly one of url, versions, command or openapi', path: ['url'] });

const globs = z.array(glob).min(1, 'list at least one pattern, or leave the key out').optional();
const failureMode = z.enum(['open', 'closed']);

const rateLimit = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'a limit name is 1-63 characters of A-Z, a-z, 0-9, "_", "." or "-"'),
    match: z
      .object({
        servers: globs,
        methods: globs,
        tools: globs,
        prompts: globs,
        resources: globs,
        subjects: globs,
        groups: globs,
        auth_methods: z.array(z.enum(['jwt', 'api_key', 'envoy_jwt_authn', 'mtls', 'anonymous'])).min(1).optional(),
        claims: z.record(z.string().min(1), z.array(glob).min(1)).optional(),
      })
      .strict()
      .optional(),
    key: z.array(z.string().regex(/^(caller|server|tool|method|claim:[A-Za-z0-9_.:\/-]+)$/, 'expected caller, server, tool, method or claim:<name>')).optional(),
    requests_per_unit: z.number().int().min(1).max(4_294_967_295).optional(),
    unit: z.enum(['second', 'minute', 'hour', 'day']).optional(),
    concurrency: z.number().int().min(1).max(1_000_000).optional(),
    streams: z.boolean().optional(),
    shadow: z.boolean().optional(),
  })
  .strict();

const otlpEndpoint = z
  .string()
  .url('expected the collector\'s base URL, e.g. http://127.0.0.1:4318')
  .refine((u) => /^https?:\/\//.test(u), 'expected an http:// or https:// URL');
const otlpTarget = z
  .object({
    endpoint: otlpEndpoint.optional(),
    protocol: z.enum(['grpc', 'http/protobuf']).optional(),
    headers: z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'expected an HTTP header name'), z.string()).optional(),
    timeout_ms: z.number().int().min(1).max(60_000).optional(),
    export_interval_ms: z.number().int().min(10).max(60_000).optional(),
  })
  .strict();

export const configSchema = z
  .object({
    gateway: z
      .object({
        listen: hostPort.optional(),
        admin: hostPort.optional(),
        path_prefix: z.string().regex(/^\/[A-Za-z0-9._~\/-]*[^\/]$/, 'expected a path such as /mcp (no trailing slash)').optional(),
        allowed_origins: z.array(glob).optional(),
        allowed_hosts: z.array(glob).optional(),
        max_request_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).optional(),
        max_response_bytes: z.number().int().min(1024).max(256 * 1024 * 1024).optional(),
        stream_idle_timeout_s: z.number().int().min(0).optional(),
        drain_time_ms: z.number().int().min(0).max(600_000).optional(),
        drain_timeout_ms: z.number().int().min(0).max(3_600_000).optional(),
        tls: z
          .object({
            cert_file: z.string().min(1),
            key_file: z.string().min(1),
            client_ca_file: z.string().min(1).optional(),
            require_client_certificate: z.boolean().optional(),
          })
          .strict()
          .optional(),
        public_url: z.string().url('expected the absolute URL clients use to reach the gateway, e.g. https://mcp.example.com').optional(),
        // The discovery endpoint (MCP Registry API shape) listing the servers each caller may use (src/catalog).
        catalog: z
          .object({
            path: z.string().regex(/^\/[A-Za-z0-9._~\/-]*[^\/]$/, 'expected a path such as /v0.1/servers (no trailing slash)').optional(),
            namespace: z.string().regex(/^[a-zA-Z0-9.-]+$/, 'a reverse-DNS namespace such as com.example.mcp').optional(),
            cache_ttl_ms: z.number().int().min(0).max(86_400_000).optional(),
          })
          .strict()
          .optional(),
        // The aggregator's own port (aggregates only; loopback).
        aggregator_listen: hostPort.optional(),
      })
      .strict()
      .optional(),
    sidecar: z
      .object({
        listen: z.union([hostPort, z.string().regex(/^unix:\/.+/, 'expected host:port or unix:/absolute/path.sock')]).optional(),
        message_timeout_ms: z.number().int().min(50).max(60000).optional(),
        // Processes serving ext_proc: a number, or "auto" (the cores available). 1: one process.
        workers: z.union([z.number().int().min(1).max(64), z.literal('auto')]).optional(),
      })
      .strict()
      .optional(),
    servers: z.array(server).min(1, 'at least one server is needed'),
    // One endpoint over several servers (src/aggregate), opt-in.
    aggregates: z.array(aggregateSchema).optional(),
    // The lockfile of reviewed tool definitions (`mcp-gateway tools lock`), for every server that does not name its own.
    lockfile: z.string().min(1).optional(),
    // Plain HTTP routes beside the MCP servers, on the same listener: passed through Envoy
    // without the sidecar (auth: none) or after the sidecar authenticated the caller.
    http_routes: z
      .array(
        z
          .object({
            name: serverName,
            path_prefix: z.string().regex(/^\/[A-Za-z0-9._~\/-]*[^\/]$/, 'expected a path such as /api/weather (no trailing slash)'),
            url: upstreamUrls,
            auth: z.enum(['none', 'required']).optional(),
            forward_credentials: z.boolean().optional(),
            connect_timeout_ms: z.number().int().positive().optional(),
            timeout_ms: z.number().int().min(0).optional(),
          })
          .strict(),
      )
      .optional(),
    auth: authSchema.optional(),
    sessions: z
      .object({
        key_file: z.string().min(1).optional(),
        key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
        ttl_s: z.number().int().min(60).optional(),
      })
      .strict()
      .optional(),
    oauth: oauthServer
      .extend({
        authorization_servers: z.array(z.string().url('expected an authorization server issuer URL')).min(1, 'at least one authorization server is needed'),
        resource_documentation: z.string().url().optional(),
      })
      .strict()
      .optional(),
    policy: policyRef
      .extend({
        timeout_ms: z.number().int().min(1).max(10_000).optional(),
        reload_interval_ms: z.number().int().min(100).optional(),
        visibility_cache: z
          .object({
            key: z
              .array(
                z
                  .string()
                  .regex(/^(identity|server|attributes|mcp)(\.[A-Za-z0-9_:\/-]+)+$|^(identity|server)$/, 'a dot path into the policy input, e.g. identity.groups or identity.claims.tenant')
                  .refine((p) => !/^mcp\.(request_id|arguments|tool|prompt|resource|target|method|kind)\b/.test(p), 'this input path varies per message: visibility cannot be cached by it'),
              )
              .min(1, 'name the input paths visibility depends on (e.g. identity.groups)'),
            max_classes: z.number().int().min(1).max(1_000_000).optional(),
            max_items: z.number().int().min(1).max(1_000_000).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    audit: z
      .object({
        sink: z.enum(['stdout', 'file']).optional(),
        file: z.string().min(1).optional(),
        redact: z.array(z.string().min(1)).optional(),
        redact_defaults: z.boolean().optional(),
        redact_values: z.array(z.string().min(1)).optional(),
        redact_value_defaults: z.boolean().optional(),
        include_arguments: z.boolean().optional(),
        policy_input: z.boolean().optional(),
        durability: z.enum(['buffered', 'write_through', 'fsync']).optional(),
        // Audit events as OpenTelemetry log records; endpoint and protocol default to telemetry.tracing's.
        otlp: otlpTarget.optional(),
      })
      .strict()
      .optional(),
    telemetry: z
      .object({
        // The sidecar's HTTP endpoint: /metrics (Prometheus), /healthz, /readyz. Off when unset.
        listen: hostPort.optional(),
        usage: z
          .object({
            caller_label: z.string().regex(/^(subject|group|claim:[A-Za-z0-9_.:\/-]+)$/, 'expected subject, group or claim:<name>').optional(),
            max_callers: z.number().int().min(1).max(10_000).optional(),
          })
          .strict()
          .optional(),
        tracing: otlpTarget
          .extend({
            endpoint: otlpEndpoint,
            sampler_ratio: z.number().min(0).max(1).optional(),
            service_name: z.string().min(1).optional(),
            resource_attributes: z.record(z.string().min(1), z.string()).optional(),
            envoy: z.union([z.boolean(), z.object({ service_name: z.string().min(1).optional() }).strict()]).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    // Limits on requests (tools/call, prompts/get, …): rates and concurrency caps.
    rate_limits: z.array(rateLimit).optional(),
    rate_limit_service: z
      .object({
        address: hostPort,
        domain: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a domain is 1-64 characters of A-Z, a-z, 0-9, "_", "." or "-"').optional(),
        timeout_ms: z.number().int().min(5).max(10_000).optional(),
        failure_mode: failureMode.optional(),
      })
      .strict()
      .optional(),
    redis: z
      .object({
        url: z.string().regex(/^rediss?:\/\/.+/, 'expected redis://host:port or rediss://host:port'),
        timeout_ms: z.number().int().min(5).max(10_000).optional(),
        lease_ttl_ms: z.number().int().min(1000).max(3_600_000).optional(),
        failure_mode: failureMode.optional(),
      })
      .strict()
      .optional(),
    // Approval gates: the approval page's listener, the store of approvals, the webhook (src/approvals).
    approvals: approvalsSchema.optional(),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).optional() })
      .strict()
      .optional(),
  })
  .strict();

export type RawConfig = z.infer<typeof configSchema>;
