// The plain manifests under deploy/ (Kubernetes with kustomize, Envoy Gateway, Istio),
// checked offline by kubeconform against the vendored Kubernetes and CRD schemas
// (deploy/schemas/SOURCES.md), plus the wiring between them that a schema cannot see.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
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
