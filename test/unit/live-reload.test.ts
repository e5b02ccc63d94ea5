// Which config changes a running gateway can take live: Envoy's bootstrap split into
// the part fixed at start and the routes/clusters served from watched files, and the
// sidecar's fixed settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { envoyBootstrap } from '../../src/envoy/bootstrap.js';
import { splitBootstrap, firstDifference, CDS_FILE, RDS_FILE } from '../../src/envoy/xds-files.js';
import { sidecarFixedDifference, assertSidecarReloadable, RestartNeededError } from '../../src/config/restart-needed.js';

const BASE = {
  gateway: { listen: '127.0.0.1:9000', admin: '127.0.0.1:9901' },
  sidecar: { listen: '127.0.0.1:9001' },
  servers: [{ name: 'tools', url: 'http://127.0.0.1:7000/mcp', tools: { allow: ['echo'] } }],
};

const config = (raw: Record<string, unknown>) => parseConfig(stringify(raw), '<test>');
const layout = (raw: Record<string, unknown>) => splitBootstrap(envoyBootstrap(config(raw), { launchId: 'fixed' }), '/run/xds');

test('the split bootstrap keeps the listener and the sidecar cluster, and points routes and upstream clusters at watched files', () => {
  const l = layout({ ...BASE, http_routes: [{ name: 'api', path_prefix: '/api', url: 'http://127.0.0.1:7100/' }] });
  const static_ = l.bootstrap.static_resources;
  assert.deepEqual(static_.clusters.map((c: { name: string }) => c.name).filter((n: string) => /mcp_upstream_|http_route_/.test(n)), []);
  assert.ok(static_.clusters.some((c: { name: string }) => c.name === 'mcp_gateway_sidecar'));
  assert.deepEqual(l.clusters.map((c) => c.name).sort(), ['http_route_api', 'mcp_upstream_tools']);
  const hcm = static_.listeners[0].filter_chains[0].filters[0].typed_config;
  assert.equal(hcm.route_config, undefined);
  assert.equal(hcm.rds.config_source.path_config_source.path, `/run/xds/${RDS_FILE}`);
  assert.equal(hcm.rds.config_source.path_config_source.watched_directory.path, '/run/xds');
  assert.equal(l.bootstrap.dynamic_resources.cds_config.path_config_source.path, `/run/xds/${CDS_FILE}`);
  assert.equal(hcm.rds.route_config_name, l.routes.name);
});

test('live changes leave the bootstrap as it is; restart-needed ones do not', () => {
  const before = layout(BASE).bootstrap;
  const live: Record<string, unknown>[] = [
    { ...BASE, servers: [...BASE.servers, { name: 'more', url: 'http://127.0.0.1:7001/mcp' }] },
    { ...BASE, servers: [{ ...BASE.servers[0], url: ['http://127.0.0.1:7000/mcp', 'http://127.0.0.1:7002/mcp'] }] },
    { ...BASE, servers: [{ ...BASE.servers[0], tools: { allow: ['*'] } }] },
    { ...BASE, servers: [{ ...BASE.servers[0], max_call_duration_ms: 5000, retries: 2 }] },
    { ...BASE, http_routes: [{ name: 'api', path_prefix: '/api', url: 'http://127.0.0.1:7100/' }] },
    { ...BASE, gateway: { ...BASE.gateway, path_prefix: '/tools', allowed_origins: ['https://app.example'], max_request_bytes: 1024 } },
    { ...BASE, servers: [{ ...BASE.servers[0], name: 'renamed' }] },
  ];
  for (const raw of live) assert.equal(firstDifference(before, layout(raw).bootstrap), undefined, stringify(raw));
  const restart: [Record<string, unknown>, RegExp][] = [
    [{ ...BASE, gateway: { ...BASE.gateway, listen: '127.0.0.1:9100' } }, /listeners/],
    [{ ...BASE, gateway: { ...BASE.gateway, max_response_bytes: 64 * 1024 * 1024 } }, /per_connection_buffer_limit_bytes/],
    [{ ...BASE, sidecar: { ...BASE.sidecar, message_timeout_ms: 500 } }, /message_timeout/],
    [{ ...BASE, audit: { sink: 'file', file: '/tmp/audit.jsonl' } }, /access_log/],
    [{ ...BASE, sidecar: { listen: '127.0.0.1:9002' } }, /clusters/],
    [{ ...BASE, gateway: { ...BASE.gateway, admin: '127.0.0.1:9902' } }, /admin/],
  ];
  for (const [raw, where] of restart) {
    const d = firstDifference(before, layout(raw).bootstrap);
    assert.ok(d !== undefined && where.test(d), `${stringify(raw)} → ${d}`);
  }
});

test('firstDifference names the first differing key path', () => {
  assert.equal(firstDifference({ a: 1, b: [1, 2] }, { a: 1, b: [1, 2] }), undefined);
  assert.equal(firstDifference({ a: 1, b: [1, 2] }, { a: 1, b: [1, 3] }), 'b[1]');
  assert.equal(firstDifference({ a: { c: 1 } }, { a: { c: 1, d: 2 } }), 'a.d');
  assert.equal(firstDifference({ a: [1] }, { a: { 0: 1 } }), 'a');
  assert.equal(firstDifference(1, 2), '(top level)');
  assert.equal(firstDifference({ a: null }, { a: {} }), 'a');
});

test("the sidecar's fixed settings: each change is named, everything else reloads", () => {
  const a = config(BASE);
  assert.equal(sidecarFixedDifference(a, config({ ...BASE, servers: [{ ...BASE.servers[0], tools: { allow: ['*'] } }] })), undefined);
  assert.equal(sidecarFixedDifference(a, config({ ...BASE, policy: { timeout_ms: 50 } })), undefined);
  const cases: [Record<string, unknown>, string][] = [
    [{ ...BASE, sidecar: { listen: '127.0.0.1:9002' } }, 'sidecar.listen'],
    [{ ...BASE, telemetry: { listen: '127.0.0.1:9464' } }, 'telemetry.listen'],
    [{ ...BASE, audit: { sink: 'file', file: '/tmp/a.jsonl' } }, 'audit.sink, audit.file'],
    [{ ...BASE, log: { level: 'debug' } }, 'log.level'],
  ];
  for (const [raw, named] of cases) {
    assert.equal(sidecarFixedDifference(a, config(raw)), named);
    assert.throws(() => assertSidecarReloadable(a, config(raw)), (e: unknown) => e instanceof RestartNeededError && e.message.startsWith(named) && /restart/.test(e.message));
  }
});
