// The plain manifests under deploy/ (Kubernetes with kustomize, Envoy Gateway, Istio),
// checked offline by kubeconform against the vendored Kubernetes and CRD schemas
// (deploy/schemas/SOURCES.md), plus the wiring between them that a schema cannot see.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { envoyValidate } from '../support/envoy-validate.js';
import { kubeconform, problems } from '../support/kubeconform.js';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: any };

const yamlFiles = async (dir: string) => (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(dir, f));
const objectsIn = async (files: string[]) => (await Promise.all(files.map(async (f) => parseAllDocuments(await readFile(f, 'utf8')).map((d) => d.toJS() as Obj)))).flat().filter((o) => o);

test('deploy/kubernetes: every resource kustomization.yaml lists is valid Kubernetes 1.37', async () => {
  const kustomization = parse(await readFile('deploy/kubernetes/kustomization.yaml', 'utf8')) as { resources: string[] };
  const files = kustomization.resources.map((r) => join('deploy/kubernetes', r));
  assert.deepEqual([...files, 'deploy/kubernetes/kustomization.yaml'].sort(), await yamlFiles('deploy/kubernetes'), 'every manifest is listed');
  const r = await kubeconform({ files });
  assert.deepEqual(problems(r), []);
  assert.deepEqual((await objectsIn(files)).map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service']);
  assert.equal(r.summary.valid, 4);
});

/** The resources a kustomization lists, checked to be every manifest of its folder. */
async function kustomized(dir: string): Promise<{ files: string[]; objects: Obj[] }> {
  const kustomization = parse(await readFile(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  const files = kustomization.resources.map((r) => join(dir, r));
  assert.deepEqual([...files, join(dir, 'kustomization.yaml')].sort(), await yamlFiles(dir), `every manifest of ${dir} is in its kustomization`);
  return { files, objects: await objectsIn(files) };
}

const named = (objects: Obj[], kind: string, name?: string): Obj => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `one ${kind} ${name ?? ''}`);
  return found[0]!;
};

/** The sidecar's config from its ConfigMap, loaded by the real loader. */
const sidecarConfig = (objects: Obj[]) => parseConfig(named(objects, 'ConfigMap').data['gateway.yaml'], 'sidecar-config.yaml');

/** What Envoy Gateway and Istio share: the sidecar Deployment + Service, one HTTPRoute per server on the Gateway `mcp`. */
function checkSidecarAndRoutes(objects: Obj[]) {
  const config = sidecarConfig(objects);
  const gateway = named(objects, 'Gateway', 'mcp');
  const hostnames = gateway.spec.listeners.map((l: any) => l.hostname);
  assert.deepEqual(config.gateway.allowedHosts, hostnames, 'the sidecar accepts the Host the Gateway serves');

  const routes = objects.filter((o) => o.kind === 'HTTPRoute');
  assert.equal(routes.length, config.servers.length, 'one HTTPRoute per virtual server');
  for (const server of config.servers) {
    const route = routes.find((r) => r.spec.rules.some((rule: any) => rule.matches.some((m: any) => m.path.type === 'Exact' && m.path.value === server.path)));
    assert.ok(route, `an HTTPRoute matches exactly ${server.path}`);
    assert.deepEqual(route.spec.parentRefs, [{ name: 'mcp' }]);
    const rule = route.spec.rules[0];
    const [backend] = rule.backendRefs;
    const url = server.url;
    assert.equal(`${backend.name}.mcp.svc.cluster.local:${backend.port}`, url.host, `${server.name}: the route's backend is the server's url`);
    const rewrite = rule.filters.find((f: any) => f.type === 'URLRewrite').urlRewrite;
    assert.deepEqual([rewrite.hostname, rewrite.path.replaceFullPath], [url.hostname, url.pathname]);
    assert.equal(rule.timeouts.request, '0s', 'SSE answers are not cut');
  }

  const deployment = named(objects, 'Deployment', 'mcp-gateway-sidecar');
  const service = named(objects, 'Service', 'mcp-gateway-sidecar');
  const pod = deployment.spec.template;
  for (const [k, v] of Object.entries(service.spec.selector)) assert.equal(pod.metadata.labels[k], v, 'the Service selects the sidecar pods');
  const container = pod.spec.containers[0];
  const containerPort = (name: string) => container.ports.find((p: any) => p.name === name).containerPort;
  assert.equal(config.sidecar.listen.kind === 'tcp' && config.sidecar.listen.port, containerPort('grpc'));
  assert.equal(config.sidecar.listen.kind === 'tcp' && config.sidecar.listen.host, '0.0.0.0', 'reachable through the Service');
  assert.equal(config.telemetry.listen?.port, containerPort('metrics'));
  assert.deepEqual([container.readinessProbe.httpGet.path, container.livenessProbe.httpGet.path], ['/readyz', '/healthz']);
  const grpcPort = service.spec.ports.find((p: any) => p.name === 'grpc');
  assert.equal(grpcPort.targetPort, 'grpc');
  return { config, routes, service, grpcPort };
}

test('deploy/envoy-gateway: valid against the Gateway API, Envoy Gateway and Kubernetes schemas, and wired to the sidecar config', async () => {
  const { files, objects } = await kustomized('deploy/envoy-gateway');
  const r = await kubeconform({ files });
  assert.deepEqual(problems(r), []);
  assert.equal(r.summary.valid, objects.length);

  const { config, routes, grpcPort } = checkSidecarAndRoutes(objects);
  const policy = named(objects, 'EnvoyExtensionPolicy');
  assert.deepEqual(policy.spec.targetRefs.map((t: any) => `${t.kind}/${t.name}`).sort(), routes.map((r) => `HTTPRoute/${r.metadata.name}`).sort(), 'ext_proc on every MCP route');
  const [extProc] = policy.spec.extProc;
  assert.deepEqual(extProc.backendRefs, [{ name: 'mcp-gateway-sidecar', port: grpcPort.port }]);
  assert.equal(grpcPort.appProtocol, 'kubernetes.io/h2c');
  // As the generated bootstrap: fail closed, buffered body, response headers only on request, the client address.
  assert.equal(extProc.failOpen, false);
  assert.equal(extProc.messageTimeout, `${config.sidecar.messageTimeoutMs / 1000}s`);
  assert.deepEqual(extProc.processingMode, { allowModeOverride: true, request: { body: 'Buffered', attributes: ['source.address'] } });
  assert.deepEqual(extProc.backendSettings.healthCheck.active.grpc, { service: 'envoy.service.ext_proc.v3.ExternalProcessor' });

  const ctp = named(objects, 'ClientTrafficPolicy');
  assert.deepEqual(ctp.spec.targetRefs, [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'mcp' }]);
  assert.ok(Number(/^(\d+)Mi$/.exec(ctp.spec.connection.bufferLimit)![1]) * 2 ** 20 >= Math.max(config.gateway.maxRequestBytes, config.gateway.maxResponseBytes));
  assert.equal(ctp.spec.timeout.http.streamIdleTimeout, `${config.gateway.streamIdleTimeoutS}s`);

  // Only the Gateway's Envoy proxies reach the ext_proc port.
  const np = named(objects, 'NetworkPolicy');
  const grpcRule = np.spec.ingress.find((i: any) => i.ports.some((p: any) => p.port === 'grpc'));
  assert.equal(grpcRule.from[0].podSelector.matchLabels['gateway.envoyproxy.io/owning-gateway-name'], 'mcp');
});

test('deploy/istio: valid against the Gateway API, Istio and Kubernetes schemas; the EnvoyFilter\'s ext_proc is the snippet\'s and Envoy accepts the patches', async () => {
  const { files, objects } = await kustomized('deploy/istio');
  const r = await kubeconform({ files });
  assert.deepEqual(problems(r), []);
  assert.equal(r.summary.valid, objects.length);

  const { grpcPort } = checkSidecarAndRoutes(objects);
  assert.equal(grpcPort.appProtocol, 'grpc', 'Istio speaks HTTP/2 to it');
  const gateway = named(objects, 'Gateway', 'mcp');
  assert.equal(gateway.spec.gatewayClassName, 'istio');
  const authz = named(objects, 'AuthorizationPolicy');
  assert.deepEqual(authz.spec.rules[0], { from: [{ source: { principals: [`cluster.local/ns/mcp/sa/${gateway.metadata.name}-istio`] } }], to: [{ operation: { ports: [String(grpcPort.port)] } }] });

  const filter = named(objects, 'EnvoyFilter');
  assert.deepEqual(filter.spec.targetRefs, [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'mcp' }]);
  const patch = (applyTo: string) => filter.spec.configPatches.find((p: any) => p.applyTo === applyTo).patch;
  const extProc = patch('HTTP_FILTER').value;
  const istioCluster = `outbound|${grpcPort.port}||mcp-gateway-sidecar.mcp.svc.cluster.local`;
  assert.equal(extProc.typed_config.grpc_service.envoy_grpc.cluster_name, istioCluster);
  const snippet = (parse(await readFile('envoy/snippets/ext-proc.yaml', 'utf8')) as any).http_filters[0];
  const sameButCluster = structuredClone(extProc);
  sameButCluster.typed_config.grpc_service.envoy_grpc.cluster_name = snippet.typed_config.grpc_service.envoy_grpc.cluster_name;
  assert.deepEqual(sameButCluster, snippet, 'the EnvoyFilter inserts the generated ext_proc filter');

  // The patches applied by hand to a minimal gateway Envoy, and that checked by Envoy itself.
  const hcm = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: 'gateway',
    route_config: { virtual_hosts: [{ name: 'mcp', domains: ['*'], routes: [{ match: { path: '/mcp/everything' }, route: { cluster: 'outbound|3001||everything.mcp.svc.cluster.local', timeout: '0s' } }] }] },
    http_filters: [extProc, { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
    ...Object.fromEntries(Object.entries(patch('NETWORK_FILTER').value.typed_config).filter(([k]) => k !== '@type')),
  };
  const cluster = (name: string, h2: boolean) => ({
    name,
    type: 'STATIC',
    ...(h2 && { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } } }),
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 9000 } } } }] }] },
  });
  const v = await envoyValidate({
    static_resources: {
      listeners: [{ name: 'gateway', address: { socket_address: { address: '127.0.0.1', port_value: 18080 } }, ...patch('LISTENER').value, filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }] }],
      clusters: [cluster(istioCluster, true), cluster('outbound|3001||everything.mcp.svc.cluster.local', false)],
    },
  });
  assert.ok(v.ok, v.output);
});
