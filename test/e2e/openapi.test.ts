// An OpenAPI-described REST API as an MCP server, end to end: the real Envoy and sidecar,
// the gateway's bridge, the official SDK client, and the tests' own HTTP API. The API must
// get the brokered credential and nothing of the caller's; curation holds; path
// parameters stay inside their segment.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startPetApi, type RunningPetApi } from '../support/pet-api.js';

const SPEC = resolve('test/fixtures/openapi/petstore.yaml');
const CALLER_KEY = 'caller-key-0123456789abcdef';
const PET_KEY = 'pet-api-secret-42';
let api: RunningPetApi;
let gw: RunningGateway;
let client: Client;

type ToolResult = { isError?: boolean; content: { type: string; text: string }[]; structuredContent?: Record<string, unknown> };
const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args }) as Promise<ToolResult>;

before(async () => {
  process.env.MCP_GATEWAY_TEST_PET_KEY = PET_KEY;
  api = await startPetApi();
  gw = await startGateway({
    config: {
      auth: { api_keys: { keys: [{ sha256: createHash('sha256').update(CALLER_KEY).digest('hex'), subject: 'alice', groups: ['admin'] }] } },
      servers: [
        {
          name: 'pets',
          openapi: { spec: SPEC, base_url: api.url, exclude: { tags: ['internal'] }, timeout_ms: 10_000 },
          upstream_auth: { static: { header: 'x-pet-key', value_env: 'MCP_GATEWAY_TEST_PET_KEY' } },
          tools: { deny: ['delete-pet'] },
        },
      ],
    },
  });
  client = new Client({ name: 'openapi-e2e', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.url('pets')), { requestInit: { headers: { 'x-api-key': CALLER_KEY, cookie: 'session=caller-cookie' } } }));
});

after(async () => {
  await client?.close();
  await gw?.stop();
  await api?.close();
});

describe('an OpenAPI spec becomes a governed MCP server', () => {
  test('the operations are the tools: named by operationId, excluded by tag, curated', async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['create-pet', 'get-pet', 'get-pets']);
    const list = tools.find((t) => t.name === 'get-pets')!;
    assert.equal(list.description, 'List pets');
    assert.deepEqual(Object.keys(list.inputSchema.properties ?? {}).sort(), ['limit', 'tag'], 'the cookie parameter is not an argument');
    assert.equal(list.outputSchema?.type, 'object');
    const create = tools.find((t) => t.name === 'create-pet')!;
    assert.deepEqual(create.inputSchema.required, ['body']);
    // The body's schema came from another file through a $ref.
    assert.deepEqual((create.inputSchema.properties as Record<string, { required?: string[] }>).body!.required, ['name']);
  });

  test('a call reaches the API with query arrays, and its JSON answer is structured content', async () => {
    const before = api.received.length;
    const r = await call('get-pets', { tag: ['dog', 'cat'], limit: 5 });
    assert.equal(r.isError, undefined, JSON.stringify(r));
    assert.equal((r.structuredContent!.pets as unknown[]).length, 2);
    assert.deepEqual(JSON.parse(r.content[0]!.text), r.structuredContent);
    const got = api.received.slice(before);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.method, 'GET');
    assert.equal(got[0]!.rawUrl, '/v1/pets?limit=5&tag=dog&tag=cat');
  });

  test('the API receives the brokered credential and none of the caller\'s', async () => {
    const before = api.received.length;
    await call('get-pets', {});
    const h = api.received.slice(before)[0]!.headers;
    assert.equal(h['x-pet-key'], PET_KEY);
    assert.equal(h['x-api-key'], undefined);
    assert.equal(h['authorization'], undefined);
    assert.equal(h['cookie'], undefined);
    assert.ok(!JSON.stringify(api.received).includes(CALLER_KEY), 'the caller\'s key reached the API');
    for (const k of Object.keys(h)) assert.ok(!k.startsWith('x-mcp-gateway-') && k !== 'mcp-session-id' && k !== 'x-request-id', `header ${k} reached the API`);
  });

  test('a JSON body and a header parameter are sent as the spec says', async () => {
    const before = api.received.length;
    const r = await call('create-pet', { body: { name: 'Kit', tag: null }, 'X-Request-Note': 'from e2e' });
    assert.equal(r.isError, undefined, JSON.stringify(r));
    assert.equal(r.structuredContent!.name, 'Kit');
    const got = api.received.slice(before)[0]!;
    assert.equal(got.method, 'POST');
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(got.headers['x-request-note'], 'from e2e');
    assert.deepEqual(JSON.parse(got.body), { name: 'Kit', tag: null });
  });

  test('invalid arguments are a tool error, and nothing reaches the API', async () => {
    const before = api.received.length;
    const r = await call('create-pet', { body: { tag: 'x' } });
    assert.equal(r.isError, true);
    assert.match(r.content[0]!.text, /invalid arguments/);
    assert.equal(api.received.length, before);
  });

  test('a non-2xx answer is a tool error with its status', async () => {
    const r = await call('get-pet', { petId: '999' });
    assert.equal(r.isError, true);
    assert.match(r.content[0]!.text, /^HTTP 404/);
  });

  test('a curated-out operation is refused by the gateway and never reaches the API', async () => {
    const before = api.received.length;
    await assert.rejects(call('delete-pet', { petId: '1' }), /not (available|curated)|hidden|denied/i);
    assert.equal(api.received.length, before);
    await gw.waitForAudit((e) => e.server === 'pets' && e.rpc?.method === 'tools/call' && e.decision === 'deny' && e.reason === 'not_curated');
  });

  test('a path parameter cannot leave its segment', async () => {
    const before = api.received.length;
    const r = await call('get-pet', { petId: '../admin' });
    assert.equal(r.isError, true);
    assert.ok(!r.content[0]!.text.includes('admin area'));
    const encoded = await call('get-pet', { petId: '%2e%2e/admin' });
    assert.ok(!encoded.content[0]!.text.includes('admin area'));
    const got = api.received.slice(before).map((x) => x.rawUrl);
    assert.deepEqual(got, ['/v1/pets/..%2Fadmin', '/v1/pets/%252e%252e%2Fadmin']);
    for (const dots of ['..', '.']) {
      const refused = await call('get-pet', { petId: dots });
      assert.equal(refused.isError, true);
      assert.match(refused.content[0]!.text, /may not be/);
    }
    assert.equal(api.received.length, before + 2, 'a dot segment was sent');
  });

  test('calls are audited as calls of the virtual server', async () => {
    await call('get-pet', { petId: '1' });
    const ev = await gw.waitForAudit((e) => e.server === 'pets' && e.rpc?.method === 'tools/call' && e.decision === 'allow' && JSON.stringify(e).includes('get-pet'));
    assert.equal(ev.identity?.subject, 'alice');
  });
});
