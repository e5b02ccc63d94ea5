// Curation holds on every way a list or a resource notification can reach the client:
// through the real Envoy and sidecar, in front of an upstream that answers exactly as
// scripted (a broken or hostile server), the client never receives a hidden item.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { splitAt } from '../support/chunks.js';
import { startScriptedUpstream, safeId, sse, type ScriptedUpstream } from '../support/scripted-upstream.js';

let up: ScriptedUpstream;
let gw: RunningGateway;
let url: string;

const HIDDEN_TOOL = 'secret-launch';
const HIDDEN_URI = 'test://secret/key';
const toolsResult = { tools: [{ name: 'echo', inputSchema: { type: 'object' } }, { name: HIDDEN_TOOL, inputSchema: { type: 'object' } }] };
const resourcesResult = { resources: [{ uri: 'test://public/readme', name: 'readme' }, { uri: HIDDEN_URI, name: 'key' }, { uri: 'test://public/../secret/key', name: 'sneaky' }] };

before(async () => {
  up = await startScriptedUpstream();
  gw = await startGateway({
    config: {
      servers: [
        { name: 'hostile', url: up.url, tools: { deny: ['secret-*'] }, resources: { deny: ['test://secret/*'] } },
        { name: 'lists-only', url: up.url, tools: { deny: ['secret-*'] }, inspect_responses: 'lists' },
      ],
      audit: { sink: 'stdout' },
    },
  });
  url = gw.url('hostile');
});
after(async () => {
  await gw?.stop();
  await up?.close();
});

async function call(body: unknown, headers: Record<string, string> = {}, method = 'POST'): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', ...headers },
    ...(method === 'POST' && { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** What a client would read: every JSON-RPC message in a JSON body or an SSE stream. */
function messages(text: string): unknown[] {
  const t = text.trim();
  if (t.startsWith('{') || t.startsWith('[')) return [JSON.parse(t)].flat();
  const out: unknown[] = [];
  for (const block of text.split(/\r\n\r\n|\n\n|\r\r/)) {
    const data = block
      .split(/\r\n|\n|\r/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (data) out.push(...[JSON.parse(data)].flat());
  }
  return out;
}

const noHidden = (text: string) => {
  assert.ok(!text.includes(HIDDEN_TOOL), `a hidden tool reached the client:\n${text}`);
  assert.ok(!text.includes('test://secret'), `a hidden resource reached the client:\n${text}`);
};

describe('answers that do not (exactly) answer the request are filtered by their shape', () => {
  test('a tools/list answered under the string twin of its id ("2" for 2)', async () => {
    up.answer = () => ({ headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify({ jsonrpc: '2.0', id: '2', result: toolsResult })] });
    const r = await call({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.equal(r.status, 200);
    noHidden(r.text);
    assert.deepEqual((messages(r.text)[0] as any).result.tools.map((t: any) => t.name), ['echo']);
  });

  test('a tools/call answered over SSE with a list answer to another id first', async () => {
    up.answer = (req) => ({ headers: { 'content-type': 'text/event-stream' }, chunks: [sse({ jsonrpc: '2.0', id: 99, result: toolsResult }, 'e1'), sse({ jsonrpc: '2.0', id: safeId(req.body), result: { content: [] } }, 'e2')] });
    const r = await call({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: {} } });
    noHidden(r.text);
    const msgs = messages(r.text) as any[];
    assert.deepEqual(msgs[0].result.tools.map((t: any) => t.name), ['echo']);
    assert.deepEqual(msgs[1].result, { content: [] });
    await gw.waitForAudit((e) => e.type === 'mcp.server_message' && e.rpc?.id === 99 && e.filtered?.visible === 1);
  });

  test('a tools/call answered in JSON with a resources list under another id', async () => {
    up.answer = () => ({ headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify({ jsonrpc: '2.0', id: 'x', result: resourcesResult })] });
    const r = await call({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'echo', arguments: {} } });
    noHidden(r.text);
    assert.deepEqual((messages(r.text)[0] as any).result.resources.map((x: any) => x.uri), ['test://public/readme']);
  });

  test('a batch of answers (2025-03-26 style) is filtered message by message', async () => {
    up.answer = () => ({ headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify([{ jsonrpc: '2.0', id: 5, result: toolsResult }, { jsonrpc: '2.0', id: 6, result: resourcesResult }])] });
    const r = await call({ jsonrpc: '2.0', id: 5, method: 'tools/list' });
    noHidden(r.text);
    assert.equal(messages(r.text).length, 2);
  });

  test('an answer to a notification POST (which has no id at all) is filtered too', async () => {
    up.answer = () => ({ status: 200, headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify({ jsonrpc: '2.0', id: 1, result: toolsResult })] });
    const r = await call({ jsonrpc: '2.0', method: 'notifications/initialized' });
    noHidden(r.text);
  });

  test('a list answer under another id whose keys are written with \\u escapes', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 70, result: toolsResult }).replace('"tools"', '"\\u0074ools"').replace(HIDDEN_TOOL, 'secret-\\u006caunch');
    up.answer = () => ({ headers: { 'content-type': 'application/json' }, chunks: [body] });
    const r = await call({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo' } });
    assert.ok(!JSON.stringify(messages(r.text)).includes(HIDDEN_TOOL), r.text);
  });

  test('the exact answer to a tools/call is the call result: a "tools" key in it is not a list and passes', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 71, result: { content: [], tools: 'not a list' } });
    up.answer = () => ({ headers: { 'content-type': 'application/json' }, chunks: [body] });
    const r = await call({ jsonrpc: '2.0', id: 71, method: 'tools/call', params: { name: 'echo' } });
    assert.equal(r.text, body);
  });
});

describe('streams and replays', () => {
  test('a GET stream: replayed list answers are filtered, notifications about hidden resources dropped, the rest passes', async () => {
    up.answer = () => ({
      headers: { 'content-type': 'text/event-stream' },
      chunks: [
        ': keep-alive\n\n',
        sse({ jsonrpc: '2.0', id: 1, result: toolsResult }, 's1'),
        sse({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: HIDDEN_URI } }, 's2'),
        sse({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'test://public/../secret/key' } }, 's3'),
        sse({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'test://public/readme' } }, 's4'),
        'id: s5\ndata: {tools: ["secret-launch"]}\n\n',
        sse({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' }, 's6'),
      ],
    });
    const r = await call(undefined, { 'last-event-id': 's0' }, 'GET');
    assert.equal(r.status, 200);
    noHidden(r.text);
    const msgs = messages(r.text.replace(/^id: s5\n\n/m, '')) as any[];
    assert.deepEqual(msgs.map((m) => m.method ?? 'answer'), ['answer', 'notifications/resources/updated', 'notifications/tools/list_changed']);
    assert.equal(msgs[1].params.uri, 'test://public/readme');
    // Dropped events keep their ids: the client's resumption point still moves on.
    for (const id of ['s2', 's3', 's5']) assert.match(r.text, new RegExp(`^id: ${id}$`, 'm'));
    assert.equal(up.received.at(-1)!.headers['last-event-id'], 's0', 'Last-Event-ID reaches the upstream');
    const dropped = await gw.waitForAudit((e) => e.type === 'mcp.server_message' && e.target?.name === HIDDEN_URI);
    assert.equal(dropped.decision, 'deny');
    assert.equal(dropped.reason, 'not_curated');
    await gw.waitForAudit((e) => e.type === 'mcp.server_message' && e.reason === 'uri_not_canonical');
    await gw.waitForAudit((e) => e.type === 'mcp.server_message' && e.reason === 'response_uninspectable');
  });

  test('property: an SSE stream split at any byte boundaries never lets a hidden item through', async () => {
    const stream = [
      sse({ jsonrpc: '2.0', id: 1, result: toolsResult }, 'a1'),
      sse({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: HIDDEN_URI } }, 'a2'),
      sse({ jsonrpc: '2.0', id: 8, result: resourcesResult }),
    ].join('');
    const bytes = Buffer.from(stream);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }), fc.constantFrom('\n', '\r\n', '\r'), async (cuts, eol) => {
        const b = Buffer.from(stream.replace(/\n/g, eol));
        const chunks = splitAt(b, cuts).filter((c) => c.length > 0);
        up.answer = () => ({ headers: { 'content-type': 'text/event-stream' }, chunks });
        const r = await call({ jsonrpc: '2.0', id: 8, method: 'resources/list' });
        noHidden(r.text);
        const msgs = messages(r.text) as any[];
        assert.equal(msgs.length, 2, r.text);
      }),
      { numRuns: 25 },
    );
  });

  test('a POST resumed with Last-Event-ID gets replayed list answers filtered', async () => {
    up.answer = () => ({ headers: { 'content-type': 'text/event-stream' }, chunks: [sse({ jsonrpc: '2.0', id: 41, result: toolsResult }, 'r1'), sse({ jsonrpc: '2.0', id: 42, result: {} }, 'r2')] });
    const r = await call({ jsonrpc: '2.0', id: 42, method: 'ping' }, { 'last-event-id': 'r0' });
    noHidden(r.text);
  });
});

describe('what cannot be inspected is refused, not passed', () => {
  const cases: [string, () => ReturnType<ScriptedUpstream['answer']>][] = [
    ['a gzip-compressed list', () => ({ headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, chunks: [gzipSync(JSON.stringify({ jsonrpc: '2.0', id: 9, result: toolsResult }))] })],
    ['a br-compressed SSE stream', () => ({ headers: { 'content-type': 'text/event-stream', 'content-encoding': 'br' }, chunks: ['\u0000binary secret-launch'] })],
    ['a body labelled both JSON and SSE', () => ({ headers: { 'content-type': 'application/json; profile="text/event-stream"' }, chunks: [sse({ jsonrpc: '2.0', id: 9, result: toolsResult })] })],
    ['a body with no Content-Type', () => ({ headers: {}, chunks: [JSON.stringify({ jsonrpc: '2.0', id: 9, result: toolsResult })] })],
    ['a text/plain body', () => ({ headers: { 'content-type': 'text/plain' }, chunks: [JSON.stringify({ jsonrpc: '2.0', id: 9, result: toolsResult })] })],
    ['JSON that JSON.parse cannot read (a lenient parser could)', () => ({ headers: { 'content-type': 'application/json' }, chunks: [`{jsonrpc: "2.0", id: 9, result: {tools: [{name: "${HIDDEN_TOOL}"}]},}`] })],
  ];
  for (const [name, answer] of cases) {
    test(name, async () => {
      up.answer = answer;
      const r = await call({ jsonrpc: '2.0', id: 9, method: 'tools/list' });
      noHidden(r.text);
      const [m] = messages(r.text) as any[];
      assert.equal(m.id, 9);
      assert.equal(m.error.code, -32603);
      assert.match(m.error.message, /could not be inspected/);
    });
  }

  test('the gateway asks the upstream not to compress (Accept-Encoding removed)', async () => {
    up.answer = () => ({ headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify({ jsonrpc: '2.0', id: 10, result: {} })] });
    await call({ jsonrpc: '2.0', id: 10, method: 'ping' }, { 'accept-encoding': 'gzip, br' });
    assert.equal(up.received.at(-1)!.headers['accept-encoding'], undefined);
  });

  test('an error status passes untouched (clients do not read JSON-RPC from it)', async () => {
    up.answer = () => ({ status: 500, headers: { 'content-type': 'text/plain' }, chunks: ['upstream broke'] });
    const r = await call({ jsonrpc: '2.0', id: 11, method: 'ping' });
    assert.equal(r.status, 500);
    assert.equal(r.text, 'upstream broke');
  });

  test('after all that, ordinary answers still pass byte for byte', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 12, result: { content: [{ type: 'text', text: 'tools and prompts and resources' }] } });
    up.answer = () => ({ headers: { 'content-type': 'application/json' }, chunks: [body] });
    const r = await call({ jsonrpc: '2.0', id: 12, method: 'tools/call', params: { name: 'echo' } });
    assert.equal(r.text, body);
  });
});

describe('resource URIs are decided on as the upstream will read them', () => {
  const variants = [
    'test://public/../secret/key',
    'test://public/./../secret/key',
    'test://public/%2e%2e/secret/key',
    'test://public/%2E%2E/secret/key',
    'test://public/..%2Fsecret/key',
    'test://public/..%252Fsecret/key',
    'TEST://secret/key',
    'test://SECRET/key',
    'test://secret/%6Bey',
    'test://secret/k%65y',
    'test://secret/key#x',
    'test://secret/key?x=1',
    'test://secret/ke\ty',
    'test://secret/key\n',
    ' test://secret/key',
    'test://secret\\key',
    'test://secret/key/.',
  ];
  const requests = (uri: string) => [
    { jsonrpc: '2.0', id: 20, method: 'resources/read', params: { uri } },
    { jsonrpc: '2.0', id: 21, method: 'resources/subscribe', params: { uri } },
    { jsonrpc: '2.0', id: 22, method: 'resources/unsubscribe', params: { uri } },
    { jsonrpc: '2.0', id: 23, method: 'completion/complete', params: { ref: { type: 'ref/resource', uri }, argument: { name: 'a', value: '' } } },
  ];
  for (const uri of variants) {
    test(`refused before the upstream: ${JSON.stringify(uri)}`, async () => {
      const before = up.received.length;
      for (const req of requests(uri)) {
        const r = await call(req);
        const [m] = messages(r.text) as any[];
        assert.equal(m.id, req.id);
        assert.equal(m.error?.code, -32602, `${req.method} ${uri}: ${r.text}`);
        assert.ok(['uri_not_canonical', 'not_curated'].includes(m.error.data.reason), m.error.data.reason);
      }
      assert.equal(up.received.length, before, 'nothing reached the upstream');
    });
  }

  test('the canonical URI of a visible resource is read; lists drop hidden and non-canonical URIs', async () => {
    up.answer = (req) => ({ headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify({ jsonrpc: '2.0', id: safeId(req.body), result: JSON.parse(req.body).method === 'resources/list' ? resourcesResult : { contents: [] } })] });
    const read = await call({ jsonrpc: '2.0', id: 24, method: 'resources/read', params: { uri: 'test://public/readme' } });
    assert.deepEqual((messages(read.text)[0] as any).result, { contents: [] });
    const list = await call({ jsonrpc: '2.0', id: 25, method: 'resources/list' });
    assert.deepEqual((messages(list.text)[0] as any).result.resources.map((r: any) => r.uri), ['test://public/readme']);
  });
});

describe('inspect_responses: lists (the cheaper, weaker setting)', () => {
  test("only the answer to a list request is read: it is still filtered, other answers pass as sent", async () => {
    const lists = gw.url('lists-only');
    const post = async (body: unknown) =>
      (await fetch(lists, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(body) })).text();
    up.answer = (req) => ({ headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify({ jsonrpc: '2.0', id: safeId(req.body), result: toolsResult })] });
    const listed = await post({ jsonrpc: '2.0', id: 30, method: 'tools/list' });
    assert.ok(!listed.includes(HIDDEN_TOOL), listed);
    up.answer = () => ({ headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify({ jsonrpc: '2.0', id: 'other', result: toolsResult })] });
    const other = await post({ jsonrpc: '2.0', id: 31, method: 'tools/call', params: { name: 'echo' } });
    assert.ok(other.includes(HIDDEN_TOOL), 'documented trade-off: an answer under another id is not read in this mode');
  });
});
