// A gateway config file for tests that run the `mcp-gateway` CLI: one curated server
// in front of `upstreamUrl` on the given addresses, plus any extra YAML.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface CliConfigAddresses {
  listen: string;
  admin: string;
  sidecar: string;
}

export async function writeCliConfig(dir: string, upstreamUrl: string, at: CliConfigAddresses, extra = ''): Promise<string> {
  const file = join(dir, `gateway-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(
    file,
    `gateway:
  listen: ${at.listen}
  admin: ${at.admin}
sidecar:
  listen: ${at.sidecar}
servers:
  - name: everything
    url: ${upstreamUrl}
    tools:
      allow: ["echo"]
${extra}`,
  );
  return file;
}
