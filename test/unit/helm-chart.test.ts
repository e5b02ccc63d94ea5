// The Helm chart (deploy/helm/mcp-gateway), offline: `helm lint --strict` and
// `helm template` with each value set in its ci/ folder, the output checked by
// kubeconform against the vendored Kubernetes and prometheus-operator schemas, and the
// gateway config it renders loaded by the real config loader and matched against the
// pod's ports and mounts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfigFile } from '../../src/config/load.js';
import { helm } from '../support/helm.js';
import { kubeconform, problems } from '../support/kubeconform.js';

const CHART = 'deploy/helm/mcp-gateway';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: any };

async function render(valuesFile: string, extra: string[] = []): Promise<{ yaml: string; objects: Obj[] }> {
  const { stdout } = await helm(['template', 'mcp-gateway', CHART, '--namespace', 'mcp', '-f', valuesFile, ...extra]);
  const objects = parseAllDocuments(stdout).map((d) => d.toJS() as Obj).filter((o) => o);
  return { yaml: stdout, objects };
}

const kindsOf = (objects: Obj[]) => objects.map((o) => o.kind).sort();
const one = (objects: Obj[], kind: string) => {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0]!;
};

test('helm lint --strict passes with every value set in ci/', async () => {
  for (const f of ['default-values.yaml', 'production-values.yaml', 'existing-config-values.yaml']) {
    const { stdout } = await helm(['lint', '--strict', CHART, '-f', join(CHART, 'ci', f)]);
    assert.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/, f);
  }
});

const sets: Array<{ file: string; kinds: string[] }> = [
  { file: 'default-values.yaml', kinds: ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service'] },
  { file: 'production-values.yaml', kinds: ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service', 'ServiceMonitor'] },
  { file: 'existing-config-values.yaml', kinds: ['Deployment', 'Service'] },
];

for (const { file, kinds } of sets) {
  test(`helm template -f ci/${file} | kubeconform: ${kinds.join(', ')}, all valid`, async () => {
    const { yaml, objects } = await render(join(CHART, 'ci', file));
    assert.deepEqual(kindsOf(objects), kinds);
    const r = await kubeconform({ input: yaml });
    assert.deepEqual(problems(r), []);
    assert.equal(r.summary.valid, kinds.length);
    // No mount inside another: the runtime cannot create a mount point in a read-only volume.
    const pod = one(objects, 'Deployment').spec.template.spec;
    for (const c of [...pod.initContainers, ...pod.containers]) {
      const paths: string[] = c.volumeMounts.map((m: any) => m.mountPath);
      for (const a of paths) for (const b of paths) assert.ok(a === b || !b.startsWith(`${a}/`), `${c.name}: ${b} is inside ${a}`);
    }
  });
}

test('the rendered gateway config loads, and its addresses are the pod\'s ports, probes and Service', async () => {
  const { objects } = await render(join(CHART, 'ci', 'production-values.yaml'));
  const dir = await mkdtemp(join(tmpdir(), 'helm-config-'));
  try {
    const file = join(dir, 'gateway.yaml');
    await writeFile(file, one(objects, 'ConfigMap').data['gateway.yaml']);
    const config = await loadConfigFile(file);
    assert.deepEqual(config.servers.map((s) => s.name), ['github', 'everything']);
    // Envoy on the pod IP, its admin and the ext_proc port on loopback only.
    assert.equal(config.gateway.listen.host, '0.0.0.0');
    assert.equal(config.gateway.adminListen.host, '127.0.0.1');
    assert.equal(config.sidecar.listen.kind === 'tcp' && config.sidecar.listen.host, '127.0.0.1');
    assert.equal(config.telemetry.listen?.host, '0.0.0.0');
    // The policy bundle is the mounted Secret's file.
    assert.equal(config.servers[0]!.policyBundle, '/etc/mcp-gateway-policy/bundle.tar.gz');
    assert.deepEqual(config.gateway.allowedHosts, ['mcp.example.com', 'mcp-gateway.mcp.svc:10000']);

    const pod = one(objects, 'Deployment').spec.template.spec;
    const sidecar = pod.initContainers.find((c: any) => c.name === 'mcp-gateway');
    const envoy = pod.containers.find((c: any) => c.name === 'envoy');
    assert.equal(sidecar.restartPolicy, 'Always', 'a native sidecar');
    assert.equal(sidecar.ports.find((p: any) => p.name === 'metrics').containerPort, config.telemetry.listen!.port);
    assert.equal(envoy.ports.find((p: any) => p.name === 'http').containerPort, config.gateway.listen.port);
    for (const probe of ['startupProbe', 'readinessProbe']) assert.deepEqual([sidecar[probe].httpGet.path, sidecar[probe].httpGet.port], ['/readyz', 'metrics']);
    assert.deepEqual([sidecar.livenessProbe.httpGet.path, sidecar.livenessProbe.httpGet.port], ['/healthz', 'metrics']);
    assert.match(envoy.readinessProbe.exec.command.join(' '), new RegExp(`/dev/tcp/127\\.0\\.0\\.1/${config.gateway.adminListen.port}.*GET /ready `));
    assert.ok(pod.volumes.find((v: any) => v.name === 'policy').secret.secretName === 'mcp-gateway-policy');
    assert.ok(sidecar.volumeMounts.some((m: any) => m.name === 'policy' && m.mountPath === '/etc/mcp-gateway-policy'));
    // Secrets for the config's *_file settings are mounted where the config says; env passes through.
    assert.equal(config.sessions.key?.file, '/etc/mcp-gateway-secrets/session/key');
    assert.ok(pod.volumes.some((v: any) => v.name === 'session-key' && v.secret.secretName === 'mcp-gateway-session'));
    for (const c of [sidecar, pod.initContainers.find((c: any) => c.name === 'envoy-config')]) {
      assert.ok(c.volumeMounts.some((m: any) => m.name === 'session-key' && m.mountPath === '/etc/mcp-gateway-secrets/session' && m.readOnly), c.name);
    }
    assert.deepEqual(sidecar.env, [{ name: 'GITHUB_TOKEN', valueFrom: { secretKeyRef: { name: 'github-mcp', key: 'token' } } }]);
    // The HPA owns the replica count.
    assert.equal(one(objects, 'Deployment').spec.replicas, undefined);

    const svc = one(objects, 'Service');
    assert.deepEqual(svc.spec.ports.map((p: any) => [p.name, p.targetPort]), [['http', 'http'], ['metrics', 'metrics']]);
    const sm = one(objects, 'ServiceMonitor');
    assert.equal(sm.spec.endpoints[0].port, 'metrics');
    assert.equal(sm.metadata.labels?.release, 'kube-prometheus-stack');
    assert.deepEqual(sm.spec.selector.matchLabels, svc.spec.selector);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('by default the Service\'s own names are the allowed hosts', async () => {
  const { objects } = await render(join(CHART, 'ci', 'default-values.yaml'));
  const dir = await mkdtemp(join(tmpdir(), 'helm-config-'));
  try {
    const file = join(dir, 'gateway.yaml');
    await writeFile(file, one(objects, 'ConfigMap').data['gateway.yaml']);
    const config = await loadConfigFile(file);
    assert.equal(config.gateway.listen.port, 10000);
    assert.deepEqual(config.gateway.allowedHosts, ['mcp-gateway:10000', 'mcp-gateway.mcp.svc:10000', 'mcp-gateway.mcp.svc.cluster.local:10000', 'localhost:*', '127.0.0.1:*']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('values the chart cannot honour are refused by values.schema.json or the templates', async () => {
  const refused: Array<[string[], RegExp]> = [
    [['--set', 'config.gateway.listen=0.0.0.0:1'], /config\/gateway/],
    [['--set', 'telemetry=1'], /additional properties 'telemetry' not allowed/],
    [['--set', 'ports.http=70000'], /ports\/http/],
    [['--set', 'serviceMonitor.interval=often'], /serviceMonitor\/interval/],
    [['--set-json', 'secretMounts=[{"name":"k","secretName":"k","mountPath":"/etc/mcp-gateway/k"}]'], /secretMounts\/0\/mountPath/],
    [['--set', 'policyBundle.secretName=a', '--set', 'policyBundle.configMapName=b'], /secretName or configMapName, not both/],
  ];
  for (const [args, error] of refused) {
    await assert.rejects(render(join(CHART, 'ci', 'default-values.yaml'), args), (e: Error & { stderr?: string }) => (assert.match(e.stderr ?? e.message, error), true), args.join(' '));
  }
});

test('kubeconform is strict with these schemas: an unknown field in the pod spec is invalid', async () => {
  const { yaml } = await render(join(CHART, 'ci', 'default-values.yaml'));
  const r = await kubeconform({ input: yaml.replace('terminationGracePeriodSeconds:', 'terminationGracePeriod:') });
  assert.equal(r.summary.invalid, 1);
  assert.match(problems(r).join('\n'), /Deployment\/mcp-gateway: statusInvalid .*terminationGracePeriod/);
});
