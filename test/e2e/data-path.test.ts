// End to end through the real Envoy and the real sidecar, in front of the
// reference "everything" server, driven by the SDK's own client.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { startUpstream, everythingServerFactory, type RunningUpstream } from '../../examples/upstream.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { compileCuration } from '../../src/curation/curation.js';

const TOOLS = { allow: ['echo', 'get-*', 'trigger-*'], deny: ['get-env'] };
const PROMPTS = { allow: ['simple-prompt'] };
const RESOURCES = { deny: ['demo://resource/static/document/architecture.md', 'demo://resource/dynamic/*'] };

let upstream: RunningUpstream;
let upstreamJson: RunningUpstream;
let gw: RunningGateway;

async function connect(url: string, opts: { sampling?: boolean } = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'e2e', version: '1.0.0' }, { capabilities: opts.sampling ? { sampling: {}, elicitation: {} } : {} });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return { client, transport };
}

/** A raw JSON-RPC POST, for what the SDK client would never send. */
async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text.startsWith('event:') || text.startsWith('data:') || text.startsWith('id:') ? sseData(text) : text);
  } catch {
    json = text;
  }
  return { status: res.status, json, headers: res.headers };
}

function sseData(text: string): string {
  return text
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trim())
    .filter(Boolean)
    .at(-1)!;
}

async function initializeRaw(url: string, version = '2025-11-25'): Promise<string> {
  const r = await post(url, JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
  assert.equal(r.status, 200);
  const sid = r.headers.get('mcp-session-id');
  assert.ok(sid, 'upstream issued a session id through the gateway');
  await post(url, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), { 'mcp-session-id': sid, 'mcp-protocol-version': version });
  return sid;
}

const toolCalls = (u: RunningUpstream, name: string) =>
  u.received.filter((r) => (r.body as any)?.method === 'tools/call' && String((r.body as any)?.params?.name).toLowerCase().includes(name));

before(async () => {
  const factory = await everythingServerFactory();
  upstream = await startUpstream({ createServer: factory });
  upstreamJson = await startUpstream({ createServer: factory, jsonResponse: true });
  gw = await startGateway({
    config: {
      servers: [
        { name: 'everything', url: upstream.url, tools: TOOLS, prompts: PROMPTS, resources: RESOURCES },
        { name: 'everything-json', url: upstreamJson.url, tools: TOOLS },
        { name: 'open', url: upstream.url },
      ],
      gateway: { allowed_origins: ['https://app.example.com'] },
      audit: { sink: 'stdout', redact: ['secret'] },
    },
  });
});

after(async () => {
  await gw?.stop();
  await upstream?.close();
  await upstreamJson?.close();
});

describe('curated virtual server', () => {
  test('initialize and tools/list through the gateway show exactly the curated tools (SSE responses)', async () => {
    const { client: direct } = await connect(upstream.url);
    const all = (await direct.listTools()).tools.map((t) => t.name);
    await direct.close();
    const { client } = await connect(gw.url('everything'));
    const seen = (await client.listTools()).tools.map((t) => t.name);
    const curation = compileCuration({ tools: { allow: TOOLS.allow, deny: TOOLS.deny }, prompts: { allow: ['*'], deny: [] }, resources: { allow: ['*'], deny: [] } });
    assert.ok(all.includes('get-env') && all.length > seen.length, 'the upstream really has more tools');
    assert.deepEqual(seen, all.filter((n) => curation.visible('tool', n)));
    assert.ok(seen.includes('echo') && !seen.includes('get-env'));
    const ev = await gw.waitForAudit((e) => e.rpc?.method === 'tools/list' && e.server === 'everything');
    assert.equal(ev.filtered?.returned, all.length);
    assert.equal(ev.filtered?.visible, seen.length);
    await client.close();
  });

  test('tools/list is filtered when the upstream answers with application/json too', async () => {
    const { client } = await connect(gw.url('everything-json'));
    const seen = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(seen.includes('echo'));
    assert.ok(!seen.includes('get-env'));
    assert.ok(!seen.includes('gzip-file-as-resource'));
    await client.close();
  });

  test('an uncurated server passes lists through unchanged', async () => {
    const { client } = await connect(gw.url('open'));
    const seen = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(seen.includes('get-env'));
    await client.close();
  });

  test('prompts, resources and resource templates are curated the same way', async () => {
    const { client } = await connect(gw.url('everything'));
    const prompts = (await client.listPrompts()).prompts.map((p) => p.name);
    assert.deepEqual(prompts, ['simple-prompt']);
    const resources = (await client.listResources()).resources.map((r) => r.uri);
    assert.ok(resources.length > 0);
    assert.ok(!resources.includes('demo://resource/static/document/architecture.md'));
    const templates = (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
    assert.ok(templates.every((t) => !t.startsWith('demo://resource/dynamic/')), `templates: ${templates}`);
    await assert.rejects(client.getPrompt({ name: 'args-prompt', arguments: { city: 'x' } }), (e: unknown) => e instanceof McpError && e.code === -32602);
    await assert.rejects(client.readResource({ uri: 'demo://resource/static/document/architecture.md' }), (e: unknown) => e instanceof McpError && e.code === -32602);
    await client.close();
  });

  test('the audit event carries the W3C trace id and Envoy request id', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await post(gw.url('everything'), '{"jsonrpc":"2.0","id":"traced","method":"ping"}', { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    const ev = await gw.waitForAudit((e) => e.rpc?.id === 'traced');
    assert.equal(ev.trace_id, traceId);
    assert.match(ev.request_id ?? '', /^[0-9a-f-]{36}$/);
  });

  test('an allowed call reaches the upstream and returns its result', async () => {
    const { client } = await connect(gw.url('everything'));
    const res = await client.callTool({ name: 'echo', arguments: { message: 'hello through envoy' } });
    assert.match(JSON.stringify(res.content), /hello through envoy/);
    const ev = await gw.waitForAudit((e) => e.target?.name === 'echo' && e.decision === 'allow');
    assert.equal(ev.upstream_status, 200);
    assert.deepEqual(ev.arguments, { message: 'hello through envoy' });
    assert.ok(ev.request_id, 'x-request-id recorded');
    assert.ok(ev.session_id, 'session id recorded');
    assert.match(ev.client_address ?? '', /^127\.0\.0\.1:\d+$/, 'client address from Envoy attributes');
    await client.close();
  });

  test('a hidden tool is refused at the gateway and never reaches the upstream', async () => {
    const { client } = await connect(gw.url('everything'));
    const before = toolCalls(upstream, 'get-env').length;
    await assert.rejects(client.callTool({ name: 'get-env', arguments: { secret: 'hunter2' } }), (e: unknown) => e instanceof McpError && e.code === -32602 && /not available/.test(e.message));
    assert.equal(toolCalls(upstream, 'get-env').length, before);
    const ev = await gw.waitForAudit((e) => e.target?.name === 'get-env');
    assert.equal(ev.decision, 'deny');
    assert.equal(ev.reason, 'not_curated');
    assert.deepEqual(ev.arguments, { secret: '[REDACTED]' });
    await client.close();
  });

  test('case tricks, escapes, padding and duplicate keys do not get around curation', async () => {
    const url = gw.url('everything');
    const sid = await initializeRaw(url);
    const h = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    const before = toolCalls(upstream, 'get-env').length;
    const attempts = [
      '{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"GET-ENV","arguments":{}}}',
      '{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"get-env ","arguments":{}}}',
      '{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"\\u0067et-env","arguments":{}}}',
      '{"jsonrpc":"2.0","id":14,"method":"tools\\/call","params":{"name":"get-env","arguments":{}}}',
      '{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":"get-env\\u200b","arguments":{}}}',
    ];
    for (const body of attempts) {
      const r = await post(url, body, h);
      assert.equal(r.status, 200, body);
      assert.equal(r.json.error?.code, -32602, body);
      assert.equal(r.json.id, JSON.parse(body).id, 'the error carries the request id');
    }
    const cased = await post(url, '{"jsonrpc":"2.0","id":16,"method":"Tools/Call","params":{"name":"get-env"}}', h);
    assert.equal(cased.json.error?.code, -32601);
    const dup = await post(url, '{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"echo","name":"get-env"}}', h);
    assert.equal(dup.status, 400);
    assert.equal(dup.json.error?.code, -32700);
    assert.equal(toolCalls(upstream, 'get-env').length, before, 'none of them reached the upstream');
  });
});

describe('streaming', () => {
  test('progress notifications reach the client while the tool is still running', async () => {
    const { client } = await connect(gw.url('everything'));
    const progressAt: number[] = [];
    const started = Date.now();
    const res = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 2, steps: 4 } }, undefined, {
      onprogress: () => void progressAt.push(Date.now()),
      timeout: 20_000,
    });
    const doneAt = Date.now();
    assert.match(JSON.stringify(res.content), /completed/);
    assert.equal(progressAt.length, 4);
    // Buffered to the end, all progress would arrive with the result; streamed, the first
    // arrives about 1.5 s before it.
    assert.ok(doneAt - progressAt[0]! > 1000, `first progress ${progressAt[0]! - started}ms, result ${doneAt - started}ms`);
    await client.close();
  });

  test('server-to-client sampling and elicitation requests pass through, and so do the answers', async () => {
    const { client } = await connect(gw.url('everything'), { sampling: true });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled-answer' } }));
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { color: 'blue' } }));
    const res = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 10 } });
    assert.match(JSON.stringify(res.content), /sampled-answer/);
    await gw.waitForAudit((e) => e.type === 'mcp.response');
    await client.close();
  });

  test('GET opens the server stream and DELETE ends the session', async () => {
    const url = gw.url('everything');
    const sid = await initializeRaw(url);
    const ac = new AbortController();
    const get = await fetch(url, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' }, signal: ac.signal });
    assert.equal(get.status, 200);
    assert.match(get.headers.get('content-type') ?? '', /text\/event-stream/);
    ac.abort();
    const gotGet = upstream.received.find((r) => r.method === 'GET' && r.headers['mcp-session-id'] === sid);
    assert.ok(gotGet, 'the GET reached the upstream with the session id');
    assert.equal(gotGet.headers['mcp-protocol-version'], '2025-11-25');
    const del = await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' } });
    assert.equal(del.status, 200);
    const after = await post(url, '{"jsonrpc":"2.0","id":5,"method":"ping"}', { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' });
    assert.equal(after.status, 404, 'the ended session is gone upstream');
    await gw.waitForAudit((e) => e.type === 'http.delete' && e.session_id === sid);
    await gw.waitForAudit((e) => e.type === 'http.stream' && e.session_id === sid);
  });

  test('Last-Event-ID reaches the upstream unchanged', async () => {
    const url = gw.url('everything');
    const sid = await initializeRaw(url);
    const ac = new AbortController();
    await fetch(url, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'last-event-id': 'abc_1' }, signal: ac.signal }).catch(() => undefined);
    ac.abort();
    assert.ok(upstream.received.some((r) => r.method === 'GET' && r.headers['last-event-id'] === 'abc_1'));
  });

  test("a tools/list answer the SDK's server replays on a resumed GET stream is filtered again", async () => {
    const url = gw.url('everything');
    const sid = await initializeRaw(url);
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    const listed = await (await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 77, method: 'tools/list' }) })).text();
    assert.ok(!listed.includes('"get-env"'), 'filtered on the POST');
    // The stream's first event id: everything after it (the list answer) is replayed.
    const firstId = /^id: ?(.+)$/m.exec(listed)?.[1];
    assert.ok(firstId, `the upstream numbers its events:\n${listed}`);
    const ac = new AbortController();
    const res = await fetch(url, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25', 'last-event-id': firstId }, signal: ac.signal });
    assert.equal(res.status, 200);
    let replay = '';
    const reader = res.body!.getReader();
    const deadline = Date.now() + 3000;
    while (!replay.includes('"id":77') && Date.now() < deadline) {
      const { value, done } = await Promise.race([reader.read(), new Promise<{ value: undefined; done: true }>((r) => setTimeout(() => r({ value: undefined, done: true }), 500))]);
      if (value) replay += Buffer.from(value).toString();
      else if (done && replay.includes('"id":77')) break;
    }
    ac.abort();
    assert.match(replay, /"id":77/, `the upstream replayed the list answer:\n${replay}`);
    assert.ok(replay.includes('"echo"'), 'visible tools are replayed');
    assert.ok(!replay.includes('"get-env"'), `a hidden tool in a replayed answer reached the client:\n${replay}`);
    await gw.waitForAudit((e) => e.type === 'mcp.server_message' && e.rpc?.id === 77 && e.filtered !== undefined);
  });
});

describe('bad input gets a precise error and the gateway keeps serving', () => {
  const cases: { name: string; body: string; headers?: Record<string, string>; status: number; code: number }[] = [
    { name: 'invalid JSON', body: '{"jsonrpc":"2.0",', status: 400, code: -32700 },
    { name: 'a batch', body: '[{"jsonrpc":"2.0","id":1,"method":"ping"}]', status: 400, code: -32600 },
    { name: 'a non-object', body: '"ping"', status: 400, code: -32600 },
    { name: 'a missing jsonrpc version', body: '{"id":1,"method":"ping"}', status: 400, code: -32600 },
    { name: 'Mcp-Method disagreeing with the body (2026-07-28)', body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x"}}}', headers: { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' }, status: 400, code: -32020 },
    { name: 'Mcp-Name disagreeing with the body (2026-07-28)', body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x"}}}', headers: { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'get-sum' }, status: 400, code: -32020 },
    { name: 'Mcp-Method missing (2026-07-28)', body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}', headers: { 'mcp-protocol-version': '2026-07-28' }, status: 400, code: -32020 },
    { name: 'an unsupported protocol version', body: '{"jsonrpc":"2.0","id":1,"method":"ping"}', headers: { 'mcp-protocol-version': '1999-01-01' }, status: 400, code: -32022 },
    { name: 'a foreign Origin', body: '{"jsonrpc":"2.0","id":1,"method":"ping"}', headers: { origin: 'https://evil.example' }, status: 403, code: -32600 },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const before = gw.audit.events.length;
      const r = await post(gw.url('everything'), c.body, c.headers);
      assert.equal(r.status, c.status);
      assert.equal(r.json.error.code, c.code);
      assert.equal(r.json.jsonrpc, '2.0');
      await gw.waitForAudit((e) => gw.audit.events.indexOf(e) >= before && e.decision === 'deny');
    });
  }

  test('invalid UTF-8 is a parse error', async () => {
    const res = await fetch(gw.url('everything'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]) });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as any).error.code, -32700);
  });

  test('an oversize body gets 413 with a JSON-RPC error', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { message: 'x'.repeat(1100 * 1024) } } });
    const r = await post(gw.url('everything'), big);
    assert.equal(r.status, 413);
    assert.equal(r.json.error.code, -32600);
  });

  test('an unknown server path gets 404 with a clear message', async () => {
    const url = gw.url('everything').replace('/mcp/everything', '/mcp/nope');
    const r = await post(url, '{"jsonrpc":"2.0","id":1,"method":"ping"}');
    assert.equal(r.status, 404);
    assert.match(r.json.error.message, /No MCP server is served at \/mcp\/nope/);
  });

  test('an allowed Origin passes', async () => {
    const r = await post(gw.url('everything'), JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'o', version: '1' } } }), { origin: 'https://app.example.com' });
    assert.equal(r.status, 200);
  });

  test('after all that, the gateway still serves', async () => {
    const { client } = await connect(gw.url('everything'));
    const res = await client.callTool({ name: 'echo', arguments: { message: 'still here' } });
    assert.match(JSON.stringify(res.content), /still here/);
    await client.close();
  });
});
