// Everything compiled from one config: routes, curations, matchers, redactor.
// Built once at start-up (and on reload, then swapped as one reference).
import type { GatewayConfig, ServerConfig } from '../config/types.js';
import { compileCuration, type Curation } from '../curation/curation.js';
import { compileGlobs, type GlobSet } from '../curation/glob.js';
import { createRedactor, type Redactor } from '../audit/redact.js';
import type { AuditSink } from '../audit/event.js';

export interface ServerRuntime {
  config: ServerConfig;
  curation: Curation;
}

export class GatewayRuntime {
  private readonly routes: Map<string, ServerRuntime>;
  private readonly hosts: GlobSet;
  private readonly origins: GlobSet;
  readonly redact: Redactor;
  readonly maxRequestBytes: number;
  readonly maxResponseBytes: number;
  readonly includeArguments: boolean;

  constructor(
    readonly config: GatewayConfig,
    readonly audit: AuditSink,
  ) {
    this.routes = new Map(config.servers.map((s) => [s.path, { config: s, curation: compileCuration(s) }]));
    this.hosts = compileGlobs(config.gateway.allowedHosts, { caseInsensitive: true });
    this.origins = compileGlobs(config.gateway.allowedOrigins, { caseInsensitive: true });
    this.redact = createRedactor(config.audit.redact);
    this.maxRequestBytes = config.gateway.maxRequestBytes;
    this.maxResponseBytes = config.gateway.maxResponseBytes;
    this.includeArguments = config.audit.includeArguments;
  }

  /** The virtual server at this request path (query string already removed). */
  route(path: string): ServerRuntime | undefined {
    return this.routes.get(path);
  }

  hostAllowed(host: string): boolean {
    return this.hosts.test(host);
  }

  originAllowed(origin: string): boolean {
    return this.origins.test(origin);
  }
}
