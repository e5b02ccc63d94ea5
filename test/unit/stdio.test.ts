// The stdio bridge's logic beneath the HTTP side: the process pool (caps, idle stop,
// restart backoff), the JSON-RPC channel (ids of a shared process, routing of the
// program's own messages), command resolution, and the config and reload rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { request } from 'node:http';
import { ProcessPool, PoolFullError, GivenUpError, MAX_BACKOFF_MS } from '../../src/stdio/pool.js';
import { Channel, STDIO_ERROR_CODE, type Peer, type RequestId } from '../../src/stdio/channel.js';
import { ProgramStartError, resolveProgram, type JsonRpcMessage, type Program, type ProgramExit } from '../../src/stdio/program.js';
import { assertStdioReloadable, assertFixedBridgePorts } from '../../src/stdio/bridges.js';
import { parseConfig, ConfigError } from '../../src/config/load.js';
import { RestartNeededError } from '../../src/config/restart-needed.js';

let nextPid = 1000;
class FakeProgram implements Program {
  readonly pid = nextPid++;
  readonly sent: JsonRpcMessage[] = [];
  onMessage: ((m: JsonRpcMessage) => void) | undefined;
  readonly exited: Promise<ProgramExit>;
  private exit!: (e: ProgramExit) => void;
  constructor() {
    this.exited = new Promise((r) => (this.exit = r));
  }
  send(m: JsonRpcMessage): void {
    this.sent.push(m);
  }
  async stop(): Promise<void> {
    this.exit({ code: 0, signal: null, reason: 'stopped', stopped: true });
  }
  crash(code = 1): void {
    this.exit({ code, signal: null, reason: `the stdio program exited with code ${code}`, stopped: false });
  }
  emit(m: JsonRpcMessage): void {
    this.onMessage?.(m);
  }
}

const opts = { maxProcesses: 2, idleTimeoutMs: 60_000, restart: { maxRetries: 2, backoffMs: 20 } };
const tick = () => new Promise((r) => setImmediate(r));

test('pool: max_processes counts every live process; one that exits frees its place', async () => {
  const started: FakeProgram[] = [];
  const pool = new ProcessPool(() => (started.push(new FakeProgram()), started.at(-1)!), opts, { isBusy: () => false });
  const a = pool.dedicated();
  await pool.shared('stateless');
  assert.equal(pool.size, 2);
  assert.throws(() => pool.dedicated(), (e: Error) => e instanceof PoolFullError && /max_processes: 2/.test(e.message));
  await a.stop();
  await tick();
  assert.equal(pool.size, 1);
  assert.ok(pool.dedicated());
});

test('pool: an idle dedicated process is stopped, a busy one is not, and activity restarts the clock', async () => {
  let busy = true;
  const idled: Program[] = [];
  const pool = new ProcessPool(() => new FakeProgram(), { ...opts, idleTimeoutMs: 1000 }, { isBusy: () => busy, onIdle: (p) => idled.push(p) });
  const p = pool.dedicated();
  let stopped = false;
  void p.exited.then(() => (stopped = true));
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(stopped, false, 'busy: kept');
  busy = false;
  pool.touch(p);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(stopped, false, 'just active: kept');
  const deadline = Date.now() + 10_000;
  while (!stopped && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(stopped, true, 'idle: stopped');
  assert.deepEqual(idled, [p]);
});

test('pool: a crashed shared process is started again after backoff; max_retries crashes in a row give up; an answer resets the count', async () => {
  const started: FakeProgram[] = [];
  const pool = new ProcessPool(() => (started.push(new FakeProgram()), started.at(-1)!), { ...opts, maxProcesses: 10 }, { isBusy: () => false });
  const first = await pool.shared('sessions');
  assert.equal(await pool.shared('sessions'), first, 'one process per slot');
  assert.notEqual(await pool.shared('stateless'), first, 'slots are apart');
  for (let i = 0; i < 3; i++) {
    (await pool.shared('sessions') as FakeProgram).crash();
    await tick();
  }
  // Three crashes in a row with max_retries 2: given up.
  await assert.rejects(pool.shared('sessions'), (e: Error) => e instanceof GivenUpError && /crashed 3 times/.test(e.message));
  assert.ok(MAX_BACKOFF_MS >= 1000);

  // Backoff doubles: the second restart waits longer than the first.
  const t = new ProcessPool(() => new FakeProgram(), { ...opts, restart: { maxRetries: 5, backoffMs: 60 } }, { isBusy: () => false });
  const waits: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    const p = (await t.shared('s')) as FakeProgram;
    waits.push(Date.now() - t0);
    if (i === 1) t.healthy(p);
    p.crash();
    await tick();
  }
  assert.ok(waits[1]! >= 55, `after a crash: backoff_ms (${waits[1]} ms)`);
  assert.ok(waits[2]! >= 55, `after healthy() the count starts again: backoff_ms once more (${waits[2]} ms)`);
});

test('pool: a stopped (not crashed) shared process does not count as a crash', async () => {
  const pool = new ProcessPool(() => new FakeProgram(), { ...opts, restart: { maxRetries: 0, backoffMs: 10 } }, { isBusy: () => false });
  await (await pool.shared('s')).stop();
  await tick();
  assert.ok(await pool.shared('s'));
});

class Recorder implements Peer {
  readonly got: { m: JsonRpcMessage; related: RequestId | undefined }[] = [];
  exit: ProgramExit | undefined;
  deliver(m: JsonRpcMessage, related?: RequestId): void {
    this.got.push({ m, related });
  }
  closed(e: ProgramExit): void {
    this.exit = e;
  }
}

test('channel (shared): both callers\' id 1 reach the program under ids of its own and come back under theirs', () => {
  const p = new FakeProgram();
  const c = new Channel(p, true);
  const [a, b] = [new Recorder(), new Recorder()];
  c.attach(a);
  c.attach(b);
  c.request(a, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', _meta: { progressToken: 7 } } });
  c.request(b, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
  const [ia, ib] = p.sent.map((m) => m.id);
  assert.notEqual(ia, ib);
  const tokenA = (p.sent[0]!.params as { _meta: { progressToken: unknown } })._meta.progressToken;
  assert.notEqual(tokenA, 7, 'progress tokens get the channel\'s own too');
  p.emit({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: tokenA, progress: 1 } });
  p.emit({ jsonrpc: '2.0', id: ib, result: { tools: [] } });
  p.emit({ jsonrpc: '2.0', id: ia, result: { content: [] } });
  assert.deepEqual(a.got.map((g) => [g.m.method ?? 'answer', g.m.id, g.related]), [['notifications/progress', undefined, 1], ['answer', 1, 1]]);
  assert.equal((a.got[0]!.m.params as { progressToken: unknown }).progressToken, 7);
  assert.deepEqual(b.got.map((g) => [g.m.id, g.m.result]), [[1, { tools: [] }]]);
  assert.equal(c.inFlight, 0);
});

test('channel (shared): a cancel names the caller\'s id; list changes reach everyone; a server request goes to the caller in flight, only it may answer', () => {
  const p = new FakeProgram();
  const c = new Channel(p, true);
  const [a, b] = [new Recorder(), new Recorder()];
  c.attach(a);
  c.attach(b);
  c.request(a, { jsonrpc: '2.0', id: 'q', method: 'tools/call', params: { name: 'slow' } });
  const out = p.sent[0]!.id;
  c.notify(b, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'q' } });
  assert.equal(p.sent.length, 1, 'b cannot cancel a\'s request');
  p.emit({ jsonrpc: '2.0', id: 's1', method: 'sampling/createMessage', params: {} });
  assert.equal(a.got.at(-1)!.m.method, 'sampling/createMessage');
  assert.equal(a.got.at(-1)!.related, 'q');
  assert.equal(c.answer(b, { jsonrpc: '2.0', id: 's1', result: {} }), false);
  assert.equal(c.answer(a, { jsonrpc: '2.0', id: 's1', result: {} }), true);
  p.emit({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
  assert.equal(a.got.at(-1)!.m.method, 'notifications/tools/list_changed');
  assert.equal(b.got.at(-1)!.m.method, 'notifications/tools/list_changed');
  c.notify(a, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'q', reason: 'user' } });
  assert.deepEqual(p.sent.at(-1), { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: out, reason: 'user' } });
  assert.equal(c.inFlight, 0);
});

test('channel (dedicated): messages pass unchanged; a reused id in flight is refused; exit answers what is in flight', async () => {
  const p = new FakeProgram();
  const c = new Channel(p, false);
  const a = new Recorder();
  c.attach(a);
  const req = { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'x', _meta: { progressToken: 'pt' } } };
  c.request(a, req);
  assert.deepEqual(p.sent[0], req);
  c.request(a, { jsonrpc: '2.0', id: 5, method: 'tools/list' });
  assert.equal((a.got.at(-1)!.m.error as { data: { reason: string } }).data.reason, 'stdio_duplicate_id');
  p.emit({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x' } });
  assert.equal(a.got.at(-1)!.related, 5, 'one caller: its request in flight carries the log');
  p.crash(7);
  await tick();
  const last = a.got.at(-1)!.m as { id: number; error: { code: number; message: string } };
  assert.equal(last.id, 5);
  assert.equal(last.error.code, STDIO_ERROR_CODE);
  assert.match(last.error.message, /code 7/);
  assert.equal(a.exit?.code, 7);
  c.request(a, { jsonrpc: '2.0', id: 6, method: 'tools/list' });
  assert.match((a.got.at(-1)!.m.error as { message: string }).message, /code 7/);
});

test('resolveProgram: PATH lookup as execvp, paths against cwd, a clear error otherwise', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stdio-resolve-'));
  await writeFile(join(dir, 'prog'), '#!/bin/sh\n');
  await chmod(join(dir, 'prog'), 0o755);
  await writeFile(join(dir, 'plain'), 'not executable');
  assert.equal(resolveProgram('prog', '/', `/nonexistent:${dir}`), join(dir, 'prog'));
  assert.equal(resolveProgram('./prog', dir, ''), join(dir, 'prog'));
  assert.throws(() => resolveProgram('prog', '/', '/nonexistent'), (e: Error) => e instanceof ProgramStartError && /"prog": not found on PATH/.test(e.message));
  assert.throws(() => resolveProgram('./plain', dir, ''), (e: Error) => e instanceof ProgramStartError && /not an executable file/.test(e.message));
});

const cfg = (servers: unknown[]) => parseConfig(stringify({ servers }), '<stdio test>');

test('config: command with its defaults; exactly one of url, versions, command; stdio keys only with command; no upstream_auth', () => {
  const c = cfg([{ name: 'fs', command: ['npx', '-y', 'pkg', '/data'], env: { ROOT: '/data' }, stdio: { mode: 'shared', restart: { backoff_ms: 100 } } }]);
  const s = c.servers[0]!;
  assert.deepEqual(s.stdio, { command: ['npx', '-y', 'pkg', '/data'], env: { ROOT: '/data' }, cwd: process.cwd(), mode: 'shared', maxProcesses: 32, idleTimeoutMs: 600_000, restart: { maxRetries: 5, backoffMs: 100 }, port: 0 });
  assert.equal(s.url.hostname, '127.0.0.1');
  assert.equal(cfg([{ name: 'u', url: 'http://127.0.0.1:1/mcp' }]).servers[0]!.stdio, undefined);
  const problems = (servers: unknown[]) => {
    try {
      cfg(servers);
      return [];
    } catch (e) {
      return (e as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
    }
  };
  assert.deepEqual(problems([{ name: 'x', url: 'http://127.0.0.1:1/mcp', command: ['a'] }]), ['servers[0].url: set exactly one of url, versions, command or openapi']);
  assert.deepEqual(problems([{ name: 'x', url: 'http://127.0.0.1:1/mcp', env: { A: 'b' } }]), ['servers[0].env: env applies to a stdio server (command) only']);
  assert.deepEqual(problems([{ name: 'x', command: ['a'], upstream_auth: { static: { value_env: 'T' } } }]), ['servers[0].upstream_auth: a stdio program gets no HTTP credentials; give it what it needs in env']);
  assert.ok(problems([{ name: 'x', command: [] }]).some((p) => p.startsWith('servers[0].command')));
  assert.ok(problems([{ name: 'x', command: ['a'], stdio: { mode: 'pooled' } }]).some((p) => p.startsWith('servers[0].stdio.mode')));
});

test('reload: a changed, added or removed stdio server needs a restart; other settings of it do not', () => {
  const base = { name: 'fs', command: ['prog'], tools: { deny: ['x'] } };
  const running = cfg([base]);
  assertStdioReloadable(running, cfg([{ ...base, tools: { deny: ['y'] } }]));
  assert.throws(() => assertStdioReloadable(running, cfg([{ ...base, command: ['prog', '--flag'] }])), (e: Error) => e instanceof RestartNeededError && /fs/.test(e.message));
  assert.throws(() => assertStdioReloadable(running, cfg([{ ...base, env: { A: '1' } }])), RestartNeededError);
  assert.throws(() => assertStdioReloadable(running, cfg([base, { name: 'two', command: ['prog'] }])), (e: Error) => /two/.test(e.message));
  assert.throws(() => assertStdioReloadable(running, cfg([{ name: 'fs', url: 'http://127.0.0.1:1/mcp' }])), RestartNeededError);
  assert.throws(() => assertFixedBridgePorts(running, 'envoy-config'), /fs need stdio.port/);
  assertFixedBridgePorts(cfg([{ ...base, stdio: { port: 7301 } }]), 'envoy-config');
});

/** A program that answers every request at once with `{ method }`, and initialize with a result or an error. */
class AnsweringProgram extends FakeProgram {
  constructor(private readonly refuseInitialize = false) {
    super();
  }
  override send(m: JsonRpcMessage): void {
    super.send(m);
    if (m.id === undefined || m.method === undefined) return;
    const answer = m.method === 'initialize' && this.refuseInitialize ? { error: { code: -32602, message: 'unsupported protocol version' } } : { result: { method: m.method } };
    setImmediate(() => this.emit({ jsonrpc: '2.0', id: m.id, ...answer }));
  }
}

test('bridge: sessions, stateless requests and the HTTP edges, over a fake program', async () => {
  const { startBridge } = await import('../../src/stdio/bridge.js');
  const { createLogger } = await import('../../src/telemetry/log.js');
  const programs: AnsweringProgram[] = [];
  let refuse = false;
  const stdio = cfg([{ name: 'b', command: ['prog'], stdio: { max_processes: 3 } }]).servers[0]!.stdio!;
  const bridge = await startBridge({ server: 'b', config: stdio, log: createLogger('silent'), start: () => (programs.push(new AnsweringProgram(refuse)), programs.at(-1)!) });
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(bridge.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
  try {
    const r = await post(init);
    assert.equal(r.status, 200);
    const sid = r.headers.get('mcp-session-id');
    assert.ok(sid);
    assert.deepEqual(await r.json(), { jsonrpc: '2.0', id: 1, result: { method: 'initialize' } });
    // SSE answer when accepted, JSON otherwise.
    const sse = await post({ jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': sid! });
    assert.equal(sse.headers.get('content-type'), 'text/event-stream');
    assert.match(await sse.text(), /^event: message\ndata: \{"jsonrpc":"2.0","id":2,"result":\{"method":"tools\/list"\}\}\n\n$/);
    const json = await post({ jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-session-id': sid!, accept: 'application/json' });
    assert.equal((await json.json()).id, 3);
    assert.equal((await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': sid! })).status, 202);
    assert.equal(programs.length, 1);
    // Without a session: the stateless process, a second one.
    assert.equal((await (await post({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, { accept: 'application/json' })).json()).result.method, 'tools/list');
    assert.equal(programs.length, 2);
    assert.equal((programs[1]!.sent[0]!.id as string).startsWith('mcpgw-'), true, 'the stateless process gets ids of its own');
    // An initialize the program refuses opens no session and leaves no process.
    refuse = true;
    const refused = await post(init);
    assert.equal(refused.headers.get('mcp-session-id'), null);
    assert.equal((await refused.json()).error.code, -32602);
    await tick();
    assert.equal(bridge.stats().processes, 2);
    refuse = false;
    // The edges.
    const status = async (p: Promise<Response>) => (await p).status;
    // fetch() will not send another Host: node:http does.
    const foreignHost = await new Promise<number>((resolve, reject) => {
      const req = request(bridge.url, { method: 'POST', headers: { host: `evil.example:${bridge.url.port}`, 'content-type': 'application/json' } }, (res) => (res.resume(), resolve(res.statusCode!)));
      req.on('error', reject);
      req.end(JSON.stringify(init));
    });
    assert.equal(foreignHost, 403, 'DNS rebinding: a foreign Host');
    assert.equal(await status(post(JSON.stringify(init), { 'content-type': 'text/plain' })), 415, 'a simple (no-preflight) browser POST');
    assert.equal(await status(post('{"jsonrpc":"2.0",', {})), 400);
    assert.equal(await status(post([init])), 400, 'a batch');
    assert.equal(await status(post({ jsonrpc: '2.0', id: 9, method: 'tools/list' }, { 'mcp-session-id': 'nope' })), 404);
    assert.equal(await status(post({ jsonrpc: '2.0', id: 's1', result: {} }, { 'mcp-session-id': sid! })), 400, 'an answer to nothing the program asked');
    assert.equal(await status(fetch(bridge.url, { headers: { accept: 'text/event-stream' } })), 405, 'GET without a session');
    assert.equal(await status(fetch(new URL('/other', bridge.url), { method: 'POST' })), 404);
    // DELETE ends the session and stops its process.
    assert.equal(await status(fetch(bridge.url, { method: 'DELETE', headers: { 'mcp-session-id': sid! } })), 200);
    await tick();
    assert.deepEqual([bridge.stats().sessions, bridge.stats().processes], [0, 1]);
    assert.equal(await status(post({ jsonrpc: '2.0', id: 4, method: 'tools/list' }, { 'mcp-session-id': sid! })), 404);
    // The cap: three sessions (with the stateless process), then 503.
    for (let i = 0; i < 2; i++) assert.equal(await status(post(init)), 200);
    const full = await post(init);
    assert.equal(full.status, 503);
    assert.equal((await full.json()).error.data.reason, 'stdio_pool_full');
    assert.equal(bridge.stats().refused.stdio_pool_full, 1);
  } finally {
    await bridge.stop();
  }
});
