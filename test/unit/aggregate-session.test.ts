// An aggregate session over two real upstreams (SDK servers over HTTP, without Envoy): list
// pages of every member merged under one cursor, routing, members' errors kept.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import { startUpstream, type RunningUpstream } from '../../examples/upstream.js';
import { AggregateSession } from '../../src/aggregate/session.js';

/** A server whose `n` tools come `pageSize` per page, named `<prefix>-<i>`. */
function paged(prefix: string, n: number, pageSize: number) {
  return () => {
    const server = new Server({ name: prefix, version: '1' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, (req) => {
      const from = Number(req.params?.cursor ?? '0');
      const tools = Array.from({ length: n }, (_, i) => ({ name: `${prefix}-${i}`, inputSchema: { type: 'object' as const } })).slice(from, from + pageSize);
      return { tools, ...(from + pageSize < n && { nextCursor: String(from + pageSize) }) };
    });
    server.setRequestHandler(CallToolRequestSchema, (req) => {
      if (req.params.name === 'boom') throw new McpError(ErrorCode.InvalidParams, 'no such thing', { why: 'test' });
      return { content: [{ type: 'text', text: `${prefix}:${req.params.name}` }] };
    });
    return { server };
  };
}

let a: RunningUpstream;
let b: RunningUpstream;
let session: AggregateSession;
let client: Client;

before(async () => {
  a = await startUpstream({ createServer: paged('a', 5, 2) });
  b = await startUpstream({ createServer: paged('b', 1, 2) });
  session = await AggregateSession.open(
    { aggregate: 'all', separator: '.', members: [{ name: 'one', url: new URL(a.url) }, { name: 'two', url: new URL(b.url) }], version: '1', onLost: () => {} },
    {},
  );
  const [x, y] = InMemoryTransport.createLinkedPair();
  await session.server.connect(x);
  client = new Client({ name: 't', version: '1' });
  await client.connect(y);
});

after(async () => {
  await client.close();
  await session.close();
  await a.close();
  await b.close();
});

test('pages of both members merge: the first page has each member\'s first page, the cursor carries the rest', async () => {
  const pages: string[][] = [];
  let cursor: string | undefined;
  do {
    const r = await client.listTools(cursor === undefined ? {} : { cursor });
    pages.push(r.tools.map((t) => t.name));
    cursor = r.nextCursor;
  } while (cursor !== undefined);
  assert.deepEqual(pages, [['one.a-0', 'one.a-1', 'two.b-0'], ['one.a-2', 'one.a-3'], ['one.a-4']]);
});

test('a forged cursor is -32602, and reaches no member', async () => {
  const before = a.received.length + b.received.length;
  await assert.rejects(client.listTools({ cursor: 'bm9wZQ' }), (e: unknown) => e instanceof McpError && e.code === -32602);
  assert.equal(a.received.length + b.received.length, before);
});

test('calls route by prefix; a member\'s error keeps its code and data, naming the member', async () => {
  const r = await client.callTool({ name: 'two.b-0', arguments: {} });
  assert.deepEqual(r.content, [{ type: 'text', text: 'b:b-0' }]);
  await assert.rejects(client.callTool({ name: 'one.boom', arguments: {} }), (e: unknown) => e instanceof McpError && e.code === -32602 && /^MCP error -32602: one: no such thing$/.test(e.message) && (e.data as { why?: string }).why === 'test');
});
