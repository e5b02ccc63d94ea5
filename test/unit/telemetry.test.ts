// The sidecar's metrics and health without Envoy: label bounds, and what /readyz and
// grpc.health.v1 say while the sidecar drains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { GatewayMetrics, OTHER } from '../../src/telemetry/metrics.js';
import { emptyAuditEvent, type AuditEvent } from '../../src/audit/event.js';
import { parseExposition, samples, total } from '../support/prometheus.js';
import { parseConfig } from '../../src/config/load.js';
import { startSidecar } from '../../src/sidecar.js';
import { MemoryAuditSink } from '../../src/audit/sink.js';
import { createLogger } from '../../src/telemetry/log.js';
import { externalProcessorService } from '../../src/extproc/proto.js';
import { freePort } from '../support/ports.js';

function call(tool: string, decision: 'allow' | 'deny' = 'allow'): AuditEvent {
  const e = emptyAuditEvent();
  e.server = 's';
  e.rpc = { kind: 'request', id: 1, method: 'tools/call' };
  e.target = { kind: 'tool', name: tool };
  e.decision = decision;
  e.reason = decision === 'allow' ? 'allowed' : 'not_curated';
  e.latency_ms = 2;
  return e;
}

test('tool names are labels for allowed calls only, and at most 200 distinct per server', async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  for (let i = 0; i < 250; i++) m.observe(call(`t${i}`));
  m.observe(call('secret-x', 'deny'));
  const f = parseExposition(await m.text());
  const names = new Set(samples(f, 'mcp_server_operation_duration_seconds_count').map((s) => s.labels.gen_ai_tool_name ?? ''));
  assert.ok(names.has(OTHER));
  assert.ok(!names.has('secret-x'), 'a refused name is never a label value');
  assert.equal([...names].filter((n) => n.startsWith('t')).length, 200);
  assert.equal(total(samples(f, 'mcp_server_operation_duration_seconds_count', { gen_ai_tool_name: OTHER })), 50);
});

test('protocol versions and methods outside the known sets are "_other"; observe never throws', async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  const e = call('echo');
  e.protocol_version = '1999-01-01';
  e.rpc = { kind: 'request', id: 1, method: 'x'.repeat(1000) };
  m.observe(e);
  m.observe({} as AuditEvent);
  const f = parseExposition(await m.text());
  const s = samples(f, 'mcp_server_operation_duration_seconds_count');
  assert.equal(s.length, 1);
  assert.equal(s[0]!.labels.mcp_protocol_version, OTHER);
  assert.equal(s[0]!.labels.mcp_method_name, OTHER);
});

test('while the sidecar drains, /readyz is 503 and grpc.health.v1 says NOT_SERVING', async () => {
  const config = parseConfig(`sidecar:\n  listen: 127.0.0.1:${await freePort()}\ntelemetry:\n  listen: 127.0.0.1:${await freePort()}\nservers:\n  - name: s\n    url: http://127.0.0.1:1/mcp\n`);
  const sidecar = await startSidecar(config, { audit: new MemoryAuditSink(), log: createLogger('silent') });
  const url = sidecar.telemetryUrl!;
  assert.equal((await fetch(`${url}/readyz`)).status, 200);
  // An open exchange keeps the drain waiting.
  const Ext = grpc.makeGenericClientConstructor(externalProcessorService(), 'ExternalProcessor');
  const ext = new Ext(sidecar.address, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Process: () => grpc.ClientDuplexStream<unknown, unknown> };
  const stream = ext.Process();
  stream.on('error', () => undefined);
  stream.write({ request_headers: { headers: { headers: [{ key: ':method', raw_value: Buffer.from('GET') }, { key: ':path', raw_value: Buffer.from('/mcp/s') }, { key: ':authority', raw_value: Buffer.from('127.0.0.1') }] }, end_of_stream: true } });
  await new Promise((r) => stream.once('data', r));
  const Health = grpc.makeGenericClientConstructor(healthService, 'Health');
  const health = new Health(sidecar.address, grpc.credentials.createInsecure()) as unknown as grpc.Client & { check(req: { service: string }, cb: (e: grpc.ServiceError | null, r?: { status: string }) => void): void };
  const check = () => new Promise<string>((resolve, reject) => health.check({ service: '' }, (e, r) => (e ? reject(e) : resolve(r!.status))));
  assert.equal(await check(), 'SERVING');

  const stopped = sidecar.stop(3000);
  const ready = await fetch(`${url}/readyz`);
  assert.equal(ready.status, 503);
  assert.match(((await ready.json()) as { reason: string }).reason, /draining/);
  assert.equal((await fetch(`${url}/healthz`)).status, 200, 'still alive while draining');
  // NOT_SERVING, or refused outright: grpc-js takes no new calls once it drains.
  const status = await check().catch((e: Error) => `error: ${e.message}`);
  assert.ok(status === 'NOT_SERVING' || status.startsWith('error'), status);
  stream.end();
  await stopped;
  health.close();
  ext.close();
});
