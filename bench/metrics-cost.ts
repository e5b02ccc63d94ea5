// What the metrics cost one tools/call in the sidecar, against the audit write of the
// same call measured in the same run (both are per-call work on the request path).
//
//   npm run bench:metrics               # N=200000 calls, 5 rounds, best round of each
//   npm run bench:metrics -- 500000 7   # N, rounds
//
// One call's metrics: its audit event counted (decisions, upstream status, operation
// duration, usage by caller with bytes and cost units), four ext_proc phases timed and
// one policy decision timed — what GatewayMetrics does for a passed tools/call. The
// baseline: the buffered audit sink's write() of that event (pino into a file).
// Prometheus scrapes are not included: their cost is per scrape, not per call.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayMetrics } from '../src/telemetry/metrics.js';
import { createAuditSink } from '../src/audit/sink.js';
import type { AuditEvent } from '../src/audit/event.js';
import { typicalAuditEvent } from './lib/typical-audit-event.js';

const N = Number(process.argv[2] ?? 200_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const CALLERS = 50;

function events(n: number): AuditEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    ...typicalAuditEvent(i),
    caller: `caller-${i % CALLERS}`,
    request_bytes: 180 + (i % 7),
    response_bytes: 900 + (i % 13),
    cost_units: 2,
    latency_ms: 1 + (i % 100) / 50,
  }));
}

function timeMetrics(evs: AuditEvent[]): number {
  const metrics = new GatewayMetrics({ usage: { callerLabel: { kind: 'subject' }, maxCallers: 100 }, processMetrics: false });
  const policy = metrics.policyObserver('bench');
  const start = process.hrtime.bigint();
  for (const ev of evs) {
    metrics.phaseDecided('request_headers', 0.00012);
    metrics.phaseDecided('request_body', 0.00031);
    policy.evaluated('decision', 'allow', 0.00009);
    metrics.phaseDecided('response_headers', 0.00004);
    metrics.phaseDecided('response_body', 0.00006);
    metrics.observe(ev);
  }
  return Number(process.hrtime.bigint() - start) / 1000 / evs.length;
}

async function timeAudit(evs: AuditEvent[], dir: string): Promise<number> {
  const sink = createAuditSink({ sink: 'file', file: join(dir, `audit-${Math.random().toString(36).slice(2)}.jsonl`), durability: 'buffered' });
  for (let i = 0; i < 200; i++) sink.write(evs[i % evs.length]!);
  await new Promise((r) => setTimeout(r, 50));
  const start = process.hrtime.bigint();
  for (const ev of evs) sink.write(ev);
  const us = Number(process.hrtime.bigint() - start) / 1000 / evs.length;
  await sink.close();
  return us;
}

const dir = mkdtempSync(join(tmpdir(), 'mcp-gateway-bench-metrics-'));
try {
  const evs = events(N);
  let metricsUs = Infinity;
  let auditUs = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    metricsUs = Math.min(metricsUs, timeMetrics(evs));
    auditUs = Math.min(auditUs, await timeAudit(evs, dir));
  }
  console.log(`${N} calls, best of ${ROUNDS} rounds, Node ${process.version}`);
  console.log(`audit write (baseline)  ${auditUs.toFixed(2).padStart(7)} µs/call`);
  console.log(`metrics                 ${metricsUs.toFixed(2).padStart(7)} µs/call   ${(metricsUs / auditUs).toFixed(2)}× the audit write`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
