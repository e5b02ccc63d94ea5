// Everything compiled from one config: routes, curations, matchers, redactor.
// Built once at start-up (and on reload, then swapped as one reference).
import type { GatewayConfig, HttpRouteConfig, ServerConfig } from '../config/types.js';
import { underPrefix } from '../config/paths.js';
import { compileCuration, type Curation } from '../curation/curation.js';
import { compileGlobs, type GlobSet } from '../curation/glob.js';
import { createRedactor, type Redactor } from '../audit/redact.js';
import type { AuditSink } from '../audit/event.js';
import type { Authenticator, Identity } from '../identity/types.js';
import { createAuthenticator } from '../identity/authenticator.js';
import { watchPolicyBundle, type PolicyWatcher } from '../policy/reloader.js';
import { createPolicyInputBuilder, type PolicyInputBuilder } from '../policy/input.js';
import type { Logger } from '../telemetry/log.js';
import type { Instruments } from '../telemetry/instruments.js';
import type { ExchangeTracer } from './trace.js';
import { protectedResourceMetadata } from '../oauth/metadata.js';
import { createBroker, type CredentialBroker } from '../credentials/broker.js';
import { readSecret } from '../credentials/secret.js';
import { SessionBinder } from '../sessions/binding.js';
import { randomBytes } from 'node:crypto';
import { callerAttribution, compileToolCosts, type CallerOf, type ToolCost } from '../usage/attribution.js';

export interface ServerRuntime {
  config: ServerConfig;
  curation: Curation;
  /** The Rego bundle in force for this server (hot-reloaded), if it has one. */
  policy: PolicyWatcher | undefined;
  /** What the upstream gets instead of the caller's credentials (undefined: nothing). */
  broker: CredentialBroker | undefined;
  /** Request headers removed before the upstream: the caller's credentials, and `cookie` unless `forward_cookies`. */
  stripHeaders: readonly string[];
  /** Something is hidden from some caller (curation or a policy): every response body is inspected. */
  governed: boolean;
  /** Resources are curated or under a policy: resource URIs must be canonical. */
  governsResources: boolean;
  /** Cost units of a tool (servers[].tool_costs); undefined: no costs configured. */
  toolCost: ToolCost | undefined;
}

function serverRuntime(s: ServerConfig, policy: PolicyWatcher | undefined, broker: CredentialBroker | undefined, stripHeaders: readonly string[]): ServerRuntime {
  const curation = compileCuration(s);
  const governsResources = policy !== undefined || !curation.isOpen('resource');
  const governed = governsResources || !curation.isOpen('tool') || !curation.isOpen('prompt');
  return { config: s, curation, policy, broker, governed, governsResources, stripHeaders, toolCost: compileToolCosts(s.toolCosts) };
}

export class GatewayRuntime {
  private readonly routes: Map<string, ServerRuntime>;
  private readonly hosts: GlobSet;
  private readonly origins: GlobSet;
  readonly redact: Redactor;
  readonly maxRequestBytes: number;
  readonly maxResponseBytes: number;
  readonly includeArguments: boolean;
  /** Request headers that carry the caller's credentials: never forwarded upstream, never shown to policy. */
  readonly credentialHeaders: readonly string[];

  constructor(
    readonly config: GatewayConfig,
    readonly audit: AuditSink,
    /** Undefined when the config has no auth section: every caller is anonymous. */
    readonly authenticator: Authenticator | undefined,
    private readonly policies: ReadonlyMap<string, PolicyWatcher> = new Map(),
    brokers: ReadonlyMap<string, CredentialBroker> = new Map(),
    /** Binds upstream session ids to callers; undefined when nobody is authenticated. */
    readonly sessions: SessionBinder | undefined = undefined,
    /** Spans per exchange (telemetry.tracing); undefined: tracing is off and costs nothing. */
    readonly tracer: ExchangeTracer | undefined = undefined,
  ) {
    this.credentialHeaders = authenticator
      ? [...new Set(['authorization', 'proxy-authorization', config.auth.apiKeys?.header ?? 'x-api-key'])]
      : [];
    const withCookie = [...new Set([...this.credentialHeaders, 'cookie'])];
    this.routes = new Map(
      config.servers.map((s) => [s.path, serverRuntime(s, s.policyBundle === undefined ? undefined : policies.get(s.policyBundle), brokers.get(s.name), s.forwardCookies ? this.credentialHeaders : withCookie)]),
    );
    this.hosts = compileGlobs(config.gateway.allowedHosts, { caseInsensitive: true });
    this.origins = compileGlobs(config.gateway.allowedOrigins, { caseInsensitive: true });
    this.redact = createRedactor({ names: config.audit.redact, values: config.audit.redactValues });
    this.maxRequestBytes = config.gateway.maxRequestBytes;
    this.maxResponseBytes = config.gateway.maxResponseBytes;
    this.includeArguments = config.audit.includeArguments;
    this.policyInput = createPolicyInputBuilder({ credentialHeaders: this.credentialHeaders });
    this.resourceMetadata = protectedResourceMetadata(config);
    this.callerOf = callerAttribution(config.telemetry.usage.callerLabel);
  }

  /** Who usage is attributed to (telemetry.usage.caller_label); undefined: not configured. */
  readonly callerOf: CallerOf | undefined;

  readonly policyInput: PolicyInputBuilder;
  /** RFC 9728 documents by well-known path (empty without an oauth section). */
  readonly resourceMetadata: ReadonlyMap<string, string>;

  /** Looks for changed policy bundles now (what SIGHUP does); resolves when any reload is done. */
  async checkPolicies(): Promise<void> {
    await Promise.all([...this.policies.values()].map((w) => w.check()));
  }

  /** Releases what the runtime holds open (JWKS refresh timers, bundle watchers). */
  close(): void {
    this.authenticator?.close();
    for (const w of this.policies.values()) w.close();
  }

  /** The virtual server at this request path (query string already removed). */
  route(path: string): ServerRuntime | undefined {
    return this.routes.get(path);
  }

  /** The plain HTTP route (`http_routes`) this path is under, as Envoy matches it. */
  httpRoute(path: string): HttpRouteConfig | undefined {
    for (const r of this.config.httpRoutes) if (underPrefix(path, r.pathPrefix)) return r;
    return undefined;
  }

  hostAllowed(host: string): boolean {
    return this.hosts.test(host);
  }

  originAllowed(origin: string): boolean {
    return this.origins.test(origin);
  }
}

/** The identity of every caller when no authentication is configured. */
export const ANONYMOUS: Identity = Object.freeze({ subject: 'anonymous', issuer: undefined, groups: [], scopes: [], claims: {}, method: 'anonymous' as const });

/**
 * Compiles a config into a runtime, loading what needs I/O (JWKS and API key files,
 * policy bundles, which are then watched and swapped atomically when they change).
 */
export async function createRuntime(config: GatewayConfig, audit: AuditSink, log: Logger, instruments?: Instruments, tracer?: ExchangeTracer): Promise<GatewayRuntime> {
  const hasAuth = config.auth.jwt !== undefined || config.auth.apiKeys !== undefined || config.auth.envoyJwtAuthn || !config.auth.anonymous;
  const authenticator = hasAuth ? await createAuthenticator(config.auth, instruments) : undefined;
  const policies = new Map<string, PolicyWatcher>();
  const brokers = new Map<string, CredentialBroker>();
  let sessions: SessionBinder | undefined;
  try {
    for (const s of config.servers) {
      const b = await createBroker(s.upstreamAuth, s.name, instruments?.tokenExchangeObserver(s.name));
      if (b) brokers.set(s.name, b);
    }
    if (config.sessions.key) {
      const keys = (await readSecret(config.sessions.key, 'sessions key')).split(/\r?\n/).map((k) => k.trim()).filter(Boolean);
      if (keys.some((k) => k.length < 32)) throw new Error('sessions key: each key must be at least 32 characters (e.g. openssl rand -base64 48)');
      sessions = new SessionBinder(keys.map((k) => Buffer.from(k, 'utf8')), config.sessions.ttlS);
    } else if (authenticator) {
      log.warn('sessions.key_file/key_env not set: session ids are bound with a key that lives only in this process (they will not survive a restart or work across replicas)');
      sessions = new SessionBinder([randomBytes(32)], config.sessions.ttlS);
    }
    for (const path of new Set(config.servers.map((s) => s.policyBundle).filter((p): p is string => p !== undefined))) {
      const watcher = await watchPolicyBundle(
        path,
        (b, reload) => {
          instruments?.policyBundleLoaded(path, b.revision, reload);
          log.info({ bundle: path, revision: b.revision }, 'policy bundle in force');
        },
        (err) => {
          instruments?.policyBundleFailed(path);
          log.error({ bundle: path, err: err.message }, 'policy bundle not loaded; the last good one stays in force');
        },
        {
          timeoutMs: config.policy.timeoutMs,
          pollMs: config.policy.reloadIntervalMs,
          onEvalError: (entrypoint, message) => log.warn({ entrypoint, message }, 'policy evaluation failed (denied)'),
          observer: instruments?.policyObserver(path),
        },
      );
      policies.set(path, watcher);
    }
  } catch (err) {
    authenticator?.close();
    for (const w of policies.values()) w.close();
    throw err;
  }
  return new GatewayRuntime(config, audit, authenticator, policies, brokers, sessions, tracer);
}
