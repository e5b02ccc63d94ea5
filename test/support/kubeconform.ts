// Runs kubeconform (pinned, built by the bootstrap) over manifests, strictly and offline:
// only the JSON schemas vendored under deploy/schemas/ are used (its default location
// is on the internet), and a kind without a schema there is an error, not a skip.
import { spawn } from 'node:child_process';

export const SCHEMA_LOCATIONS = [
  'deploy/schemas/kubernetes/{{ .ResourceKind }}{{ .KindSuffix }}.json',
  'deploy/schemas/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json',
];

export interface CheckedResource {
  filename: string;
  kind: string;
  name: string;
  version: string;
  status: string;
  msg?: string;
}

export interface KubeconformResult {
  resources: CheckedResource[];
  summary: { valid: number; invalid: number; errors: number; skipped: number };
}

/** A tool the bootstrap built, from the path it wrote to .tools/paths.env. */
export function toolBin(name: 'HELM_BIN' | 'KUBECONFORM_BIN'): string {
  const bin = process.env[name];
  if (!bin) throw new Error(`${name} is not set: run the tests through npm test, or source .tools/paths.env (scripts/bootstrap.sh writes it)`);
  return bin;
}

/** Checks files, or YAML given on stdin (input). */
export async function kubeconform(args: { files?: string[]; input?: string }): Promise<KubeconformResult> {
  const argv = ['-strict', '-summary', '-verbose', '-output', 'json', ...SCHEMA_LOCATIONS.flatMap((l) => ['-schema-location', l]), ...(args.files ?? ['-'])];
  const child = spawn(toolBin('KUBECONFORM_BIN'), argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  child.stdin.end(args.input ?? '');
  // Exit code 1 means "something invalid": the JSON says what; anything else is a failure to run.
  const code = await new Promise<number>((resolve, reject) => child.on('error', reject).on('close', (c) => resolve(c ?? -1)));
  if (code !== 0 && code !== 1) throw new Error(`kubeconform exited ${code}: ${err}`);
  return JSON.parse(out) as KubeconformResult;
}

/** What the kubeconform verdicts say, one line per resource that is not valid. */
export function problems(r: KubeconformResult): string[] {
  return r.resources.filter((x) => x.status !== 'statusValid').map((x) => `${x.filename} ${x.kind}/${x.name}: ${x.status} ${x.msg ?? ''}`);
}
