// `envoy --mode validate` on a config: Envoy parses it, checks every typed_config
// against its protos and builds the listeners and clusters, without binding or connecting.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

export async function envoyValidate(config: object | string): Promise<{ ok: boolean; output: string }> {
  const bin = process.env.ENVOY_BIN;
  if (!bin) throw new Error('ENVOY_BIN is not set: run the tests through npm test, or source .tools/paths.env');
  const dir = await mkdtemp(join(tmpdir(), 'envoy-validate-'));
  try {
    const file = join(dir, 'envoy.yaml');
    await writeFile(file, typeof config === 'string' ? config : stringify(config));
    return await new Promise((resolve) =>
      execFile(bin, ['--mode', 'validate', '-c', file, '--log-level', 'warn'], { maxBuffer: 8 << 20 }, (err, stdout, stderr) =>
        resolve({ ok: !err && /configuration '.*' OK/.test(stdout + stderr), output: stdout + stderr }),
      ),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
