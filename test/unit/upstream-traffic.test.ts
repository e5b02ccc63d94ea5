// servers[] traffic settings: their defaults, the errors they report, and the Envoy
// cluster and routes generated from them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, ConfigError } from '../../src/config/load.js';
import { envoyBootstrap } from '../../src/envoy/bootstrap.js';

const server = (extra: string, url = 'http://127.0.0.1:3001/mcp') => `servers:\n  - name: s\n    url: ${url}\n${extra.replace(/^/gm, '    ')}\n`;
type Json = Record<string, any>;
const cluster = (yaml: string): Json => (envoyBootstrap(parseConfig(yaml)) as Json).static_resources.clusters.find((c: Json) => c.name === 'mcp_upstream_s');
const routes = (yaml: string): Json[] => (envoyBootstrap(parseConfig(yaml)) as Json).static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;

test('nothing configured: Envoy defaults (no health check, no ejection, no retries, no call limit), system CA for https', () => {
  const c = cluster(server(''));
  for (const k of ['health_checks', 'outlier_detection', 'circuit_breakers', 'common_lb_config']) assert.equal(c[k], undefined, k);
  const [r] = routes(server(''));
  assert.equal(r!.route.timeout, '0s');
  assert.equal(r!.route.retry_policy, undefined);
  const tls = cluster(server('', 'https://mcp.example.com/mcp')).transport_socket.typed_config;
  assert.equal(tls.sni, 'mcp.example.com');
  assert.equal(tls.common_tls_context.validation_context.trusted_ca.filename, '/etc/ssl/certs/ca-certificates.crt');
  assert.deepEqual(tls.common_tls_context.validation_context.match_typed_subject_alt_names, [{ san_type: 'DNS', matcher: { exact: 'mcp.example.com' } }]);
});

test('health_check: mcp by default — a POSTed JSON-RPC ping, healthy on any answer below 500 that contains JSON-RPC', () => {
  const c = cluster(server('health_check: {}'));
  const [hc] = c.health_checks;
  assert.equal(hc.interval, '5s');
  assert.equal(hc.timeout, '1s');
  assert.equal(hc.no_traffic_interval, '5s');
  const h = hc.http_health_check;
  assert.equal(h.method, 'POST');
  assert.equal(h.path, '/mcp');
  assert.equal(h.host, '127.0.0.1:3001');
  assert.deepEqual(JSON.parse(Buffer.from(h.send.text, 'hex').toString()), { jsonrpc: '2.0', id: 'mcp-gateway-health', method: 'ping' });
  assert.equal(Buffer.from(h.receive[0].text, 'hex').toString(), 'jsonrpc');
  assert.deepEqual(h.expected_statuses, [{ start: 200, end: 500 }]);
  assert.equal(c.common_lb_config.healthy_panic_threshold.value, 50, "Envoy's default panic threshold, stated");
  assert.deepEqual(cluster(server('health_check: { kind: tcp, interval_ms: 400 }')).health_checks[0].tcp_health_check, {});
  assert.equal(cluster(server('health_check: { kind: tcp, interval_ms: 400 }')).health_checks[0].timeout, '0.2s', 'the default timeout stays under a short interval');
  assert.deepEqual(cluster(server('health_check: { kind: http, path: /healthz }')).health_checks[0].http_health_check, { path: '/healthz', host: '127.0.0.1:3001' });
});

test('outlier_detection: gateway errors by default; only the signals asked for eject', () => {
  const od = cluster(server('outlier_detection: {}')).outlier_detection;
  assert.equal(od.consecutive_gateway_failure, 5);
  assert.equal(od.enforcing_consecutive_gateway_failure, 100);
  assert.equal(od.enforcing_consecutive_5xx, 0);
  assert.equal(od.enforcing_success_rate, 0);
  const five = cluster(server('outlier_detection: { consecutive_5xx: 3, base_ejection_ms: 1000 }')).outlier_detection;
  assert.equal(five.consecutive_5xx, 3);
  assert.equal(five.enforcing_consecutive_gateway_failure, 0);
  assert.equal(five.base_ejection_time, '1s');
});

test('retries only of requests no upstream received, on another replica; max_call_duration_ms bounds POSTs only', () => {
  const rs = routes(server('retries: 2\nmax_call_duration_ms: 30000'));
  const post = rs.find((r) => r.name === 'mcp_s_post')!;
  const all = rs.find((r) => r.name === 'mcp_s')!;
  assert.ok(rs.indexOf(post) < rs.indexOf(all), 'the POST route comes first');
  assert.deepEqual(post.match.headers, [{ name: ':method', string_match: { exact: 'POST' } }]);
  assert.equal(post.route.timeout, '30s');
  assert.equal(post.route.max_stream_duration.max_stream_duration, '30s');
  assert.equal(all.route.timeout, '0s', 'GET streams are not bounded');
  for (const r of [post, all]) {
    const retryOn = String(r.route.retry_policy.retry_on).split(',');
    assert.deepEqual(retryOn.sort(), ['connect-failure', 'refused-stream', 'reset-before-request']);
    for (const unsafe of ['5xx', 'gateway-error', 'reset', 'retriable-status-codes']) assert.ok(!retryOn.includes(unsafe), `${unsafe} could repeat a call that ran`);
    assert.equal(r.route.retry_policy.num_retries, 2);
  }
});

test('circuit breakers and upstream TLS (CA, SNI, SANs, client certificate)', () => {
  const cb = cluster(server('circuit_breakers: { max_requests: 4096, max_connections: 2048 }')).circuit_breakers.thresholds[0];
  assert.deepEqual(cb, { priority: 'DEFAULT', max_connections: 2048, max_requests: 4096 });
  const tls = cluster(server('tls: { ca_file: /etc/ca.pem, sni: internal.example, subject_alt_names: [a.example, 10.0.0.7], client_cert_file: /c.pem, client_key_file: /k.pem }', 'https://10.0.0.7/mcp')).transport_socket.typed_config;
  assert.equal(tls.sni, 'internal.example');
  assert.equal(tls.common_tls_context.validation_context.trusted_ca.filename, '/etc/ca.pem');
  assert.deepEqual(tls.common_tls_context.validation_context.match_typed_subject_alt_names.map((m: Json) => m.san_type), ['DNS', 'IP_ADDRESS']);
  assert.deepEqual(tls.common_tls_context.tls_certificates, [{ certificate_chain: { filename: '/c.pem' }, private_key: { filename: '/k.pem' } }]);
});

test('bad traffic settings are reported with their place', () => {
  const cases: [string, string, RegExp][] = [
    [server('tls: { sni: x }'), 'servers[0].tls', /https: upstreams only/],
    [server('tls: { client_cert_file: /c.pem }', 'https://a.example/mcp'), 'servers[0].tls', /both client_cert_file and client_key_file/],
    [server('health_check: { interval_ms: 500, timeout_ms: 500 }'), 'servers[0].health_check.timeout_ms', /shorter than interval_ms/],
    [server('health_check: { kind: tcp, path: /x }'), 'servers[0].health_check.path', /tcp health check has no path/],
    [server('retries: 11'), 'servers[0].retries', /10/],
    [server('health_check: { kind: grpc }'), 'servers[0].health_check.kind', /mcp|http|tcp/],
    [server('circuit_breakers: { max_request: 1 }'), 'servers[0].circuit_breakers.max_request', /unknown key/],
  ];
  for (const [yaml, path, message] of cases) {
    assert.throws(
      () => parseConfig(yaml, 'g.yaml'),
      (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.path === path && message.test(p.message)) || assert.fail(`${path}: ${(err as Error).message}`),
    );
  }
});

test('versions: one weighted cluster of every replica (version in its metadata), one per header-selected version, header routes first', () => {
  const yaml = `servers:
  - name: s
    versions:
      - { name: stable, url: [http://127.0.0.1:3001/mcp, http://127.0.0.1:3002/mcp], weight: 9 }
      - { name: canary, url: http://127.0.0.1:3003/mcp, weight: 1 }
      - { name: staging, url: http://127.0.0.1:3004/mcp, weight: 0, match_header: { name: x-env, value: staging } }
`;
  const config = parseConfig(yaml);
  assert.equal(config.servers[0]!.replicas.length, 4);
  const clusters = (envoyBootstrap(config) as Json).static_resources.clusters as Json[];
  const all = clusters.find((c) => c.name === 'mcp_upstream_s')!;
  const eps = all.load_assignment.endpoints[0].lb_endpoints as Json[];
  assert.deepEqual(eps.map((e) => [e.endpoint.address.socket_address.port_value, e.load_balancing_weight, e.metadata.filter_metadata.mcp_gateway.version]), [
    [3001, 4500, 'stable'],
    [3002, 4500, 'stable'],
    [3003, 1000, 'canary'],
  ], 'per-replica weights keep the versions at 9:1, staging only by header');
  const staging = clusters.find((c) => c.name === 'mcp_upstream_s__staging')!;
  assert.equal(staging.load_assignment.endpoints[0].lb_endpoints.length, 1);
  const rs = routes(yaml);
  assert.deepEqual(rs.map((r) => r.name).slice(0, 2), ['mcp_s__staging', 'mcp_s']);
  assert.deepEqual(rs[0]!.match.headers, [{ name: 'x-env', string_match: { exact: 'staging' } }]);
  assert.equal(rs[0]!.route.cluster, 'mcp_upstream_s__staging');
  for (const r of rs.slice(0, 2)) assert.equal(r.response_headers_to_add[0].header.value, '%UPSTREAM_METADATA(["mcp_gateway","version"])%');
  assert.equal(routes(server(''))[0]!.response_headers_to_add, undefined, 'no version header without versions');
});

test('bad versions are reported', () => {
  const v = (versions: string, url = '') => `servers:\n  - name: s\n${url}    versions:\n${versions}`;
  const cases: [string, string, RegExp][] = [
    [v('      - { name: a, url: http://127.0.0.1:1/mcp }\n', '    url: http://127.0.0.1:2/mcp\n'), 'servers[0].url', /exactly one of url, versions, command or openapi/],
    [`servers:\n  - name: s\n`, 'servers[0].url', /exactly one of url, versions, command or openapi/],
    [v('      - { name: a, url: http://127.0.0.1:1/mcp }\n      - { name: a, url: http://127.0.0.1:2/mcp }\n'), 'servers[0].versions[1].name', /duplicate/],
    [v('      - { name: a, url: http://127.0.0.1:1/mcp }\n      - { name: b, url: http://127.0.0.1:2/mcp, weight: 0 }\n'), 'servers[0].versions[1]', /nothing would ever reach/],
    [v('      - { name: a, url: http://127.0.0.1:1/mcp, weight: 0, match_header: { name: x-a, value: "1" } }\n'), 'servers[0].versions', /weight above 0/],
    [v('      - { name: a, url: http://127.0.0.1:1/mcp }\n      - { name: b, url: http://127.0.0.1:2/other }\n'), 'servers[0].url', /share scheme and path/],
    [v('      - { name: a, url: http://127.0.0.1:1/mcp, match_header: { name: x-mcp-gateway-v, value: "1" } }\n'), 'servers[0].versions[0].match_header.name', /gateway's own/],
  ];
  for (const [yaml, path, message] of cases) {
    assert.throws(
      () => parseConfig(yaml, 'g.yaml'),
      (err: unknown) => (err instanceof ConfigError && err.problems.some((p) => p.path === path && message.test(p.message))) || assert.fail(`${path}: ${(err as Error).message}`),
    );
  }
});

test('http_routes: segment-wise prefixes, no overlap with MCP servers, each other or /.well-known; auth: required needs auth', () => {
  const base = `auth:\n  api_keys:\n    keys: [{ sha256: "${'a'.repeat(64)}", subject: s }]\nservers:\n  - name: s\n    url: http://127.0.0.1:3001/mcp\n`;
  const routesYaml = (rs: string) => `${base}http_routes:\n${rs}`;
  const ok = parseConfig(routesYaml('  - { name: api, path_prefix: /api/x, url: http://127.0.0.1:4000/ }\n'));
  assert.deepEqual(ok.httpRoutes.map((r) => [r.name, r.auth, r.forwardCredentials, r.timeoutMs]), [['api', 'none', false, 15000]]);
  const route = (envoyBootstrap(ok) as Json).static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes.find((r: Json) => r.name === 'http_api');
  assert.deepEqual(route.match, { path_separated_prefix: '/api/x' });
  assert.deepEqual(route.route.regex_rewrite, { pattern: { regex: '^/api/x/?' }, substitution: '/' });
  assert.equal(route.typed_per_filter_config['envoy.filters.http.ext_proc'].disabled, true);
  const cases: [string, string, RegExp][] = [
    [routesYaml('  - { name: api, path_prefix: /mcp, url: http://127.0.0.1:4000/ }\n'), 'http_routes[0].path_prefix', /covers \/mcp\/s/],
    [routesYaml('  - { name: a, path_prefix: /api, url: http://127.0.0.1:4000/ }\n  - { name: b, path_prefix: /api/v2, url: http://127.0.0.1:4000/ }\n'), 'http_routes[1].path_prefix', /overlaps http_routes\[0\]/],
    [routesYaml('  - { name: a, path_prefix: /.well-known, url: http://127.0.0.1:4000/ }\n'), 'http_routes[0].path_prefix', /reserved/],
    [routesYaml('  - { name: s, path_prefix: /api, url: http://127.0.0.1:4000/ }\n'), 'http_routes[0].name', /already the name/],
    [routesYaml('  - { name: a, path_prefix: /api/, url: http://127.0.0.1:4000/ }\n'), 'http_routes[0].path_prefix', /no trailing slash/],
    [`servers:\n  - name: s\n    url: http://127.0.0.1:3001/mcp\nhttp_routes:\n  - { name: a, path_prefix: /api, url: http://127.0.0.1:4000/, auth: required }\n`, 'http_routes[0].auth', /configure auth/],
  ];
  for (const [yaml, path, message] of cases) {
    assert.throws(
      () => parseConfig(yaml, 'g.yaml'),
      (err: unknown) => (err instanceof ConfigError && err.problems.some((p) => p.path === path && message.test(p.message))) || assert.fail(`${path}: ${(err as Error).message}`),
    );
  }
});
