// Prometheus metrics of the sidecar (prom-client), named after the OpenTelemetry
// semantic conventions for MCP where they define one (`mcp.server.operation.duration`
// → `mcp_server_operation_duration_seconds`, attributes → labels with "_" for "."),
// and `mcp_gateway_*` for the gateway's own.
//
// They are derived from the audit events: every decided message produces exactly one,
// carrying everything a metric needs, so the counts and the audit trail cannot disagree
// and the hot path gains one observe() per event.
//
// Cardinality is bounded: methods outside the known set count as "_other", protocol
// versions outside the supported set too; tool/prompt names are labels only for allowed
// requests, at most MAX_NAMES distinct values per server ("_other" after that). Callers
// are never a label.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditEvent, AuditSink } from '../audit/event.js';
import { isKnownMethod, isSupportedProtocolVersion } from '../mcp/protocol.js';

export const OTHER = '_other';
const MAX_NAMES = 200;
/** Seconds; the buckets the OTel MCP conventions recommend for operation durations. */
const DURATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly operationDuration: Histogram;
  private readonly decisions: Counter;
  private readonly listItems: Counter;
  private readonly upstreamResponses: Counter;
  private readonly serverMessages: Counter;
  private readonly streamsOpen: Gauge;
  private readonly streams: Counter;
  private readonly names = new Map<string, Set<string>>();

  constructor(opts: { processMetrics?: boolean } = {}) {
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
    this.listItems = new Counter({
      name: 'mcp_gateway_list_items_total',
      help: 'Items of list answers (tools, prompts, resources, templates) the gateway kept or removed',
      labelNames: ['server', 'mcp_method_name', 'outcome'],
      registers,
    });
    this.upstreamResponses = new Counter({
      name: 'mcp_gateway_upstream_responses_total',
      help: 'Upstream HTTP answers by status class',
      labelNames: ['server', 'status_class'],
      registers,
    });
    this.serverMessages = new Counter({
      name: 'mcp_gateway_server_messages_total',
      help: 'Messages from upstreams the gateway filtered or dropped (other than the answer to the request itself)',
      labelNames: ['server', 'action', 'reason'],
      registers,
    });
    this.streamsOpen = new Gauge({ name: 'mcp_gateway_extproc_streams_open', help: 'ext_proc streams (HTTP exchanges) open now', registers });
    this.streams = new Counter({ name: 'mcp_gateway_extproc_streams_total', help: 'ext_proc streams opened', registers });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'mcp_gateway_' });
  }

  /** One audit event: the metrics of the message it decided. Never throws. */
  observe(ev: AuditEvent): void {
    try {
      const server = ev.server ?? OTHER;
      const method = ev.rpc?.method === undefined ? '' : isKnownMethod(ev.rpc.method) ? ev.rpc.method : OTHER;
      if (ev.type === 'mcp.server_message') {
        this.serverMessages.inc({ server, action: ev.decision === 'deny' ? 'dropped' : 'filtered', reason: ev.reason });
        if (ev.filtered) this.countItems(server, '', ev.filtered);
        return;
      }
      this.decisions.inc({ server, type: ev.type, mcp_method_name: method, decision: ev.decision, reason: ev.reason });
      if (ev.filtered) this.countItems(server, method, ev.filtered);
      if (ev.upstream_status !== undefined) this.upstreamResponses.inc({ server, status_class: `${Math.floor(ev.upstream_status / 100)}xx` });
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

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private countItems(server: string, method: string, f: { returned: number; visible: number }): void {
    this.listItems.inc({ server, mcp_method_name: method, outcome: 'kept' }, f.visible);
    this.listItems.inc({ server, mcp_method_name: method, outcome: 'removed' }, f.returned - f.visible);
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
