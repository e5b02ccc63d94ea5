// Prometheus metrics of the sidecar (prom-client), named after the OpenTelemetry
// semantic conventions for MCP where they define one (`mcp.server.operation.duration`
// → `mcp_server_operation_duration_seconds`, attributes → labels with "_" for "."),
// and `mcp_gateway_*` for the gateway's own.
//
// They are derived from the audit events: every decided message produces exactly one,
// carrying everything a metric needs, so the counts and the audit trail cannot disagree
// and the hot path gains one observe() per event.
//
// The parts off the audit trail (policy evaluation, ext_proc phases, the audit sink,
// JWKS, token exchange, bundle reloads) report through the observer interfaces their
// modules declare (Instruments); each costs a counter increment or one observe().
//
// Cardinality is bounded: methods outside the known set count as "_other", protocol
// versions outside the supported set too; tool/prompt names are labels only for allowed
// requests (or names already seen allowed), at most MAX_NAMES distinct values per server
// ("_other" after that). Callers are a label only on the usage counters, and only when
// telemetry.usage.caller_label says so (see usage-metrics.ts).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditEvent, AuditSink } from '../audit/event.js';
import type { IntegrityRecord } from '../integrity/findings.js';
import type { AuditSinkObserver } from '../audit/sink.js';
import type { UsageSection } from '../config/types.js';
import type { TokenExchangeObserver } from '../credentials/token-exchange.js';
import type { Phase } from '../extproc/builders.js';
import type { StreamObserver } from '../extproc/server.js';
import { isKnownMethod, isSupportedProtocolVersion } from '../mcp/protocol.js';
import type { PolicyObserver } from '../policy/engine.js';
import type { Instruments } from './instruments.js';
import { UsageMetrics } from './usage-metrics.js';
import { isUsageEvent } from '../usage/classify.js';
import { POLICY_LIMIT_PREFIX } from '../limits/types.js';
import { APPROVAL_EVENT_PREFIX } from '../approvals/audit.js';

export const OTHER = '_other';
const MAX_NAMES = 200;
/** Seconds; the buckets the OTel MCP conventions recommend for operation durations. */
const DURATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];
/** Seconds; the sidecar's own work is microseconds to milliseconds. */
const FAST_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const PHASES: readonly Phase[] = ['request_headers', 'request_body', 'request_trailers', 'response_headers', 'response_body', 'response_trailers'];

export class GatewayMetrics implements Instruments, AuditSinkObserver, StreamObserver {
  readonly registry = new Registry();
  private readonly operationDuration: Histogram;
  private readonly decisions: Counter;
  private readonly listItems: Counter;
  private readonly upstreamResponses: Counter;
  private readonly serverMessages: Counter;
  private readonly integrityFindings: Counter;
  private readonly scanFindings: Counter;
  private readonly resultFindings: Counter;
  private readonly streamsOpen: Gauge;
  private readonly streams: Counter;
  private readonly names = new Map<string, Set<string>>();
  private readonly usage: UsageMetrics;
  private readonly policyDuration: Histogram;
  private readonly phaseDuration: Histogram;
  /** Bound once per phase: the one observe() per ext_proc message builds no label object. */
  private readonly phaseTimers = new Map<string, Histogram.Internal<string>>();
  private readonly auditEvents: Counter;
  private readonly auditSinkErrors: Counter;
  private readonly jwksFetches: Counter;
  private readonly tokenCache: Counter;
  private readonly tokenExchanges: Counter;
  private readonly bundleInfo: Gauge;
  private readonly bundleReloads: Counter;
  private readonly bundleRevisions = new Map<string, string>();
  private readonly rateLimitHits: Counter;
  private readonly rateLimitUnavailable: Counter;
  private readonly approvals: Counter;

  constructor(opts: { processMetrics?: boolean; usage?: UsageSection } = {}) {
    const registers = [this.registry];
    this.operationDuration = new Histogram({
      name: 'mcp_server_operation_duration_seconds',
      help: 'MCP request duration as the gateway sees it: from the request reaching the sidecar to its decision being complete (for passed requests, the upstream answer has started)',
      labelNames: ['server', 'mcp_method_name', 'gen_ai_tool_name', 'gen_ai_prompt_name', 'error_type', 'mcp_protocol_version'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.decisions = new Counter({
      name: 'mcp_gateway_decisions_total',
      help: 'Messages and exchanges the gateway decided on, by audit event type, decision and stable reason code (refusals by reason)',
      labelNames: ['server', 'type', 'mcp_method_name', 'decision', 'reason'],
      registers,
    });
    this.approvals = new Counter({
      name: 'mcp_gateway_approvals_total',
      help: 'Approval gates (src/approvals) by outcome: requested, approved, denied, used, expired, forbidden (someone not allowed to decide tried)',
      labelNames: ['server', 'outcome'],
      registers,
    });
    this.listItems = new Counter({
      name: 'mcp_gateway_list_items_total',
      help: 'Items of list answers (tools, prompts, resources, templates) the gateway kept or removed',
      labelNames: ['server', 'mcp_method_name', 'outcome'],
      registers,
    });
    this.upstreamResponses = new Counter({
      name: 'mcp_gateway_upstream_responses_total',
      help: 'Upstream HTTP answers by status class (and servers[].versions version; "" without)',
      labelNames: ['server', 'status_class', 'version'],
      registers,
    });
    this.serverMessages = new Counter({
      name: 'mcp_gateway_server_messages_total',
      help: 'Messages from upstreams the gateway filtered or dropped (other than the answer to the request itself)',
      labelNames: ['server', 'action', 'reason'],
      registers,
    });
    this.integrityFindings = new Counter({
      name: 'mcp_gateway_integrity_findings_total',
      help: 'Tools, prompts and resource templates that differ from the lockfile (finding changed), that it lacks (not_pinned) or that an answer lists twice (duplicate), by what was done (hidden from a list, a call refused, flagged)',
      labelNames: ['server', 'finding', 'action'],
      registers,
    });
    this.scanFindings = new Counter({
      name: 'mcp_gateway_definition_scan_findings_total',
      help: 'Signals found in listed tool, prompt and resource-template definitions (servers[].scan_definitions), by signal and what was done (hidden, refused, flagged)',
      labelNames: ['server', 'signal', 'action'],
      registers,
    });
    this.resultFindings = new Counter({
      name: 'mcp_gateway_result_scan_findings_total',
      help: 'Secrets, personal data and prompt-injection text found in tool results (servers[].scan_results), by kind and what was done (redacted, blocked, flagged)',
      labelNames: ['server', 'kind', 'action'],
      registers,
    });
    this.streamsOpen = new Gauge({ name: 'mcp_gateway_extproc_streams_open', help: 'ext_proc streams (HTTP exchanges) open now', registers });
    this.streams = new Counter({ name: 'mcp_gateway_extproc_streams_total', help: 'ext_proc streams opened', registers });
    this.policyDuration = new Histogram({
      name: 'mcp_gateway_policy_evaluation_duration_seconds',
      help: 'Rego evaluations: decision (outcome allow, deny, error) and visibility of lists and resources (ok, error), by policy bundle',
      labelNames: ['bundle', 'entrypoint', 'outcome'],
      buckets: FAST_BUCKETS,
      registers,
    });
    this.phaseDuration = new Histogram({
      name: 'mcp_gateway_extproc_phase_duration_seconds',
      help: 'Time the sidecar took to answer one ext_proc message, by phase (authentication included for request_headers)',
      labelNames: ['phase'],
      buckets: FAST_BUCKETS,
      registers,
    });
    for (const phase of PHASES) this.phaseTimers.set(phase, this.phaseDuration.labels({ phase }));
    this.auditEvents = new Counter({ name: 'mcp_gateway_audit_events_total', help: 'Audit events handed to the sink (written) or lost (dropped: the sink was closed, or the write failed)', labelNames: ['result'], registers });
    this.auditSinkErrors = new Counter({ name: 'mcp_gateway_audit_sink_errors_total', help: 'I/O errors of the audit sink', registers });
    this.jwksFetches = new Counter({ name: 'mcp_gateway_jwks_fetches_total', help: 'JWKS fetches (background refresh and unknown kid) by result (success: HTTP 200; failure: other status, network error, timeout)', labelNames: ['result'], registers });
    this.tokenCache = new Counter({ name: 'mcp_gateway_token_exchange_cache_total', help: 'Token exchange cache lookups by result (hit, miss)', labelNames: ['server', 'result'], registers });
    this.tokenExchanges = new Counter({ name: 'mcp_gateway_token_exchanges_total', help: 'RFC 8693 token exchanges with the authorization server by result (success, refused, error)', labelNames: ['server', 'result'], registers });
    this.bundleInfo = new Gauge({ name: 'mcp_gateway_policy_bundle_info', help: 'The policy bundle revision in force (value 1)', labelNames: ['bundle', 'revision'], registers });
    this.bundleReloads = new Counter({ name: 'mcp_gateway_policy_bundle_reloads_total', help: 'Policy bundle reloads after a change, by result (success, failure: the last good bundle stays in force)', labelNames: ['bundle', 'result'], registers });
    this.rateLimitHits = new Counter({
      name: 'mcp_gateway_rate_limit_hits_total',
      help: 'Requests over a rate limit or concurrency cap, by limit (its configured name; "_policy" for every limit a policy names), kind (rate, concurrency) and action (refused; shadowed: let through in shadow mode)',
      labelNames: ['server', 'limit', 'kind', 'action'],
      registers,
    });
    this.rateLimitUnavailable = new Counter({
      name: 'mcp_gateway_rate_limit_unavailable_total',
      help: 'Requests whose limits could not be checked because a backend did not answer (service: envoyproxy/ratelimit; redis), by what the failure mode did (refused: closed; allowed: open)',
      labelNames: ['server', 'backend', 'action'],
      registers,
    });
    this.usage = new UsageMetrics(this.registry, opts.usage);
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'mcp_gateway_' });
  }

  /** One audit event: the metrics of the message it decided. Never throws. */
  observe(ev: AuditEvent): void {
    try {
      const server = ev.server ?? OTHER;
      const method = ev.rpc?.method === undefined ? '' : isKnownMethod(ev.rpc.method) ? ev.rpc.method : OTHER;
      if (ev.integrity) this.countIntegrity(server, ev.integrity);
      if (ev.result_scan) for (const [kind, n] of Object.entries(ev.result_scan.counts)) this.resultFindings.inc({ server, kind, action: ev.result_scan.action }, n);
      if (ev.definition_scan) for (const [signal, n] of Object.entries(ev.definition_scan.counts)) this.scanFindings.inc({ server, signal, action: ev.definition_scan.action }, n);
      if (ev.type.startsWith(APPROVAL_EVENT_PREFIX)) {
        this.approvals.inc({ server, outcome: ev.type.slice(APPROVAL_EVENT_PREFIX.length) });
        return;
      }
      if (ev.type === 'mcp.server_message') {
        this.serverMessages.inc({ server, action: ev.decision === 'deny' ? 'dropped' : 'filtered', reason: ev.reason });
        if (ev.filtered) this.countItems(server, '', ev.filtered);
        return;
      }
      this.decisions.inc({ server, type: ev.type, mcp_method_name: method, decision: ev.decision, reason: ev.reason });
      if (ev.filtered) this.countItems(server, method, ev.filtered);
      if (ev.upstream_status !== undefined) this.upstreamResponses.inc({ server, status_class: `${Math.floor(ev.upstream_status / 100)}xx`, version: ev.upstream_version ?? '' });
      if (isUsageEvent(ev)) {
        const t = ev.target;
        this.usage.observe(ev, server, method, t?.kind === 'tool' ? (ev.decision === 'allow' ? this.bounded(server, 'tool', t.name) : this.seen(server, 'tool', t.name)) : '');
      }
      if (ev.rate_limit) this.countLimit(server, ev.rate_limit);
      if (ev.type !== 'mcp.request') return;
      // Only names that passed: a refused name is the caller's choice and would grow the label.
      const target = ev.decision === 'allow' ? ev.target : undefined;
      this.operationDuration.observe(
        {
          server,
          mcp_method_name: method,
          gen_ai_tool_name: target?.kind === 'tool' ? this.bounded(server, 'tool', target.name) : '',
          gen_ai_prompt_name: target?.kind === 'prompt' ? this.bounded(server, 'prompt', target.name) : '',
          error_type: ev.decision === 'deny' ? ev.reason : ev.upstream_status !== undefined && ev.upstream_status >= 400 ? String(ev.upstream_status) : '',
          mcp_protocol_version: ev.protocol_version === undefined ? '' : isSupportedProtocolVersion(ev.protocol_version) ? ev.protocol_version : OTHER,
        },
        ev.latency_ms / 1000,
      );
    } catch {
      // Metrics never take a request down.
    }
  }

  streamOpened(): void {
    this.streamsOpen.inc();
    this.streams.inc();
  }

  streamClosed(): void {
    this.streamsOpen.dec();
  }

  phaseDecided(phase: Phase, seconds: number): void {
    this.phaseTimers.get(phase)?.observe(seconds);
  }

  auditEvent(result: 'written' | 'dropped'): void {
    this.auditEvents.inc({ result });
  }

  auditSinkError(): void {
    this.auditSinkErrors.inc();
  }

  jwksFetched(result: 'success' | 'failure'): void {
    this.jwksFetches.inc({ result });
  }

  tokenExchangeObserver(server: string): TokenExchangeObserver {
    return {
      cacheLookup: (result) => this.tokenCache.inc({ server, result }),
      exchanged: (result) => this.tokenExchanges.inc({ server, result }),
    };
  }

  policyObserver(bundle: string): PolicyObserver {
    const timers = new Map<string, Histogram.Internal<string>>();
    return {
      evaluated: (entrypoint, outcome, seconds) => {
        const key = `${entrypoint}:${outcome}`;
        let t = timers.get(key);
        if (!t) timers.set(key, (t = this.policyDuration.labels({ bundle, entrypoint, outcome })));
        t.observe(seconds);
      },
    };
  }

  policyBundleLoaded(bundle: string, revision: string, reload: boolean): void {
    const before = this.bundleRevisions.get(bundle);
    if (before !== undefined) this.bundleInfo.remove({ bundle, revision: before });
    this.bundleRevisions.set(bundle, revision);
    this.bundleInfo.set({ bundle, revision }, 1);
    if (reload) this.bundleReloads.inc({ bundle, result: 'success' });
  }

  policyBundleFailed(bundle: string): void {
    this.bundleReloads.inc({ bundle, result: 'failure' });
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private countIntegrity(server: string, rec: IntegrityRecord): void {
    for (const [finding, n] of Object.entries(rec.counts)) if (n) this.integrityFindings.inc({ server, finding, action: rec.action }, n);
  }

  private countLimit(server: string, r: NonNullable<AuditEvent['rate_limit']>): void {
    if ('unavailable' in r) this.rateLimitUnavailable.inc({ server, backend: r.unavailable, action: r.fail_open ? 'allowed' : 'refused' });
    // A policy-named limit's key is data (a tenant, a caller): one label value for all of them.
    else this.rateLimitHits.inc({ server, limit: r.limit.startsWith(POLICY_LIMIT_PREFIX) ? '_policy' : r.limit, kind: r.kind, action: r.shadow ? 'shadowed' : 'refused' });
  }

  private countItems(server: string, method: string, f: { returned: number; visible: number }): void {
    this.listItems.inc({ server, mcp_method_name: method, outcome: 'kept' }, f.visible);
    this.listItems.inc({ server, mcp_method_name: method, outcome: 'removed' }, f.returned - f.visible);
  }

  /** A refused tool's name: a label only if it was already seen allowed (the caller may have made it up). */
  private seen(server: string, kind: string, name: string): string {
    return this.names.get(`${server}\u0000${kind}`)?.has(name) ? name : OTHER;
  }

  /** A tool/prompt name as a label: the first MAX_NAMES distinct ones per server and kind, then "_other". */
  private bounded(server: string, kind: string, name: string): string {
    const key = `${server}\u0000${kind}`;
    let seen = this.names.get(key);
    if (!seen) this.names.set(key, (seen = new Set()));
    if (seen.has(name)) return name;
    if (seen.size >= MAX_NAMES) return OTHER;
    seen.add(name);
    return name;
  }
}

/** The audit sink, with every event also counted. */
export function meteredAuditSink(sink: AuditSink, metrics: GatewayMetrics): AuditSink {
  return {
    write(event) {
      sink.write(event);
      metrics.observe(event);
    },
    flush: () => sink.flush(),
    close: () => sink.close(),
  };
}
