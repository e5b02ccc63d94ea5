// stdio servers behind the gateway (servers[].command): the real Envoy and sidecar, the
// reference "everything" server from npm in stdio mode, and the tests' own stdio fixture
// (test/fixtures/stdio-server.ts, SDK v2, both eras), reached through the SDK client or,
// for 2026-07-28, plain HTTP as that revision's wire has it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { startGateway, freePort, type RunningGateway } from '../support/gateway.js';

const FIXTURE = ['node', '--import', 'tsx', 'test/fixtures/stdio-server.ts'];
let gw: RunningGateway;

before(async () => {
  gw = await startGateway({
    config: {
      telemetry: { listen: `127.0.0.1:${await freePort()}` },
      servers: [
        {
          name: 'everything',
          command: ['node', 'node_modules/@modelcontextprotocol/server-everything/dist/index.js', 'stdio'],
          tools: { allow: ['echo', 'get-sum', 'get-env'], deny: ['get-env'] },
        },
        { name: 'fixture', command: FIXTURE, tools: { deny: ['secret-dump'] }, stdio: { max_processes: 3 } },
        { name: 'stateless', command: FIXTURE, tools: { deny: ['secret-dump'] } },
        { name: 'shared', command: FIXTURE, stdio: { mode: 'shared', restart: { max_retries: 3, backoff_ms: 50 } } },
        { name: 'missing', command: ['mcp-gateway-no-such-program', '--stdio'] },
        { name: 'dies', command: ['node', '-e', 'console.error("boom: no API key given"); process.exit(2)'] },
      ],
    },
  });
});
after(async () => gw?.stop());

async function connect(server: string): Promise<Client> {
  const client = new Client({ name: 'e2e-stdio', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.url(server))));
  return client;
}

/** Ends the sessions (DELETE: their processes stop) and closes the clients. */
async function end(...clients: Client[]): Promise<void> {
  for (const c of clients) {
    await (c.transport as StreamableHTTPClientTransport | undefined)?.terminateSession().catch(() => undefined);
    await c.close();
  }
}

const httpStatus = (e: unknown) => (e as { code?: unknown }).code;
const textOf = (r: unknown) => ((r as { content: { text: string }[] }).content[0]!.text);
const pidOf = async (c: Client) => Number(textOf(await c.callTool({ name: 'whoami', arguments: {} })));

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('the reference server in stdio mode is curated and called like any upstream', async () => {
  const c = await connect('everything');
  const names = (await c.listTools()).tools.map((t) => t.name).sort();
  assert.deepEqual(names, ['echo', 'get-sum']);
  const r = await c.callTool({ name: 'echo', arguments: { message: 'over stdio' } });
  assert.match(textOf(r), /over stdio/);
  await assert.rejects(c.callTool({ name: 'get-env', arguments: {} }), (e: unknown) => e instanceof McpError && e.code === -32602 && /not available/.test(e.message));
  const ev = await gw.waitForAudit((e) => e.target?.name === 'get-env');
  assert.equal(ev.decision, 'deny');
  await end(c);
});

test('two sessions get two processes; a hidden tool of the fixture is refused; progress arrives', async () => {
  const [a, b] = [await connect('fixture'), await connect('fixture')];
  const [pa, pb] = [await pidOf(a), await pidOf(b)];
  assert.notEqual(pa, pb);
  assert.notEqual(pa, process.pid);
  assert.equal(await pidOf(a), pa, 'a session stays on its process');
  assert.ok(!(await a.listTools()).tools.some((t) => t.name === 'secret-dump'));
  await assert.rejects(a.callTool({ name: 'secret-dump', arguments: {} }), (e: unknown) => e instanceof McpError && e.code === -32602);
  const progress: number[] = [];
  const r = await a.callTool({ name: 'progress', arguments: {} }, undefined, { onprogress: (p) => progress.push(p.progress) });
  assert.equal(textOf(r), 'done');
  assert.deepEqual(progress, [1, 2]);
  const metrics = await (await fetch(`${gw.launched.sidecar.telemetryUrl}/metrics`)).text();
  assert.match(metrics, /^mcp_gateway_stdio_processes\{server="fixture"\} 2$/m);
  assert.match(metrics, /^mcp_gateway_stdio_sessions\{server="fixture"\} 2$/m);
  // DELETE of a session stops its process.
  await (a.transport as StreamableHTTPClientTransport).terminateSession();
  await until('the process of the ended session to exit', async () => (alive(pa) ? undefined : true));
  assert.ok(alive(pb));
  await end(a, b);
});

test('max_processes: a session beyond the cap gets 503 with a JSON-RPC error, and the gateway keeps serving', async () => {
  const clients = [await connect('fixture'), await connect('fixture'), await connect('fixture')];
  await assert.rejects(connect('fixture'), (e: Error) => httpStatus(e) === 503 && /max_processes: 3/.test(e.message) && /stdio_pool_full/.test(e.message));
  await end(clients[0]!);
  const again = await until('a free process slot', () => connect('fixture'));
  assert.ok((await pidOf(again)) > 0);
  await end(again, ...clients.slice(1));
});

test('a killed per-session process ends its session; the next session gets a new process', async () => {
  // The processes of the sessions ended above may still be stopping (they count until they exit).
  const c = await until('a free process slot', () => connect('fixture'));
  const pid = await pidOf(c);
  process.kill(pid, 'SIGKILL');
  await until('the process to be gone', async () => (alive(pid) ? undefined : true));
  await assert.rejects(pidOf(c), (e: Error) => /404|Session not found|exited|killed/.test(e.message));
  const d = await connect('fixture');
  const pid2 = await pidOf(d);
  assert.notEqual(pid2, pid);
  await end(c, d);
});

test('shared mode: all sessions share one process, restarted with backoff after a crash', async () => {
  const [a, b] = [await connect('shared'), await connect('shared')];
  const pid = await pidOf(a);
  assert.equal(await pidOf(b), pid);
  // Both callers' request ids start at the same numbers: the bridge keeps them apart.
  const [ra, rb] = await Promise.all([a.callTool({ name: 'echo', arguments: { message: 'from a' } }), b.callTool({ name: 'echo', arguments: { message: 'from b' } })]);
  assert.deepEqual([textOf(ra), textOf(rb)], ['from a', 'from b']);
  await assert.rejects(a.callTool({ name: 'crash', arguments: {} }), (e: Error) => /exited with code 3/.test(e.message));
  // Sessions lived in that process: they end; a new session gets the restarted one.
  const c = await until('the restarted shared process', async () => {
    const c = await connect('shared');
    return (await pidOf(c)) > 0 ? c : undefined;
  });
  assert.notEqual(await pidOf(c), pid);
  await end(a, b, c);
});

test('a program that cannot start gives a clear JSON-RPC error; the gateway keeps serving', async () => {
  await assert.rejects(connect('missing'), (e: Error) => httpStatus(e) === 502 && /mcp-gateway-no-such-program.*not found on PATH/.test(e.message));
  await assert.rejects(connect('dies'), (e: Error) => httpStatus(e) === 502 && /exited with code 2/.test(e.message) && /boom: no API key given/.test(e.message));
  const metrics = await (await fetch(`${gw.launched.sidecar.telemetryUrl}/metrics`)).text();
  assert.match(metrics, /^mcp_gateway_stdio_refusals_total\{server="missing",reason="stdio_start_failed"\} [1-9]/m);
  assert.match(metrics, /^mcp_gateway_stdio_process_exits_total\{server="dies",outcome="crashed"\} [1-9]/m);
  // Audited like any upstream failure: the exchange's event carries the bridge's status.
  const ev = await gw.waitForAudit((e) => e.server === 'missing' && e.rpc?.method === 'initialize' && e.upstream_status !== undefined);
  assert.equal(ev.upstream_status, 502);
  const c = await connect('everything');
  assert.ok((await c.listTools()).tools.length > 0);
  await end(c);
});

test('a 2026-07-28 client (stateless, no session) is served by the program', async () => {
  const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'e2e-2026', version: '1.0.0' } };
  const call = async (id: number, method: string, params: Record<string, unknown>, name?: string) => {
    const res = await fetch(gw.url('stateless'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': method, ...(name && { 'mcp-name': name }) },
      body: JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } }),
    });
    assert.equal(res.headers.get('mcp-session-id'), null);
    const body = await res.text();
    const json = res.headers.get('content-type')?.includes('text/event-stream') ? body.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6))).find((m) => m.id === id) : JSON.parse(body);
    return { status: res.status, json };
  };
  const list = await call(1, 'tools/list', {});
  assert.equal(list.status, 200);
  const names = (list.json.result.tools as { name: string }[]).map((t) => t.name);
  assert.ok(names.includes('whoami') && !names.includes('secret-dump'), names.join(','));
  const who = await call(2, 'tools/call', { name: 'whoami', arguments: {} }, 'whoami');
  assert.equal(who.status, 200, JSON.stringify(who.json));
  assert.ok(Number(who.json.result.content[0].text) > 0);
  const hidden = await call(3, 'tools/call', { name: 'secret-dump', arguments: {} }, 'secret-dump');
  assert.ok(hidden.json.error, JSON.stringify(hidden.json));
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
