// Readiness: named checks combined into one verdict, each transition reported once;
// the component gauge and its log lines; the audit file check; the sidecar cluster's
// health check in the generated Envoy bootstrap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { ReadinessState } from '../../src/telemetry/readiness.js';
import { auditFileCheck } from '../../src/telemetry/readiness-checks.js';
import { ComponentReadiness } from '../../src/telemetry/readiness-monitor.js';
import { envoyBootstrap, SIDECAR_CLUSTER } from '../../src/envoy/bootstrap.js';
import { parseConfig } from '../../src/config/load.js';

test('ready only when every check passes; the reason names each failing check', async () => {
  let jwks: string | undefined = 'not fetched yet';
  let draining = false;
  const r = new ReadinessState([
    { name: 'jwks', check: async () => jwks },
    { name: 'draining', check: () => (draining ? 'shutting down' : undefined) },
  ]);
  assert.equal(r.current, 'not evaluated yet');
  assert.equal(await r.notReady(), 'jwks: not fetched yet');
  draining = true;
  assert.equal(await r.evaluate(), 'jwks: not fetched yet; draining: shutting down');
  jwks = undefined;
  draining = false;
  assert.equal(await r.evaluate(), undefined);
  assert.equal(r.current, undefined);
});

test('a check that throws or hangs fails with its name (a hung check cannot hang /readyz)', async () => {
  const r = new ReadinessState([
    { name: 'boom', check: () => { throw new Error('no'); } },
    { name: 'hang', check: () => new Promise<undefined>(() => {}) },
  ]);
  const t0 = Date.now();
  assert.equal(await r.evaluate(), 'boom: no; hang: no answer within 3000 ms');
  assert.ok(Date.now() - t0 < 4000);
});

test('listeners hear the first verdict and each change, once', async () => {
  let why: string | undefined;
  const r = new ReadinessState([{ name: 'x', check: () => why }]);
  const heard: Array<string | undefined> = [];
  r.onChange((reason) => heard.push(reason));
  await r.evaluate();
  await r.evaluate();
  why = 'down';
  await Promise.all([r.evaluate(), r.evaluate()]);
  await r.evaluate();
  why = undefined;
  await r.evaluate();
  assert.deepEqual(heard, [undefined, 'x: down', undefined]);
});

test('component_ready: 1/0 per component, a log line per transition (the first only when bad)', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString())), cb()) }));
  const registry = new Registry();
  const c = new ComponentReadiness(registry, log);
  c.set('sidecar', undefined);
  c.set('envoy', 'admin /ready answered 503 INITIALIZING');
  c.set('envoy', 'admin /ready answered 503 DRAINING'); // still not ready: no new line
  c.set('envoy', undefined);
  c.set('sidecar', 'audit: gone');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(lines.map((l) => [l.msg, l.component, l.reason]), [
    ['envoy not ready', 'envoy', 'admin /ready answered 503 INITIALIZING'],
    ['envoy ready', 'envoy', undefined],
    ['sidecar not ready', 'sidecar', 'audit: gone'],
  ]);
  const text = await registry.metrics();
  assert.match(text, /^mcp_gateway_component_ready\{component="sidecar"\} 0$/m);
  assert.match(text, /^mcp_gateway_component_ready\{component="envoy"\} 1$/m);
  // A second monitor on the same registry reuses the gauge instead of throwing.
  new ComponentReadiness(registry, log).set('envoy', 'x');
  assert.match(await registry.metrics(), /^mcp_gateway_component_ready\{component="envoy"\} 0$/m);
});

test('the audit file check: appendable, missing (never recreated), not a file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'readiness-'));
  try {
    const file = join(dir, 'audit.jsonl');
    const check = auditFileCheck(file);
    assert.match((await check.check()) ?? '', /does not exist/);
    assert.equal(existsSync(file), false, 'the check creates nothing');
    await writeFile(file, '');
    assert.equal(await check.check(), undefined);
    await rm(file);
    await mkdir(file);
    assert.match((await check.check()) ?? '', /cannot be appended to \(EISDIR\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the Envoy bootstrap health-checks the sidecar cluster with grpc.health.v1, ext_proc still fails closed', () => {
  const config = parseConfig('servers:\n  - name: a\n    url: http://127.0.0.1:3001/mcp\n', '<t>');
  const b = envoyBootstrap(config) as { static_resources: { clusters: Array<Record<string, unknown>>; listeners: unknown[] } };
  const cluster = b.static_resources.clusters.find((c) => c.name === SIDECAR_CLUSTER)!;
  assert.deepEqual(cluster.health_checks, [
    { timeout: '1s', interval: '2s', no_traffic_interval: '2s', unhealthy_threshold: 2, healthy_threshold: 1, grpc_health_check: { service_name: 'envoy.service.ext_proc.v3.ExternalProcessor' } },
  ]);
  assert.match(JSON.stringify(b.static_resources.listeners), /"failure_mode_allow":false/);
});
