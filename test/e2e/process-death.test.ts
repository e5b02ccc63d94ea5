// Processes that die without cleaning up: `kill -9` of `mcp-gateway up` takes its
// Envoy with it and a restart comes up cleanly on the same ports; a port someone
// else holds stops the start with a clear error; a SIGKILLed sidecar fails closed.
import { writeCliConfig } from '../support/cli-config.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startUpstream, everythingServerFactory, type RunningUpstream } from '../../examples/upstream.js';
import { freePort } from '../support/ports.js';
import { loadConfigFile } from '../../src/config/load.js';
import { startEnvoy, probeAdmin, ForeignEnvoyError } from '../../src/envoy/process.js';
import { assertPortFree } from '../../src/envoy/preflight.js';
import { LAUNCH_ID_KEY } from '../../src/envoy/bootstrap.js';

const CLI = ['--import', 'tsx', 'src/cli.ts'];
let upstream: RunningUpstream;
let dir: string;
const children: ChildProcess[] = [];

before(async () => {
  upstream = await startUpstream({ createServer: await everythingServerFactory() });
  dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-death-'));
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await upstream?.close();
});

interface Ports {
  listen: number;
  admin: number;
}

function configFile(ports: Ports, sidecarListen: string, extra = ''): Promise<string> {
  return writeCliConfig(dir, upstream.url, { listen: `127.0.0.1:${ports.listen}`, admin: `127.0.0.1:${ports.admin}`, sidecar: sidecarListen }, extra);
}

interface Cli {
  child: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
  /** Resolves with the stderr once `pattern` shows up in it. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

function cli(...args: string[]): Cli {
  const child = spawn(process.execPath, [...CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdout!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => stderr,
    async waitFor(pattern, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(stderr)) {
        assert.ok(Date.now() < deadline && child.exitCode === null, `no ${pattern} in the output:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return stderr;
    },
  };
}

/**
 * Gone, or a zombie nobody has reaped yet with no thread still exiting. A SIGKILLed
 * thread-group leader can turn zombie while its other threads are still in exit and
 * hold its sockets, so every task of the group counts, not just the leader.
 */
async function processGone(pid: number): Promise<boolean> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  for (const tid of tasks) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => undefined);
    if (stat !== undefined && !/^\d+ \(.*\) [ZX] /s.test(stat)) return false;
  }
  return true;
}

/** The kernel closes a dead process's sockets as its last thread exits: allow it a moment. */
async function portFreedWithin(what: string, port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await assertPortFree(what, { host: '127.0.0.1', port });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const ppid = /\) \S (\d+) /.exec(stat)?.[1];
    if (ppid === String(pid)) out.push(Number(name));
  }
  return out;
}

async function callEcho(url: string, message: string): Promise<void> {
  const client = new Client({ name: 'process-death', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  const r = await client.callTool({ name: 'echo', arguments: { message } });
  assert.match(JSON.stringify(r.content), new RegExp(message));
  await client.close();
}

test('kill -9 of `up`: Envoy dies with it, the ports are freed, and a restart serves on the same ports (stale socket and all)', async () => {
  const ports = { listen: await freePort(), admin: await freePort() };
  const auditFile = join(dir, 'up-audit.jsonl');
  const sock = join(dir, 'sidecar.sock');
  const file = await configFile(ports, `unix:${sock}`, `audit:\n  file: ${auditFile}\n  durability: write_through\n`);

  const first = cli('up', '--config', file);
  const out = await first.waitFor(/mcp-gateway is up[\s\S]*Envoy pid \d+/);
  const envoyPid = Number(/Envoy pid (\d+)/.exec(out)![1]);
  assert.ok((await childrenOf(first.child.pid!)).includes(envoyPid), 'Envoy is a direct child of `up` (setpriv and the guard exec into it)');
  assert.equal((await readFile(`/proc/${envoyPid}/comm`, 'utf8')).trim(), 'envoy');
  const url = /everything\s+(http:\S+)/.exec(out)![1]!;
  const calls = 5;
  for (let i = 0; i < calls; i++) await callEcho(url, `before-${i}`);

  first.child.kill('SIGKILL');
  await first.exited;
  const deadline = Date.now() + 5000;
  while (!(await processGone(envoyPid))) {
    if (Date.now() > deadline) {
      process.kill(envoyPid, 'SIGKILL'); // an orphan would hold the ports (and this test's pipes)
      assert.fail(`Envoy (pid ${envoyPid}) outlived its parent by 5s`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await portFreedWithin('gateway.listen', ports.listen, 2000);
  await portFreedWithin('gateway.admin', ports.admin, 2000);
  assert.ok((await stat(sock)).isSocket(), 'the dead sidecar left its socket file behind');

  // write_through: every call that was answered has its audit event on disk.
  const events = (await readFile(auditFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { target?: { name: string }; arguments?: { message: string } });
  assert.deepEqual(events.filter((e) => e.target?.name === 'echo').map((e) => e.arguments?.message), Array.from({ length: calls }, (_, i) => `before-${i}`));

  const second = cli('up', '--config', file);
  await second.waitFor(/mcp-gateway is up/);
  await callEcho(url, 'after-restart');
  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0, second.output());
});

test('the documented gap: an exchange in flight at kill -9 reached the upstream but has no audit event, even in write_through', async () => {
  // An upstream that takes the request and never answers: the exchange is still in flight.
  const arrived: string[] = [];
  const held: ServerResponse[] = [];
  const slow = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => (arrived.push(body), held.push(res)));
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  const ports = { listen: await freePort(), admin: await freePort() };
  const auditFile = join(dir, 'in-flight-audit.jsonl');
  const file = join(dir, 'in-flight.yaml');
  await writeFile(
    file,
    `gateway:\n  listen: 127.0.0.1:${ports.listen}\n  admin: 127.0.0.1:${ports.admin}\nsidecar:\n  listen: 127.0.0.1:${await freePort()}\n` +
      `servers:\n  - name: slow\n    url: http://127.0.0.1:${(slow.address() as { port: number }).port}/mcp\n` +
      `audit:\n  file: ${auditFile}\n  durability: write_through\n`,
  );
  try {
    const up = cli('up', '--config', file);
    await up.waitFor(/mcp-gateway is up/);
    const call = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'transfer', arguments: { amount: 100 } } };
    const answer = fetch(`http://127.0.0.1:${ports.listen}/mcp/slow`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify(call),
    }).then(
      (r) => r.status,
      () => 'connection error',
    );
    const deadline = Date.now() + 10_000;
    while (arrived.length === 0) {
      assert.ok(Date.now() < deadline, 'the call did not reach the upstream');
      await new Promise((r) => setTimeout(r, 20));
    }
    up.child.kill('SIGKILL');
    await up.exited;
    // Envoy may still answer the fail-closed 5xx (the sidecar died first) before it dies itself.
    const got = await answer;
    assert.ok(got === 'connection error' || (typeof got === 'number' && got >= 500), `the client gets no result, got ${got}`);
    assert.match(arrived[0]!, /"transfer"/, 'the upstream got the call');
    const audit = await readFile(auditFile, 'utf8').catch(() => '');
    assert.doesNotMatch(audit, /transfer/, 'its event was due at the response headers, which never came');
  } finally {
    for (const res of held) res.destroy();
    slow.close();
  }
});

test('`up` refuses to start when something already answers /ready on the admin port', async () => {
  const ports = { listen: await freePort(), admin: await freePort() };
  const decoy = await decoyAdmin(ports.admin, { server_info: { node: { id: 'mcp-gateway' } } });
  try {
    const file = await configFile(ports, `127.0.0.1:${await freePort()}`);
    const run = cli('up', '--config', file);
    assert.equal(await run.exited, 1, run.output());
    assert.match(run.output(), new RegExp(`gateway\\.admin 127\\.0\\.0\\.1:${ports.admin} is already in use by another process`));
    assert.doesNotMatch(run.output(), /mcp-gateway is up/);
  } finally {
    decoy.close();
  }
});

test('readiness is not fooled by an admin endpoint that is not this launch’s Envoy', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  assert.equal(await probeAdmin(url, 'launch-a'), 'not_ready', 'nothing listening yet');
  for (const serverInfo of [{ node: { id: 'mcp-gateway', metadata: { [LAUNCH_ID_KEY]: 'launch-b' } } }, { node: { id: 'mcp-gateway' } }, undefined]) {
    const decoy = await decoyAdmin(port, serverInfo && { server_info: serverInfo });
    try {
      await assert.rejects(probeAdmin(url, 'launch-a'), (err: Error) => err instanceof ForeignEnvoyError && /not from the Envoy this launch started/.test(err.message));
    } finally {
      await new Promise((r) => decoy.close(r));
    }
  }
  const ours = await decoyAdmin(port, { server_info: { node: { metadata: { [LAUNCH_ID_KEY]: 'launch-a' } } } });
  try {
    assert.equal(await probeAdmin(url, 'launch-a'), 'ours');
  } finally {
    ours.close();
  }
});

test('kill -9 of the sidecar: Envoy fails closed (5xx), nothing reaches the upstream, and a restarted sidecar is used again', async () => {
  const ports = { listen: await freePort(), admin: await freePort() };
  const sidecarPort = await freePort();
  const file = await configFile(ports, `127.0.0.1:${sidecarPort}`, 'log:\n  level: info\n');
  let sidecar = cli('sidecar', '--config', file);
  await sidecar.waitFor(/ext_proc sidecar listening/);
  const envoy = await startEnvoy(await loadConfigFile(file), { stdio: 'pipe', logLevel: 'error' });
  try {
    const url = `http://127.0.0.1:${ports.listen}/mcp/everything`;
    const init = (id: number) => ({ jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: `x${id}`, version: '1' } } });
    const post = (id: number) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(init(id)) });
    const res = await post(1);
    assert.equal(res.status, 200);
    await res.arrayBuffer();

    sidecar.child.kill('SIGKILL');
    await sidecar.exited;
    const seen = upstream.received.length;
    for (let id = 2; id < 7; id++) {
      const r = await post(id);
      await r.arrayBuffer();
      assert.ok(r.status >= 500, `expected a 5xx with the sidecar dead, got ${r.status}`);
    }
    assert.equal(upstream.received.length, seen, 'nothing reached the upstream while the sidecar was dead');

    sidecar = cli('sidecar', '--config', file);
    await sidecar.waitFor(/ext_proc sidecar listening/);
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      const r = await post(100);
      await r.arrayBuffer();
      status = r.status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200, 'Envoy reconnects to the restarted sidecar');
  } finally {
    await envoy.stop();
    sidecar.child.kill('SIGTERM');
    await sidecar.exited;
  }
});

/** An HTTP server on `port` that answers 200 to /ready (and to everything else), like an Envoy admin would. */
async function decoyAdmin(port: number, docs: { server_info?: unknown } = {}): Promise<Server> {
  const srv = createServer((req, res) => {
    if (req.url === '/server_info' && docs.server_info !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify(docs.server_info));
    } else {
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' }).end('LIVE\n');
    }
  });
  await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve));
  return srv;
}

test('kill -9 of `up`: its stdio servers\' processes die with it', async () => {
  const ports = { listen: await freePort(), admin: await freePort() };
  const stdioServer = `  - name: local\n    command: ["node", "--import", "tsx", "test/fixtures/stdio-server.ts"]\n    cwd: ${process.cwd()}\n`;
  const file = await configFile(ports, `127.0.0.1:${await freePort()}`, stdioServer);
  const up = cli('up', '--config', file);
  const out = await up.waitFor(/mcp-gateway is up[\s\S]*Envoy pid \d+/);
  const client = new Client({ name: 'process-death', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(/local\s+(http:\S+)/.exec(out)![1]!)));
  const pid = Number((await client.callTool({ name: 'whoami', arguments: {} }) as { content: { text: string }[] }).content[0]!.text);
  assert.ok((await childrenOf(up.child.pid!)).includes(pid), 'the program is a direct child of `up` (setpriv and the guard exec into it)');
  up.child.kill('SIGKILL');
  await up.exited;
  const deadline = Date.now() + 5000;
  while (!(await processGone(pid))) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      assert.fail(`the stdio program (pid ${pid}) outlived its gateway by 5s`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
});
