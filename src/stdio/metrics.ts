// The stdio bridges' Prometheus metrics, read from the bridges when scraped (nothing on
// the request path): processes and sessions now, processes started and how they ended,
// and what the bridges refused, per server.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { StdioBridges } from './bridges.js';
import type { BridgeStats } from './bridge.js';

export function registerStdioMetrics(registry: Registry, stdio: StdioBridges): void {
  if (!stdio.bridges.size) return;
  const each = (f: (server: string, s: BridgeStats) => void) => {
    for (const b of stdio.bridges.values()) f(b.server, b.stats());
  };
  new Gauge({
    name: 'mcp_gateway_stdio_processes',
    help: 'Processes of each stdio server running now',
    labelNames: ['server'],
    registers: [registry],
    collect() {
      each((server, s) => this.set({ server }, s.processes));
    },
  });
  new Gauge({
    name: 'mcp_gateway_stdio_sessions',
    help: 'MCP sessions open at each stdio server\'s bridge',
    labelNames: ['server'],
    registers: [registry],
    collect() {
      each((server, s) => this.set({ server }, s.sessions));
    },
  });
  new Counter({
    name: 'mcp_gateway_stdio_process_exits_total',
    help: 'Processes of each stdio server that ended: crashed (exited or killed on their own) or stopped (idle, session ended, shutdown)',
    labelNames: ['server', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      each((server, s) => {
        this.inc({ server, outcome: 'crashed' }, s.crashed);
        this.inc({ server, outcome: 'stopped' }, s.stopped);
      });
    },
  });
  new Counter({
    name: 'mcp_gateway_stdio_process_starts_total',
    help: 'Processes of each stdio server started',
    labelNames: ['server'],
    registers: [registry],
    collect() {
      this.reset();
      each((server, s) => this.inc({ server }, s.started));
    },
  });
  new Counter({
    name: 'mcp_gateway_stdio_refusals_total',
    help: 'Sessions and requests a stdio bridge answered with an error of its own, by reason (stdio_pool_full, stdio_start_failed, stdio_unavailable)',
    labelNames: ['server', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      each((server, s) => {
        for (const [reason, n] of Object.entries(s.refused)) this.inc({ server, reason }, n);
      });
    },
  });
}
