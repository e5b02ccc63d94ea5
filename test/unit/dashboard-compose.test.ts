// docker-compose.yml's Prometheus and Grafana, checked offline (no Docker engine here):
// the files parse, every bind-mounted file exists, Prometheus scrapes what the compose
// gateway config really listens on (from inside Envoy's network namespace, where the
// sidecar's telemetry and Envoy's admin are), and Grafana finds Prometheus and the dashboard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfigFile } from '../../src/config/load.js';

interface Service {
  image?: string;
  network_mode?: string;
  volumes?: string[];
  command?: string[];
  ports?: string[];
  depends_on?: Record<string, unknown>;
}

const read = async (path: string) => parse(await readFile(path, 'utf8'), { merge: true }) as Record<string, unknown>;

test('compose: Prometheus scrapes the sidecar and Envoy where the compose config binds them; Grafana gets both provisioned', async () => {
  const compose = (await read('docker-compose.yml')) as { services: Record<string, Service> };
  const { services } = compose;
  for (const name of ['envoy', 'sidecar', 'prometheus', 'grafana']) assert.ok(services[name], `service ${name}`);

  // Every bind-mounted file or folder is in the repo.
  for (const [name, s] of Object.entries(services)) {
    for (const v of s.volumes ?? []) {
      const [src] = v.split(':');
      if (src!.startsWith('./')) assert.ok(existsSync(src!), `${name}: ${src} does not exist`);
    }
  }

  // Prometheus shares Envoy's network namespace, as the sidecar does: loopback there is the sidecar's and Envoy's.
  assert.equal(services.prometheus!.network_mode, 'service:envoy');
  assert.equal(services.sidecar!.network_mode, 'service:envoy');
  const mount = (s: Service, target: string) => (s.volumes ?? []).find((v) => v.split(':')[1] === target)?.split(':')[0];
  const promFile = mount(services.prometheus!, '/etc/prometheus/prometheus.yml');
  assert.equal(promFile, './deploy/prometheus/prometheus.yml');
  assert.ok(services.prometheus!.command!.includes('--config.file=/etc/prometheus/prometheus.yml'));

  const gatewayYaml = mount(services.sidecar!, '/etc/mcp-gateway/gateway.yaml')!;
  const config = await loadConfigFile(gatewayYaml);
  const prom = (await read(promFile!)) as { scrape_configs: Array<{ job_name: string; metrics_path: string; static_configs: Array<{ targets: string[] }> }> };
  const job = (name: string) => {
    const j = prom.scrape_configs.find((c) => c.job_name === name);
    assert.ok(j, `job ${name}`);
    return { path: j.metrics_path, targets: j.static_configs.flatMap((c) => c.targets) };
  };
  const reachable = (hp: { host: string; port: number }) => `${hp.host === '0.0.0.0' ? '127.0.0.1' : hp.host}:${hp.port}`;
  assert.ok(config.telemetry.listen, 'the compose config turns telemetry.listen on');
  assert.deepEqual(job('mcp-gateway-sidecar'), { path: '/metrics', targets: [reachable(config.telemetry.listen)] });
  assert.deepEqual(job('envoy'), { path: '/stats/prometheus', targets: [reachable(config.gateway.adminListen)] });
  // The admin stays on loopback: only what shares Envoy's namespace reaches it.
  assert.equal(config.gateway.adminListen.host, '127.0.0.1');

  // Grafana: the datasource is Prometheus at the namespace owner's name, default port; the dashboard is mounted where the provider looks.
  const g = services.grafana!;
  const provisioning = mount(g, '/etc/grafana/provisioning')!;
  const ds = (await read(join(provisioning, 'datasources/prometheus.yaml'))) as { datasources: Array<{ type: string; url: string }> };
  assert.equal(ds.datasources[0]!.type, 'prometheus');
  assert.equal(ds.datasources[0]!.url, `http://${services.prometheus!.network_mode!.slice('service:'.length)}:9090`);
  assert.ok(!services.prometheus!.command!.some((a) => a.startsWith('--web.listen-address')), 'Prometheus on its default port 9090');
  const provider = (await read(join(provisioning, 'dashboards/mcp-gateway.yaml'))) as { providers: Array<{ type: string; options: { path: string } }> };
  const dashDir = mount(g, provider.providers[0]!.options.path)!;
  assert.ok(existsSync(join(dashDir, 'mcp-gateway.json')));
  assert.deepEqual(g.ports, ['127.0.0.1:3000:3000']);
  // Nothing else is published but the gateway and Grafana, on the host's loopback.
  const published = Object.entries(services).flatMap(([n, s]) => (s.ports ?? []).map((p) => `${n} ${p}`));
  assert.deepEqual(published.sort(), ['envoy 127.0.0.1:10000:10000', 'grafana 127.0.0.1:3000:3000', 'jaeger 127.0.0.1:16686:16686']);

  // Traces go to the compose service jaeger, on its OTLP/HTTP port.
  assert.ok(services.jaeger?.image?.startsWith('jaegertracing/jaeger:2.'), 'a Jaeger v2 service');
  const tracing = config.telemetry.tracing;
  assert.ok(tracing, 'the compose config turns tracing on');
  assert.equal(tracing.protocol, 'http/protobuf');
  assert.equal(new URL(tracing.endpoint).host, 'jaeger:4318');
});

test('compose: the sidecar reaches envoyproxy/ratelimit and Redis by their service names; the service reads the config generated from the gateway config', async () => {
  const compose = (await read('docker-compose.yml')) as { services: Record<string, Service & { environment?: Record<string, string> }> };
  const { services } = compose;
  const mount = (s: Service, target: string) => (s.volumes ?? []).find((v) => v.split(':')[1] === target)?.split(':')[0];
  const config = await loadConfigFile(mount(services.sidecar!, '/etc/mcp-gateway/gateway.yaml')!);
  const rls = services.ratelimit!;
  const env = rls.environment!;
  assert.ok(config.limits.limits.length > 0, 'the compose config has rate_limits');
  // The sidecar lives in Envoy's namespace, on the compose network: service names resolve.
  assert.deepEqual(config.limits.service?.address, { host: 'ratelimit', port: Number(env.GRPC_PORT) });
  assert.equal(config.limits.redis?.url, `redis://${env.REDIS_URL}`);
  assert.ok(services[env.REDIS_URL!.split(':')[0]!], 'the Redis the service uses is a compose service');
  // The one-shot writes into the volume the service reads its config folder from.
  const gen = services['ratelimit-config']!;
  assert.deepEqual(gen.command!.slice(0, 1), ['ratelimit-config']);
  const out = gen.command![gen.command!.indexOf('--output') + 1]!;
  const shared = (gen.volumes ?? []).find((v) => out.startsWith(`${v.split(':')[1]}/`))!.split(':')[0];
  assert.equal(mount(rls, `${env.RUNTIME_ROOT}/${env.RUNTIME_SUBDIRECTORY}/config`), shared);
  assert.ok(out.endsWith('.yaml'));
  // The image's tag is the commit the bootstrap pins for the tests.
  const versions = await readFile('scripts/versions.sh', 'utf8');
  const commit = /RATELIMIT_VERSION=.*-([0-9a-f]{12})$/m.exec(versions)![1]!;
  assert.equal(rls.image, `envoyproxy/ratelimit:${commit.slice(0, 8)}`);
});
