// The catalog through the real Envoy and sidecar: the MCP Registry API shape, per caller.
// Two API-key callers under the example policy see different servers and tools; the tool
// list comes from the lockfile where one is configured, else from the upstream (here an
// OpenAPI bridge); curation and policy hide the same tools as a live tools/list does.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startUpstream, type RunningUpstream } from '../../examples/upstream.js';
import { createPolicyTestServer } from '../fixtures/policy-server.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startPetApi, type RunningPetApi } from '../support/pet-api.js';
import { opaBuild } from '../../src/policy/opa-cli.js';
import { emptyServerLock, lockEntry, writeLockfile } from '../../src/integrity/lockfile.js';
import { CATALOG_META_KEY, SERVER_SCHEMA_URL, type ServerList, type ServerResponse } from '../../src/catalog/registry-shape.js';

const ADMIN_KEY = 'admin-key-0123456789abcdef';
const ANALYST_KEY = 'analyst-key-0123456789abcdef';
const sha = (k: string) => createHash('sha256').update(k).digest('hex');
let api: RunningPetApi;
let upstream: RunningUpstream;
let gw: RunningGateway;
let base: string;

const catalog = (path: string, key?: string) => fetch(`${base}${path}`, { headers: key ? { 'x-api-key': key } : {} });
const listed = async (key: string) => {
  const res = await catalog('/v0.1/servers', key);
  assert.equal(res.status, 200);
  return (await res.json()) as ServerList;
};
const meta = (e: ServerResponse) => e._meta[CATALOG_META_KEY] as { server: string; tools?: { name: string }[]; toolsSource: string };
const toolNames = (e: ServerResponse) => meta(e).tools!.map((t) => t.name).sort();

before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-catalog-'));
  const bundle = join(dir, 'bundle.tar.gz');
  await opaBuild('policies', bundle);
  const lockfile = join(dir, 'tools.lock.yaml');
  const finance = emptyServerLock();
  for (const name of ['make-payment', 'admin-reset']) finance.tool.set(name, lockEntry({ description: `${name} (reviewed)`, inputSchema: { type: 'object' } }));
  await writeLockfile(lockfile, { servers: new Map([['finance', finance]]) });
  api = await startPetApi();
  upstream = await startUpstream({ createServer: createPolicyTestServer });
  process.env.MCP_GATEWAY_TEST_PET_KEY = 'pet-api-secret-42';
  gw = await startGateway({
    config: {
      gateway: { catalog: { namespace: 'com.example.mcp' } },
      auth: {
        api_keys: {
          keys: [
            { sha256: sha(ADMIN_KEY), subject: 'admin-bot', groups: ['admin'] },
            { sha256: sha(ANALYST_KEY), subject: 'analyst-bot', groups: ['analyst'] },
          ],
        },
      },
      policy: { bundle },
      servers: [
        {
          name: 'pets',
          openapi: { spec: resolve('test/fixtures/openapi/petstore.yaml'), base_url: api.url },
          upstream_auth: { static: { header: 'x-pet-key', value_env: 'MCP_GATEWAY_TEST_PET_KEY' } },
          tools: { deny: ['delete-pet', 'get_health'] },
          catalog: { title: 'Pet store', description: 'Pets, as MCP tools', version: '1.0.0' },
        },
        { name: 'finance', url: upstream.url, lockfile, tools: { allow: ['make-payment', 'admin-reset'] } },
      ],
    },
  });
  base = gw.config.gateway.publicUrl;
});

after(async () => {
  await gw?.stop();
  await upstream?.close();
  await api?.close();
});

describe('the catalog', () => {
  test('lists the servers in the MCP Registry API shape', async () => {
    const body = await listed(ADMIN_KEY);
    assert.deepEqual(body.servers.map((e) => e.server.name), ['com.example.mcp/finance', 'com.example.mcp/pets']);
    assert.deepEqual(body.metadata, { count: 2 });
    const pets = body.servers[1]!;
    assert.equal(pets.server.$schema, SERVER_SCHEMA_URL);
    assert.equal(pets.server.title, 'Pet store');
    assert.equal(pets.server.description, 'Pets, as MCP tools');
    assert.equal(pets.server.version, '1.0.0');
    assert.deepEqual(pets.server.remotes.map((r) => [r.type, r.url]), [['streamable-http', gw.url('pets')]]);
    assert.deepEqual(pets.server.remotes[0]!.headers?.map((h) => [h.name, h.isSecret]), [['x-api-key', true]]);
  });

  test('tools come from the lockfile when one is configured, else from the upstream, curated', async () => {
    const [finance, pets] = (await listed(ADMIN_KEY)).servers;
    assert.equal(meta(finance!).toolsSource, 'lockfile');
    assert.deepEqual(toolNames(finance!), ['admin-reset', 'make-payment']);
    assert.equal(meta(pets!).toolsSource, 'upstream');
    assert.deepEqual(toolNames(pets!), ['create-pet', 'get-pet', 'get-pets']);
  });

  test('differs per caller: the policy hides a server and tools from the analyst', async () => {
    const body = await listed(ANALYST_KEY);
    assert.deepEqual(body.servers.map((e) => e.server.name), ['com.example.mcp/pets']);
    assert.deepEqual(toolNames(body.servers[0]!), ['get-pet', 'get-pets']);
    const hidden = await catalog(`/v0.1/servers/${encodeURIComponent('com.example.mcp/finance')}/versions/latest`, ANALYST_KEY);
    assert.equal(hidden.status, 404);
    const shown = await catalog(`/v0.1/servers/${encodeURIComponent('com.example.mcp/finance')}/versions/latest`, ADMIN_KEY);
    assert.equal(shown.status, 200);
    assert.equal(((await shown.json()) as ServerResponse).server.name, 'com.example.mcp/finance');
  });

  test('agrees with what the caller\'s own tools/list shows', async () => {
    const client = new Client({ name: 'catalog-e2e', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.url('pets')), { requestInit: { headers: { 'x-api-key': ANALYST_KEY } } }));
    const live = (await client.listTools()).tools.map((t) => t.name).sort();
    await client.close();
    assert.deepEqual(live, toolNames((await listed(ANALYST_KEY)).servers[0]!));
  });

  test('needs an authenticated caller, and is audited', async () => {
    const res = await catalog('/v0.1/servers');
    assert.equal(res.status, 401);
    assert.ok(res.headers.get('www-authenticate'));
    await listed(ANALYST_KEY);
    const ev = await gw.waitForAudit((e) => e.type === 'http.catalog' && e.identity?.subject === 'analyst-bot');
    assert.equal(ev.http.status, 200);
    assert.equal(ev.message, '1 server(s) listed');
  });

  test('pages with limit and cursor, and answers unknown names with 404', async () => {
    const first = (await (await catalog('/v0.1/servers?limit=1', ADMIN_KEY)).json()) as ServerList;
    assert.deepEqual(first.servers.map((e) => e.server.name), ['com.example.mcp/finance']);
    assert.equal(first.metadata.nextCursor, 'com.example.mcp/finance');
    const second = (await (await catalog(`/v0.1/servers?limit=1&cursor=${encodeURIComponent(first.metadata.nextCursor!)}`, ADMIN_KEY)).json()) as ServerList;
    assert.deepEqual(second.servers.map((e) => e.server.name), ['com.example.mcp/pets']);
    assert.equal(second.metadata.nextCursor, undefined);
    assert.equal((await catalog('/v0.1/servers/nope%2Fnope/versions/latest', ADMIN_KEY)).status, 404);
    assert.equal((await fetch(`${base}/v0.1/servers`, { method: 'POST', headers: { 'x-api-key': ADMIN_KEY } })).status, 405);
  });
});
