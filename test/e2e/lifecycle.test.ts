// The gateway as an operator runs it: the CLI, Envoy's own validation of the
// generated config, SIGTERM without losing audit events, and failing closed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startUpstream, everythingServerFactory, type RunningUpstream } from '../../examples/upstream.js';
import { startGateway, freePort } from '../support/gateway.js';
import { findEnvoy } from '../../src/envoy/binary.js';
import { writeCliConfig } from '../support/cli-config.js';

const run = promisify(execFile);
const CLI = ['--import', 'tsx', 'src/cli.ts'];
let upstream: RunningUpstream;
let dir: string;

before(async () => {
  upstream = await startUpstream({ createServer: await everythingServerFactory() });
  dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-lifecycle-'));
});
after(async () => upstream?.close());

async function configFile(extra = ''): Promise<string> {
  return writeCliConfig(dir, upstream.url, { listen: `127.0.0.1:${await freePort()}`, admin: `127.0.0.1:${await freePort()}`, sidecar: `127.0.0.1:${await freePort()}` }, extra);
}

test('validate reports every error with its line, column and key path', async () => {
  const file = join(dir, 'bad.yaml');
  await writeFile(
    file,
    `gateway:
  listen: nowhere
servers:
  - name: Bad Name
    url: not-a-url
    tools:
      allow: [""]
      alow: ["x"]
  - name: ok
    url: http://127.0.0.1:1/mcp
audit:
  sink: file
`,
  );
  const err = await run(process.execPath, [...CLI, 'validate', '--config', file]).then(
    () => assert.fail('validate accepted a bad config'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(err.code, 1);
  const expected = [
    `${file}:2:11 gateway.listen: expected host:port`,
    `${file}:4:11 servers[0].name: a server name is`,
    `${file}:5:10 servers[0].url: expected an absolute http(s) URL`,
    `${file}:7:15 servers[0].tools.allow[0]: a pattern cannot be empty`,
    `${file}:8:7 servers[0].tools.alow: unknown key "alow"`,
  ];
  for (const line of expected) assert.ok(err.stderr.includes(line), `missing "${line}" in:\n${err.stderr}`);
});

test('validate accepts the example config', async () => {
  const { stdout } = await run(process.execPath, [...CLI, 'validate', '--config', 'examples/gateway.yaml']);
  assert.match(stdout, /OK — 1 server\(s\): everything/);
});

test('the generated Envoy bootstrap passes envoy --mode validate', async () => {
  const file = await configFile();
  const out = join(dir, 'envoy.yaml');
  await run(process.execPath, [...CLI, 'envoy-config', '--config', file, '--output', out]);
  const yaml = await readFile(out, 'utf8');
  assert.match(yaml, /failure_mode_allow: false/);
  assert.match(yaml, /timeout: 0s/);
  const { stdout } = await run(findEnvoy(), ['--mode', 'validate', '-c', out]);
  assert.match(stdout, /OK/);
});

test('`up` serves, and SIGTERM stops Envoy and the sidecar without losing an audit event', async () => {
  const auditFile = join(dir, 'audit.jsonl');
  const file = await configFile(`audit:\n  file: ${auditFile}\n`);
  const child = spawn(process.execPath, [...CLI, 'up', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  while (!/mcp-gateway is up/.test(stderr)) {
    assert.ok(Date.now() < deadline, `gateway did not come up:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /everything\s+(http:\S+)/.exec(stderr)![1]!;
  const client = new Client({ name: 'lifecycle', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  const calls = 20;
  for (let i = 0; i < calls; i++) await client.callTool({ name: 'echo', arguments: { message: `m${i}` } });
  await client.close();
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  const events = (await readFile(auditFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const echoes = events.filter((e) => e.rpc?.method === 'tools/call' && e.target?.name === 'echo');
  assert.equal(echoes.length, calls, 'one audit event per call, all flushed before exit');
  for (const e of echoes) {
    assert.equal(e.log, 'audit');
    assert.equal(e.decision, 'allow');
    assert.equal(e.upstream_status, 200);
    assert.equal(typeof e.time, 'string');
    assert.equal(typeof e.latency_ms, 'number');
  }
});

test('the sidecar can listen on a Unix domain socket', async () => {
  const sock = join(dir, 'sidecar.sock');
  const gw = await startGateway({ config: { sidecar: { listen: `unix:${sock}` }, servers: [{ name: 'everything', url: upstream.url, tools: { allow: ['echo'] } }] } });
  try {
    const client = new Client({ name: 'uds', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.url('everything'))));
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ['echo']);
    await client.close();
  } finally {
    await gw.stop();
  }
});

test('fail closed: with the sidecar down, Envoy denies and the upstream sees nothing', async () => {
  const gw = await startGateway({ config: { servers: [{ name: 'everything', url: upstream.url }] } });
  try {
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };
    const post = () =>
      fetch(gw.url('everything'), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(init) });
    assert.equal((await post()).status, 200);
    await gw.launched.sidecar.stop(0);
    const seen = upstream.received.length;
    const res = await post();
    assert.ok(res.status >= 500, `expected a 5xx, got ${res.status}`);
    assert.equal(upstream.received.length, seen, 'nothing reached the upstream');
  } finally {
    await gw.stop();
  }
});
