// Usage attribution as Prometheus counters: per server, caller, method and tool, the
// calls by outcome, their summed duration, request and response bytes and cost units
// (what LiteLLM calls spend tracking). Fed from the audit events, like the rest.
//
// Counted events: those src/usage/classify.ts calls usage (JSON-RPC requests, and
// requests refused before their message was read, with method and tool "").
//
// Cardinality: `caller` is "" unless telemetry.usage.caller_label is set, then at most
// max_callers distinct values ("_other" after that; "_unauthenticated" for requests
// refused before the caller was known). Tool names are bounded by the caller of
// usageFor (GatewayMetrics: allowed names only, MAX_NAMES per server).
import { Counter, type Registry } from 'prom-client';
import type { AuditEvent } from '../audit/event.js';
import type { UsageSection } from '../config/types.js';
import { usageOutcome } from '../usage/classify.js';

export const UNAUTHENTICATED = '_unauthenticated';
const OTHER = '_other';
const LABELS = ['server', 'caller', 'mcp_method_name', 'gen_ai_tool_name'] as const;

export class UsageMetrics {
  private readonly calls: Counter;
  private readonly seconds: Counter;
  private readonly requestBytes: Counter;
  private readonly responseBytes: Counter;
  private readonly costUnits: Counter;
  private readonly callers = new Set<string>();
  private readonly labelCallers: boolean;
  private readonly maxCallers: number;

  constructor(registry: Registry, cfg: UsageSection | undefined) {
    const registers = [registry];
    const labelNames = [...LABELS];
    this.labelCallers = cfg?.callerLabel !== undefined;
    this.maxCallers = cfg?.maxCallers ?? 100;
    this.calls = new Counter({ name: 'mcp_gateway_usage_calls_total', help: 'Calls by server, caller (telemetry.usage.caller_label), method, tool and outcome (ok, error, refused)', labelNames: [...labelNames, 'outcome'], registers });
    this.seconds = new Counter({ name: 'mcp_gateway_usage_duration_seconds_total', help: 'Summed gateway-side duration of the calls (divide by mcp_gateway_usage_calls_total for the mean)', labelNames, registers });
    this.requestBytes = new Counter({ name: 'mcp_gateway_usage_request_bytes_total', help: 'Request body bytes of the calls', labelNames, registers });
    this.responseBytes = new Counter({ name: 'mcp_gateway_usage_response_bytes_total', help: 'Response bytes of the calls (Content-Length, or what the gateway read of an inspected body)', labelNames, registers });
    this.costUnits = new Counter({ name: 'mcp_gateway_usage_cost_units_total', help: 'Cost units of the calls (servers[].tool_costs)', labelNames, registers });
  }

  /** One usage event (isUsageEvent), its tool name already bounded. */
  observe(ev: AuditEvent, server: string, method: string, tool: string): void {
    const labels = { server, caller: this.callerLabel(ev), mcp_method_name: method, gen_ai_tool_name: tool };
    this.calls.inc({ ...labels, outcome: usageOutcome(ev) });
    this.seconds.inc(labels, ev.latency_ms / 1000);
    // Zero is not counted: a series appears with the first byte or unit, not with every call.
    if (ev.request_bytes) this.requestBytes.inc(labels, ev.request_bytes);
    if (ev.response_bytes) this.responseBytes.inc(labels, ev.response_bytes);
    if (ev.cost_units) this.costUnits.inc(labels, ev.cost_units);
  }

  private callerLabel(ev: AuditEvent): string {
    if (!this.labelCallers) return '';
    const caller = ev.caller ?? UNAUTHENTICATED;
    if (this.callers.has(caller)) return caller;
    if (this.callers.size >= this.maxCallers) return OTHER;
    this.callers.add(caller);
    return caller;
  }
}
