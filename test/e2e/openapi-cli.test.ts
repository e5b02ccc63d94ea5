// The commands around OpenAPI servers and the catalog, run as the CLI: `openapi-bridge`
// serves the tools at openapi.listen for a sidecar run apart (and `sidecar` refuses an
// OpenAPI server without one); `catalog --as` prints what a caller would get.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { freePort } from '../support/ports.js';
import { startPetApi, type RunningPetApi } from '../support/pet-api.js';

const run = promisify(execFile);
const CLI = ['--import', 'tsx', 'src/cli.ts'];
let dir: string;
let api: RunningPetApi;
let bridgePort: number;
let config: string;
let child: ChildProcess | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-openapi-cli-'));
  api = await startPetApi();
  bridgePort = await freePort();
  config = join(dir, 'gateway.yaml');
  await writeFile(
    config,
    `gateway: { catalog: { namespace: com.example } }
servers:
  - name: pets
    openapi: { spec: ${resolve('test/fixtures/openapi/petstore.yaml')}, base_url: "${api.url}", listen: "127.0.0.1:${bridgePort}", include: { tags: [pets] } }
    tools: { deny: [delete-pet] }
`,
  );
});

after(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  await api?.close();
});

describe('the CLI', () => {
  test('openapi-bridge serves the spec\'s tools at openapi.listen, and a call reaches the API', async () => {
    child = spawn(process.execPath, [...CLI, 'openapi-bridge', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const deadline = Date.now() + 30_000;
    while (!stderr.includes('openapi bridge listening')) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `the bridge did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const client = new Client({ name: 'cli-e2e', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${bridgePort}/mcp`)));
    // The bridge itself lists every operation of the selection; curation is the gateway's.
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), ['create-pet', 'delete-pet', 'get-pet', 'get-pets']);
    const r = (await client.callTool({ name: 'get-pet', arguments: { petId: '2' } })) as { structuredContent?: { name?: string } };
    assert.equal(r.structuredContent?.name, 'Tom');
    await client.close();
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  });

  test('catalog prints the curated tools of each server', async () => {
    const { stdout } = await run(process.execPath, [...CLI, 'catalog', '--config', config]);
    const body = JSON.parse(stdout) as { servers: { server: { name: string }; _meta: Record<string, { tools: { name: string }[] }> }[] };
    assert.deepEqual(body.servers.map((e) => e.server.name), ['com.example/pets']);
    assert.deepEqual(body.servers[0]!._meta['io.github.mcp-gateway/catalog']!.tools.map((t) => t.name).sort(), ['create-pet', 'get-pet', 'get-pets']);
  });

  test('sidecar refuses an OpenAPI server without openapi.listen', async () => {
    const loose = join(dir, 'loose.yaml');
    await writeFile(loose, `servers:\n  - name: pets\n    openapi: { spec: ${resolve('test/fixtures/openapi/petstore.yaml')}, base_url: "${api.url}" }\n`);
    await assert.rejects(run(process.execPath, [...CLI, 'sidecar', '--config', loose]), (e: { code?: number; stderr?: string }) => e.code === 2 && /"pets" need openapi\.listen/.test(e.stderr ?? ''));
  });
});
