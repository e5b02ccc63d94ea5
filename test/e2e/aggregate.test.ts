// One aggregated endpoint over two servers, end to end: the real Envoy and sidecar, two real
// MCP upstreams, the official SDK client. Each member's curation, policy and audit apply as
// if it were called directly; the aggregate has its own curation over the prefixed names.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startUpstream, type RunningUpstream } from '../../examples/upstream.js';
import { createPolicyTestServer } from '../fixtures/policy-server.js';
import { createFilesServer, VIEWER_URI } from '../fixtures/files-server.js';
import { freePort, startGateway, type RunningGateway } from '../support/gateway.js';
import { opaBuild } from '../../src/policy/opa-cli.js';

const KEYS = { ann: 'ann-key-0123456789abcdef', bob: 'bob-key-0123456789abcdef' };
const sha = (k: string) => createHash('sha256').update(k).digest('hex');
let bank: RunningUpstream;
let files: RunningUpstream;
let gw: RunningGateway;
let aggregatorPort: number;

async function connect(who: keyof typeof KEYS, server = 'all'): Promise<Client> {
  const client = new Client({ name: 'aggregate-e2e', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.url(server)), { requestInit: { headers: { 'x-api-key': KEYS[who] } } }));
  return client;
}

const toolCalls = (u: RunningUpstream, name: string) => u.received.filter((r) => (r.body as any)?.method === 'tools/call' && (r.body as any)?.params?.name === name);
const rpcCode = (code: number) => (e: unknown) => e instanceof McpError && e.code === code;

before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-aggregate-'));
  const bundle = join(dir, 'bundle.tar.gz');
  await opaBuild('policies', bundle);
  bank = await startUpstream({ createServer: createPolicyTestServer });
  files = await startUpstream({ createServer: createFilesServer });
  aggregatorPort = await freePort();
  gw = await startGateway({
    config: {
      gateway: { aggregator_listen: `127.0.0.1:${aggregatorPort}` },
      auth: {
        api_keys: {
          keys: [
            { sha256: sha(KEYS.ann), subject: 'ann', groups: ['admin'] },
            { sha256: sha(KEYS.bob), subject: 'bob', groups: ['finance'] },
          ],
        },
      },
      servers: [
        { name: 'bank', url: bank.url, policy: { bundle } },
        { name: 'files', url: files.url, tools: { deny: ['delete-*'] } },
      ],
      aggregates: [{ name: 'all', servers: ['bank', 'files'], tools: { deny: ['bank__run-sql'] } }],
    },
  });
});

after(async () => {
  await gw?.stop();
  await bank?.close();
  await files?.close();
});

describe('an aggregate lists and routes across its members', () => {
  test('tools of both members, prefixed; each member\'s curation and policy and the aggregate\'s own curation shape the list', async () => {
    const ann = await connect('ann');
    const bob = await connect('bob');
    const annTools = (await ann.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(annTools, ['bank__admin-reset', 'bank__echo', 'bank__get-balance', 'bank__get-report-slow', 'bank__make-payment', 'bank__query-customers', 'bank__read-file', 'files__add-tool', 'files__list-files']);
    const bobTools = (await bob.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(bobTools, ['bank__echo', 'bank__get-balance', 'bank__get-report-slow', 'bank__make-payment', 'files__add-tool', 'files__list-files']);
    const listFiles = (await ann.listTools()).tools.find((t) => t.name === 'files__list-files');
    assert.deepEqual(listFiles?._meta, { ui: { resourceUri: VIEWER_URI } }, 'MCP Apps metadata kept as the member listed it');
    assert.match(ann.getInstructions() ?? '', /files \(tools and prompts prefixed "files__"\): Files of the team share\./);
    await ann.close();
    await bob.close();
  });

  test('calls go to the member the prefix names, with the member\'s own name, audited under the member and the aggregate', async () => {
    const ann = await connect('ann');
    const r = await ann.callTool({ name: 'bank__echo', arguments: { message: 'hi' } });
    assert.deepEqual(JSON.parse((r.content as { text: string }[])[0]!.text), { message: 'hi' });
    const f = await ann.callTool({ name: 'files__list-files', arguments: { dir: '/' } });
    assert.deepEqual(JSON.parse((f.content as { text: string }[])[0]!.text), { files: ['a.txt', 'b.txt'], dir: '/' });
    assert.equal(toolCalls(bank, 'echo').length, 1);
    assert.equal(toolCalls(files, 'list-files').length, 1);
    const upstreamHeaders = toolCalls(bank, 'echo')[0]!.headers;
    assert.equal(upstreamHeaders['x-api-key'], undefined, 'the member upstream never sees the caller\'s key');
    assert.equal(upstreamHeaders['x-mcp-gateway-aggregate-key'], undefined);
    const member = await gw.waitForAudit((e) => e.server === 'bank' && e.target?.name === 'echo');
    assert.equal(member.identity?.subject, 'ann');
    assert.equal(member.decision, 'allow');
    const aggregate = await gw.waitForAudit((e) => e.server === 'all' && e.target?.name === 'bank__echo');
    assert.equal(aggregate.identity?.subject, 'ann');
    await ann.close();
  });

  test('a tool a member\'s curation hides is refused by that member (audited there); a policy deny of a member applies', async () => {
    const ann = await connect('ann');
    await assert.rejects(ann.callTool({ name: 'files__delete-all', arguments: {} }), (e: unknown) => rpcCode(-32602)(e) && /files: /.test((e as Error).message));
    assert.equal(toolCalls(files, 'delete-all').length, 0, 'never reached the upstream');
    const ev = await gw.waitForAudit((e) => e.server === 'files' && e.target?.name === 'delete-all');
    assert.equal(ev.reason, 'not_curated');
    assert.equal(ev.identity?.subject, 'ann');
    const bob = await connect('bob');
    await assert.rejects(bob.callTool({ name: 'bank__admin-reset', arguments: {} }), rpcCode(-32003));
    assert.equal(toolCalls(bank, 'admin-reset').length, 0);
    const denied = await gw.waitForAudit((e) => e.server === 'bank' && e.target?.name === 'admin-reset');
    assert.equal(denied.reason, 'policy_denied');
    assert.equal(denied.identity?.subject, 'bob');
    await ann.close();
    await bob.close();
  });

  test('the aggregate\'s own curation refuses at the aggregate; an unknown prefix is -32602', async () => {
    const ann = await connect('ann');
    await assert.rejects(ann.callTool({ name: 'bank__run-sql', arguments: { query: 'select 1' } }), rpcCode(-32602));
    const ev = await gw.waitForAudit((e) => e.server === 'all' && e.target?.name === 'bank__run-sql');
    assert.equal(ev.reason, 'not_curated');
    assert.equal(toolCalls(bank, 'run-sql').length, 0);
    await assert.rejects(ann.callTool({ name: 'nope__echo', arguments: {} }), (e: unknown) => rpcCode(-32602)(e) && /Unknown tool "nope__echo"/.test((e as Error).message));
    await assert.rejects(ann.callTool({ name: 'echo', arguments: {} }), rpcCode(-32602));
    await ann.close();
  });

  test('resources keep their URIs; a UI resource is read from the member that has it; prompts are prefixed', async () => {
    const ann = await connect('ann');
    const listed = (await ann.listResources()).resources.map((r) => r.uri);
    assert.deepEqual(listed, ['file:///share/README.md']);
    const readme = await ann.readResource({ uri: 'file:///share/README.md' });
    assert.equal((readme.contents[0] as { text: string }).text, '# share');
    await ann.listTools();
    const ui = await ann.readResource({ uri: VIEWER_URI });
    assert.equal((ui.contents[0] as { text: string }).text, '<html>viewer</html>');
    await assert.rejects(ann.readResource({ uri: 'file:///elsewhere' }), rpcCode(-32602));
    assert.deepEqual((await ann.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate), ['ui://files/{view}']);
    const done = await ann.complete({ ref: { type: 'ref/resource', uri: 'ui://files/{view}' }, argument: { name: 'view', value: 'ed' } });
    assert.deepEqual(done.completion.values, ['editor'], 'completion/complete of a template goes to the member that listed it');
    const prompts = (await ann.listPrompts()).prompts.map((p) => p.name);
    assert.deepEqual(prompts, ['bank__summary']);
    const p = await ann.getPrompt({ name: 'bank__summary', arguments: { topic: 'q3' } });
    assert.equal((p.messages[0]!.content as { text: string }).text, 'q3');
    await ann.close();
  });

  test('progress of a member\'s call reaches the caller; a member\'s tools/list_changed is relayed', async () => {
    const ann = await connect('ann');
    const seen: number[] = [];
    await ann.callTool({ name: 'bank__get-report-slow', arguments: { steps: 2 } }, undefined, { onprogress: (p) => void seen.push(p.progress) });
    assert.deepEqual(seen, [1, 2]);
    const changed = new Promise<void>((resolve) => ann.setNotificationHandler(ToolListChangedNotificationSchema, async () => resolve()));
    await ann.callTool({ name: 'files__add-tool', arguments: {} });
    await Promise.race([changed, new Promise((_, rej) => setTimeout(() => rej(new Error('no tools/list_changed within 10s')), 10_000))]);
    assert.ok((await ann.listTools()).tools.some((t) => t.name === 'files__new-tool'));
    await ann.close();
  });

  test('the aggregator answers only requests that came through the gateway', async () => {
    const direct = await fetch(`http://127.0.0.1:${aggregatorPort}/aggregate/all`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-mcp-gateway-aggregate-key': 'guess' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    });
    assert.equal(direct.status, 403);
    // A caller's own copy of the key header is stripped by the sidecar (x-mcp-gateway- is the gateway's).
    const forged = new Client({ name: 'forger', version: '1' });
    await forged.connect(new StreamableHTTPClientTransport(new URL(gw.url('all')), { requestInit: { headers: { 'x-api-key': KEYS.bob, 'x-mcp-gateway-aggregate-key': 'guess' } } }));
    assert.ok((await forged.listTools()).tools.length > 0);
    await forged.close();
  });
});

describe('stateless clients', () => {
  test('a 2026-07-28 request is answered -32022 naming the session revisions an aggregate speaks', async () => {
    const res = await fetch(gw.url('all'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-api-key': KEYS.ann, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { id: number; error: { code: number; data: { supported: string[]; requested: string } } };
    assert.equal(body.id, 7);
    assert.equal(body.error.code, -32022);
    assert.equal(body.error.data.requested, '2026-07-28');
    assert.ok(body.error.data.supported.includes('2025-11-25') && !body.error.data.supported.includes('2026-07-28'));
  });
});

describe('member sessions', () => {
  test('ending the aggregate session (DELETE) ends each member session, through the gateway', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(gw.url('all')), { requestInit: { headers: { 'x-api-key': KEYS.ann } } });
    const ann = new Client({ name: 'aggregate-e2e', version: '1' });
    await ann.connect(transport);
    const open = gw.launched.aggregator!.sessions;
    const deletes = () => files.received.filter((r) => r.method === 'DELETE').length + bank.received.filter((r) => r.method === 'DELETE').length;
    const before = deletes();
    await transport.terminateSession();
    const deadline = Date.now() + 10_000;
    while (deletes() < before + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(deletes(), before + 2, 'one DELETE per member upstream');
    assert.equal(gw.launched.aggregator!.sessions, open - 1);
    await gw.waitForAudit((e) => e.server === 'files' && e.type === 'http.delete' && e.identity?.subject === 'ann');
    await ann.close();
  });

  test('a member session the upstream forgot is initialised again and the call goes through', async () => {
    const ann = await connect('ann');
    await ann.callTool({ name: 'files__list-files', arguments: { dir: '/a' } });
    const port = files.port;
    await files.close();
    files = await startUpstream({ port, createServer: createFilesServer });
    const r = await ann.callTool({ name: 'files__list-files', arguments: { dir: '/b' } });
    assert.equal(JSON.parse((r.content as { text: string }[])[0]!.text).dir, '/b');
    assert.ok(files.received.some((x) => (x.body as any)?.method === 'initialize'), 'a new member session was opened');
    await ann.close();
  });

  test('a member that cannot start a new session ends the aggregate session (never half-alive)', async () => {
    const ann = await connect('ann');
    await ann.callTool({ name: 'files__list-files', arguments: { dir: '/a' } });
    const before = gw.launched.aggregator!.sessions;
    const port = files.port;
    await files.close();
    files = await startUpstream({ port, createServer: () => ({ server: { connect: () => Promise.reject(new Error('cannot start')), close: async () => {} } }) });
    await assert.rejects(ann.callTool({ name: 'files__list-files', arguments: { dir: '/b' } }), (e: unknown) => rpcCode(-32603)(e) && /lost its session/.test((e as Error).message));
    assert.equal(gw.launched.aggregator!.sessions, before - 1);
    // The session is gone: its next request is answered 404 (the client starts a new one).
    await assert.rejects(ann.callTool({ name: 'bank__echo', arguments: { message: 'x' } }), /404|Session not found/);
    await ann.close().catch(() => undefined);
    await files.close();
    files = await startUpstream({ port, createServer: createFilesServer });
  });
});
