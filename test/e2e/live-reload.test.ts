// Live reload: a changed config is put in force in the running sidecar and Envoy without
// dropping what is open. An SSE stream that began under the old config runs to its end;
// new requests (on the same session too) follow the new one; servers come and go; a
// config that cannot be applied (won't compile, Envoy refuses it, needs a restart) leaves
// the running one in force. Then the same through the CLI: file watch and SIGHUP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { startUpstream, everythingServerFactory, type RunningUpstream } from '../../examples/upstream.js';
import { createPolicyTestServer } from '../fixtures/policy-server.js';
import { startGateway, freePort, type RunningGateway } from '../support/gateway.js';
import { parseConfig } from '../../src/config/load.js';
import { RestartNeededError } from '../../src/config/restart-needed.js';
import type { GatewayConfig } from '../../src/config/types.js';

const CLI = ['--import', 'tsx', 'src/cli.ts'];
let slowUpstream: RunningUpstream;
let everything: RunningUpstream;
let dir: string;
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  slowUpstream = await startUpstream({ createServer: () => createPolicyTestServer() });
  everything = await startUpstream({ createServer: await everythingServerFactory() });
  dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-reload-'));
});
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await slowUpstream?.close();
  await everything?.close();
});

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'live-reload', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  cleanups.push(() => client.close());
  return client;
}

const names = async (c: Client) => (await c.listTools()).tools.map((t) => t.name).sort();

const hostPort = (a: { host: string; port: number }) => `${a.host}:${a.port}`;

/** A config on the running gateway's addresses (what `raw` does not set itself). */
function variant(gw: RunningGateway, raw: Record<string, unknown>): GatewayConfig {
  const g = gw.config;
  const sidecar = g.sidecar.listen.kind === 'tcp' ? hostPort(g.sidecar.listen) : `unix:${g.sidecar.listen.path}`;
  const full = { gateway: { listen: hostPort(g.gateway.listen), admin: hostPort(g.gateway.adminListen) }, sidecar: { listen: sidecar }, log: { level: g.log.level }, audit: { sink: 'stdout' }, ...raw };
  return parseConfig(stringify(full), '<reloaded config>');
}

test('reload: an open SSE stream runs to its end; the same session and new ones follow the new config; servers are added and removed', async () => {
  const base = { servers: [{ name: 'tools', url: slowUpstream.url, tools: { allow: ['echo', 'get-report-slow'] } }] };
  const gw = await startGateway({ config: { ...base, audit: { sink: 'stdout' } } });
  cleanups.push(() => gw.stop());
  const alice = await connect(gw.url('tools'));
  assert.deepEqual(await names(alice), ['echo', 'get-report-slow']);

  let progress = 0;
  const slow = alice.callTool({ name: 'get-report-slow', arguments: { steps: 6 } }, undefined, { onprogress: () => void progress++, timeout: 30_000 });
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(progress < 6, 'the stream is still open when the config changes');

  // echo is no longer curated in; a second server appears.
  await gw.launched.reload(
    variant(gw, {
      servers: [
        { name: 'tools', url: slowUpstream.url, tools: { allow: ['get-report-slow'] } },
        { name: 'more', url: everything.url, tools: { allow: ['echo', 'get-sum'] } },
      ],
    }),
  );
  assert.deepEqual(await names(alice), ['get-report-slow'], 'the open session lists under the new config');
  await assert.rejects(alice.callTool({ name: 'echo', arguments: { message: 'after' } }), (e: unknown) => e instanceof McpError && e.code === -32602);
  const refused = await gw.waitForAudit((e) => e.target?.name === 'echo' && e.decision === 'deny');
  assert.equal(refused.server, 'tools');

  const bob = await connect(gw.url('more'));
  assert.deepEqual(await names(bob), ['echo', 'get-sum'], 'the added server is routed and curated');
  const sum = await bob.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
  assert.match(JSON.stringify(sum.content), /5/);

  const res = await slow;
  assert.deepEqual(JSON.parse((res.content as { text: string }[])[0]!.text), { done: 6 });
  assert.equal(progress, 6, 'every progress event of the stream opened before the reload arrived');
  const slowEvent = await gw.waitForAudit((e) => e.target?.name === 'get-report-slow' && e.decision === 'allow' && e.upstream_status === 200);
  assert.equal(slowEvent.server, 'tools');

  // Back to one server: the removed one's path is no longer routed.
  const moreUrl = gw.url('more');
  await gw.launched.reload(variant(gw, base));
  assert.throws(() => gw.url('more'), /no server "more"/);
  const gone = await fetch(moreUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
  assert.equal(gone.status, 404);
  assert.deepEqual(await names(alice), ['echo', 'get-report-slow'], 'echo is back for the session opened two configs ago');
  const clusters = await (await fetch(`${gw.launched.envoy.adminUrl}/clusters`)).text();
  assert.doesNotMatch(clusters, /^mcp_upstream_more::/m, "the removed server's cluster is gone from Envoy");
});

test('reload refused: a config that does not compile, one Envoy rejects, and one that needs a restart leave the running config in force', async () => {
  const base = { servers: [{ name: 'tools', url: slowUpstream.url, tools: { allow: ['echo'] } }] };
  const gw = await startGateway({ config: { ...base, audit: { sink: 'stdout' } } });
  cleanups.push(() => gw.stop());
  const client = await connect(gw.url('tools'));
  const stillServing = async () => {
    assert.deepEqual(await names(client), ['echo']);
    const r = await client.callTool({ name: 'echo', arguments: { message: 'still here' } });
    assert.match(JSON.stringify(r.content), /still here/);
    assert.equal(gw.launched.sidecar.config, gw.config, 'the running config is the one in force');
  };

  // The sidecar cannot compile it: a policy bundle that does not exist.
  await assert.rejects(async () => gw.launched.reload(variant(gw, { servers: [{ ...base.servers[0], policy: { bundle: join(dir, 'missing.tar.gz') } }] })));
  await stillServing();

  // Envoy refuses it (a CA file that does not exist); the sidecar, already swapped, is rolled back.
  const https = { servers: [{ name: 'tools', url: slowUpstream.url.replace('http:', 'https:'), tls: { ca_file: join(dir, 'no-such-ca.pem') }, tools: { allow: ['echo'] } }, { name: 'extra', url: everything.url }] };
  await assert.rejects(gw.launched.reload(variant(gw, https)), /Envoy rejected the new clusters/);
  await stillServing();
  assert.throws(() => gw.url('extra'));

  // Envoy's listener or the sidecar's own listeners would change: a restart is needed, and the message says what.
  for (const [raw, what] of [
    [{ ...base, gateway: { listen: `127.0.0.1:${await freePort()}`, admin: hostPort(gw.config.gateway.adminListen) } }, /listener/],
    [{ ...base, sidecar: { listen: `127.0.0.1:${await freePort()}` } }, /sidecar\.listen/],
    [{ ...base, audit: { sink: 'file', file: join(dir, 'audit.jsonl') } }, /audit\.sink/],
  ] as const) {
    await assert.rejects(gw.launched.reload(variant(gw, raw)), (e: unknown) => e instanceof RestartNeededError && what.test(e.message) && /restart/.test(e.message));
    await stillServing();
  }

  // After all that, a good change still applies.
  await gw.launched.reload(variant(gw, { servers: [{ name: 'tools', url: slowUpstream.url, tools: { allow: ['echo', 'get-balance'] } }] }));
  assert.deepEqual(await names(client), ['echo', 'get-balance']);
});

test('`up` applies a changed config file, keeps serving on an invalid one, and reloads on SIGHUP', async () => {
  const at = { listen: `127.0.0.1:${await freePort()}`, admin: `127.0.0.1:${await freePort()}`, sidecar: `127.0.0.1:${await freePort()}` };
  const file = join(dir, 'gateway.yaml');
  const write = async (servers: unknown[], extra = '') => {
    const tmp = `${file}.tmp`;
    await writeFile(tmp, stringify({ gateway: { listen: at.listen, admin: at.admin }, sidecar: { listen: at.sidecar }, servers }) + extra);
    await rename(tmp, file); // how editors and ConfigMap updates replace a file
  };
  await write([{ name: 'tools', url: slowUpstream.url, tools: { allow: ['echo'] } }]);
  const child = spawn(process.execPath, [...CLI, 'up', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const until = async (what: RegExp, from: number) => {
    const deadline = Date.now() + 20_000;
    while (!what.test(stderr.slice(from))) {
      assert.ok(Date.now() < deadline, `no ${what} in:\n${stderr.slice(from)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await until(/mcp-gateway is up/, 0);
  const base = `http://${at.listen}/mcp`;
  const client = await connect(`${base}/tools`);
  assert.deepEqual(await names(client), ['echo']);

  let mark = stderr.length;
  await write([
    { name: 'tools', url: slowUpstream.url, tools: { allow: ['echo', 'run-sql'] } },
    { name: 'more', url: everything.url, tools: { allow: ['get-sum'] } },
  ]);
  await until(/config applied/, mark);
  assert.deepEqual(await names(client), ['echo', 'run-sql']);
  assert.deepEqual(await names(await connect(`${base}/more`)), ['get-sum']);

  mark = stderr.length;
  await write([{ name: 'tools', url: 'not a url' }]);
  await until(/config not applied/, mark);
  assert.match(stderr.slice(mark), /servers\[0\]\.url/, 'the log says what is wrong, where');
  assert.deepEqual(await names(client), ['echo', 'run-sql'], 'the running config stays in force');

  // SIGHUP reads the file again (e.g. after a change the watcher could not see).
  await write([{ name: 'tools', url: slowUpstream.url, tools: { allow: ['get-balance'] } }]);
  mark = stderr.length;
  child.kill('SIGHUP');
  await until(/"why":"SIGHUP".*config applied/, mark);
  assert.deepEqual(await names(client), ['get-balance']);

  const exited = new Promise<number | null>((r) => child.once('exit', r));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
});

test('reload keeps the in-process rate windows: a quota used up before a reload stays used up after it', async () => {
  const limits = { rate_limits: [{ name: 'echo-quota', match: { tools: ['echo'] }, requests_per_unit: 3, unit: 'minute' }] };
  const gw = await startGateway({ config: { servers: [{ name: 'tools', url: slowUpstream.url, tools: { allow: ['echo'] } }], audit: { sink: 'stdout' }, ...limits } });
  cleanups.push(() => gw.stop());
  const client = await connect(gw.url('tools'));
  for (let i = 0; i < 3; i++) await client.callTool({ name: 'echo', arguments: { message: `m${i}` } });
  await gw.launched.reload(variant(gw, { servers: [{ name: 'tools', url: slowUpstream.url, tools: { allow: ['echo', 'get-balance'] } }], ...limits }));
  assert.deepEqual(await names(client), ['echo', 'get-balance'], 'the new config is in force');
  // HTTP 429 with the JSON-RPC error: the SDK reports it as a StreamableHTTPError carrying the body.
  await assert.rejects(client.callTool({ name: 'echo', arguments: { message: 'fourth' } }), /-32029.*rate_limited|rate_limited.*-32029/s);
});
