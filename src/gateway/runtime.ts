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
import { createPolicyInputBuilder, type ListItem, type PolicyInput, type PolicyInputBuilder } from '../policy/input.js';
import { VisibilityCache } from '../policy/visibility-cache.js';
import type { Logger } from '../telemetry/log.js';
import type { Instruments } from '../telemetry/instruments.js';
import type { ExchangeTracer } from './trace.js';
import { protectedResourceMetadata } from '../oauth/metadata.js';
import { createBroker, type CredentialBroker } from '../credentials/broker.js';
import { readSecret } from '../credentials/secret.js';
import { SessionBinder } from '../sessions/binding.js';
import { randomBytes } from 'node:crypto';
import { Limiter, createBackends } from '../limits/limiter.js';
import type { LimiterBackendPool } from '../limits/backend-pool.js';
import { callerAttribution, compileToolCosts, type CallerOf, type ToolCost } from '../usage/attribution.js';
import type { ServerPins } from '../integrity/pins.js';
import { loadPins } from '../integrity/load-pins.js';
import { DefinitionScreen } from '../integrity/screen.js';
import { ResultGuard } from '../guardrails/result-guard.js';
import { ApprovalRules } from '../approvals/demand.js';
import type { ApprovalGate } from '../approvals/gate.js';
import { Catalog } from '../catalog/catalog.js';

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
  /** Resources are curated, pinned or under a policy: resource URIs must be canonical. */
  governsResources: boolean;
  /** Cost units of a tool (servers[].tool_costs); undefined: no costs configured. */
  toolCost: ToolCost | undefined;
  /** The names of `items` the policy lets this caller see (through policy.visibility_cache when configured); undefined without a policy. */
  visibleSet: ((input: PolicyInput, items: readonly ListItem[]) => Set<string>) | undefined;
  /** The server's pins in the lockfile (servers[].pinning, validate_arguments); undefined: neither is on. */
  pins: ServerPins | undefined;
  /** Definition scanning of listed items (servers[].scan_definitions); undefined: off. */
  screen: DefinitionScreen | undefined;
  /** Tool-result scanning (servers[].scan_results); undefined: off. */
  resultGuard: ResultGuard | undefined;
  /** servers[].approvals compiled; undefined: no tool of this server needs approval by config. */
  approvalRules: ApprovalRules | undefined;
}

function serverRuntime(s: ServerConfig, policy: PolicyWatcher | undefined, broker: CredentialBroker | undefined, stripHeaders: readonly string[], pins: ServerPins | undefined, cache: VisibilityCache | undefined): ServerRuntime {
  const curation = compileCuration(s);
  // Pinned reads are matched against templates: one spelling of a URI, the canonical one.
  const governsResources = policy !== undefined || !curation.isOpen('resource') || (pins !== undefined && pins.pinning !== 'off');
  // Pinned lists are checked item by item, so their answers are read like curated ones.
  const scan = s.integrity.scanDefinitions;
  const screen = scan === 'off' ? undefined : new DefinitionScreen(scan, s.url.hostname, s.integrity.allowedUrlHosts);
  const resultGuard = s.integrity.scanResults && new ResultGuard(s.integrity.scanResults);
  const governed = governsResources || !curation.isOpen('tool') || !curation.isOpen('prompt') || (pins !== undefined && pins.pinning !== 'off') || screen !== undefined || resultGuard !== undefined;
  const visibleSet =
    policy === undefined
      ? undefined
      : cache
        ? (input: PolicyInput, items: readonly ListItem[]) => cache.visibleSet(policy.current(), s.name, input, items)
        : (input: PolicyInput, items: readonly ListItem[]) => policy.current().visibleSet(input, items);
  const approvalRules = s.approvals.length ? new ApprovalRules(s.approvals) : undefined;
  return { config: s, curation, policy, broker, governed, governsResources, stripHeaders, toolCost: compileToolCosts(s.toolCosts), visibleSet, pins, screen, resultGuard, approvalRules };
}

export class GatewayRuntime {
  private readonly routes: Map<string, ServerRuntime>;
  private readonly hosts: GlobSet;
  private readonly origins: GlobSet;
  readonly redact: Redactor;
  readonly maxRequestBytes: number;
  readonly maxResponseBytes: number;
  readonly includeArguments: boolean;
  /**
   * The policy input as the audit event records it (audit.policy_input): headers and
   * identity redacted, the arguments as the event already holds them (redacted, or none
   * with include_arguments: false). Undefined: not recorded.
   */
  readonly recordedPolicyInput: ((input: PolicyInput, eventArguments: unknown) => unknown) | undefined;
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
    /** Each pinned or validated server's pins, by server name. */
    pins: ReadonlyMap<string, ServerPins> = new Map(),
    /** Rate limits and concurrency caps (configured or named by a policy); undefined: none can apply. */
    readonly limiter: Limiter | undefined = undefined,
    /** Spans per exchange (telemetry.tracing); undefined: tracing is off and costs nothing. */
    readonly tracer: ExchangeTracer | undefined = undefined,
  ) {
    this.credentialHeaders = authenticator
      ? [...new Set(['authorization', 'proxy-authorization', config.auth.apiKeys?.header ?? 'x-api-key'])]
      : [];
    const withCookie = [...new Set([...this.credentialHeaders, 'cookie'])];
    const cache = config.policy.visibilityCache && new VisibilityCache(config.policy.visibilityCache);
    // An aggregate's upstream is the gateway's own aggregator, which calls each member as the caller (src/aggregate).
    const stripped = (s: ServerConfig) => (s.aggregate ? ['cookie'] : s.forwardCookies ? this.credentialHeaders : withCookie);
    this.routes = new Map(
      config.servers.map((s) => [s.path, serverRuntime(s, s.policyBundle === undefined ? undefined : policies.get(s.policyBundle), brokers.get(s.name), stripped(s), pins.get(s.name), cache)]),
    );
    this.hosts = compileGlobs(config.gateway.allowedHosts, { caseInsensitive: true });
    this.origins = compileGlobs(config.gateway.allowedOrigins, { caseInsensitive: true });
    this.redact = createRedactor({ names: config.audit.redact, values: config.audit.redactValues });
    this.maxRequestBytes = config.gateway.maxRequestBytes;
    this.maxResponseBytes = config.gateway.maxResponseBytes;
    this.includeArguments = config.audit.includeArguments;
    const redact = this.redact;
    // Redacting the parts separately reuses the arguments' redaction (the costly part).
    this.recordedPolicyInput = !config.audit.policyInput
      ? undefined
      : (input, eventArguments) => ({
          ...input,
          attributes: { ...input.attributes, request: { http: { ...input.attributes.request.http, headers: redact(input.attributes.request.http.headers) } } },
          identity: redact(input.identity),
          mcp: { ...input.mcp, arguments: eventArguments ?? null },
        });
    this.policyInput = createPolicyInputBuilder({ credentialHeaders: this.credentialHeaders });
    this.resourceMetadata = protectedResourceMetadata(config);
    this.callerOf = callerAttribution(config.telemetry.usage.callerLabel);
    this.catalog = config.gateway.catalog && new Catalog(config, [...this.routes.values()], this.policyInput);
  }

  /** The discovery endpoint (gateway.catalog); undefined: not served. */
  readonly catalog: Catalog | undefined;

  /** Who usage is attributed to (telemetry.usage.caller_label); undefined: not configured. */
  readonly callerOf: CallerOf | undefined;

  /** The approval gate (the `approvals` section), the sidecar's, shared by the runtimes a reload replaces; undefined: none. */
  approvals: ApprovalGate | undefined = undefined;

  readonly policyInput: PolicyInputBuilder;
  /** RFC 9728 documents by well-known path (empty without an oauth section). */
  readonly resourceMetadata: ReadonlyMap<string, string>;

  /** Looks for changed policy bundles now (what SIGHUP does); resolves when any reload is done. */
  async checkPolicies(): Promise<void> {
    await Promise.all([...this.policies.values()].map((w) => w.check()));
  }

  /**
   * Reads the lockfiles again (what SIGHUP does, after `tools approve`): each pinned
   * server's pins are replaced as one reference for the exchanges that start next. A
   * lockfile that cannot be read or checked leaves the ones in force; never rejects.
   */
  async reloadLockfiles(log: Logger): Promise<boolean> {
    if (!this.config.servers.some((s) => s.integrity.pinning !== 'off' || s.integrity.validateArguments !== 'off')) return true;
    try {
      const next = await loadPins(this.config, log);
      for (const r of this.routes.values()) r.pins = next.get(r.config.name);
      log.info({ servers: [...next.keys()] }, 'lockfiles reloaded');
      return true;
    } catch (err) {
      log.error({ err: (err as Error).message }, 'lockfiles not reloaded; the ones loaded before stay in force');
      return false;
    }
  }

  /** Releases what the runtime holds open (JWKS refresh timers, bundle watchers). */
  close(): void {
    this.authenticator?.close();
    for (const w of this.policies.values()) w.close();
    void this.limiter?.close();
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
/** Without sessions.key: one key for the life of the process, so a config reload keeps sessions valid. */
let PROCESS_SESSION_KEY: Buffer = randomBytes(32);

/** An ext_proc worker takes the primary's key instead, so that every worker opens every session id. */
export function useProcessSessionKey(key: Buffer): void {
  if (key.length < 32) throw new Error('the process session key must be at least 32 bytes');
  PROCESS_SESSION_KEY = key;
}

/** The sidecar's pool (kept across reloads) when there is one; else backends of this runtime's own. */
function limiterBackends(limits: GatewayConfig['limits'], pool: LimiterBackendPool | undefined, onRedisError: (err: Error) => void) {
  return pool ? pool.acquire(limits, onRedisError) : createBackends(limits, onRedisError);
}

export async function createRuntime(config: GatewayConfig, audit: AuditSink, log: Logger, instruments?: Instruments, tracer?: ExchangeTracer, limiterPool?: LimiterBackendPool): Promise<GatewayRuntime> {
  // Lockfiles first: a missing or tampered one stops the start before anything is opened.
  const pins = await loadPins(config, log);
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
      sessions = new SessionBinder([PROCESS_SESSION_KEY], config.sessions.ttlS);
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
  const limits = config.limits;
  // Half a distributed setup is easy to miss: say which limits still hold per replica only.
  const caps = limits.limits.some((l) => l.concurrency !== undefined);
  const rates = limits.limits.some((l) => l.rate !== undefined) || policies.size > 0;
  if (limits.service && !limits.redis && caps) log.warn('rate_limit_service is set but redis is not: concurrency caps are counted per replica');
  if (limits.redis && !limits.service && rates) log.warn('redis is set but rate_limit_service is not: rates are counted per replica');
  const limiter =
    limits.limits.length > 0 || policies.size > 0
      ? new Limiter(limits, limiterBackends(limits, limiterPool, (err) => log.warn({ err: err.message }, 'Redis (concurrency limits) unavailable (logged again only after it was back)')))
      : undefined;
  return new GatewayRuntime(config, audit, authenticator, policies, brokers, sessions, pins, limiter, tracer);
}
