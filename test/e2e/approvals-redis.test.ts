// Approvals shared by two replicas (approvals.store: redis, one sessions key): a call held
// back at one replica is approved in the page of the other and passes at either, once —
// two concurrent retries at the two replicas get exactly one pass. And a replica with two
// ext_proc workers (sidecar.workers: 2): each worker holds calls back on the same store,
// worker 0 serves the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UrlElicitationRequiredError } from '@modelcontextprotocol/sdk/types.js';
import { startUpstream, type RunningUpstream } from '../../examples/upstream.js';
import { createLimitsTestServer } from '../fixtures/limits-server.js';
import { startGateway, freePort, type RunningGateway } from '../support/gateway.js';
import { startRedis, type RunningRedis } from '../support/limit-services.js';

const ALICE = 'alice-key-0123456789abcdef';
const CAROL = 'carol-key-0123456789abcdef';
const sha = (k: string) => createHash('sha256').update(k).digest('hex');
let redis: RunningRedis;
let upstream: RunningUpstream;
let a: RunningGateway;
let b: RunningGateway;
let w: RunningGateway;
let browser: Browser;

async function connect(gw: RunningGateway): Promise<Client> {
  const client = new Client({ name: 'approvals-redis-e2e', version: '1' }, { capabilities: { elicitation: { url: {} } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.url('pay')), { requestInit: { headers: { 'x-api-key': ALICE } } }));
  return client;
}

async function approvalUrl(client: Client, args: Record<string, unknown>): Promise<string> {
  const err = await client.callTool({ name: 'echo', arguments: args }).then(() => assert.fail('passed without approval'), (e: unknown) => e);
  assert.ok(err instanceof UrlElicitationRequiredError, String(err));
  return err.elicitations[0]!.url;
}

async function approve(url: string): Promise<void> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(url);
  await page.fill('input[name=credential]', CAROL);
  await Promise.all([page.waitForURL(url), page.click('button:has-text("Sign in")')]);
  await Promise.all([page.waitForURL(url), page.click('button:has-text("Approve")')]);
  assert.match((await page.textContent('#status')) ?? '', /^approved/);
  await context.close();
}

before(async () => {
  if (!process.env.CHROMIUM_BIN) throw new Error('CHROMIUM_BIN is not set: run scripts/bootstrap.sh and source .tools/paths.env');
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_BIN, headless: true });
  redis = await startRedis();
  upstream = await startUpstream({ createServer: createLimitsTestServer });
  const dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-approvals-redis-'));
  await writeFile(join(dir, 'sessions.key'), 'k'.repeat(48));
  const pagePorts = [await freePort(), await freePort(), await freePort()];
  const config = (i: number, publicPort = pagePorts[0]) => ({
    auth: { api_keys: { keys: [{ sha256: sha(ALICE), subject: 'alice', groups: ['dev'] }, { sha256: sha(CAROL), subject: 'carol', groups: ['finance'] }] } },
    sessions: { key_file: join(dir, 'sessions.key') },
    // Both replicas hand out replica A's page (what a load balancer in front of both would be).
    approvals: { listen: `127.0.0.1:${pagePorts[i]}`, public_url: `http://127.0.0.1:${publicPort}`, store: { kind: 'redis', url: redis.url, timeout_ms: 2000 } },
    servers: [{ name: 'pay', url: upstream.url, approvals: [{ tools: ['echo'], approvers: ['group:finance'] }] }],
  });
  a = await startGateway({ config: config(0) });
  b = await startGateway({ config: config(1) });
  w = await startGateway({ config: { ...config(2, pagePorts[2]), sidecar: { workers: 2 } } });
});

after(async () => {
  await browser?.close();
  await a?.stop();
  await b?.stop();
  await w?.stop();
  await upstream?.close();
  await redis?.stop();
});

const passed = (args: Record<string, unknown>) => upstream.received.filter((r) => (r.body as any)?.params?.name === 'echo' && JSON.stringify((r.body as any).params.arguments) === JSON.stringify(args)).length;

test('held back at replica B, approved in replica A\'s page, passes at B', async () => {
  const atB = await connect(b);
  const url = await approvalUrl(atB, { message: 'one' });
  assert.equal(await approvalUrl(atB, { message: 'one' }), url);
  await approve(url);
  await atB.callTool({ name: 'echo', arguments: { message: 'one' } });
  assert.equal(passed({ message: 'one' }), 1);
  await b.waitForAudit((e) => e.type === 'approval.used');
  await atB.close();
});

test('one approval, two concurrent retries at two replicas: exactly one passes', async () => {
  const atA = await connect(a);
  const atB = await connect(b);
  const args = { message: 'race' };
  const url = await approvalUrl(atA, args);
  assert.equal(await approvalUrl(atB, args), url, 'the same caller and call at the other replica: the same request');
  await approve(url);
  const outcomes = await Promise.allSettled([atA.callTool({ name: 'echo', arguments: args }), atB.callTool({ name: 'echo', arguments: args })]);
  assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1, JSON.stringify(outcomes.map((o) => o.status)));
  const loser = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
  assert.ok(loser.reason instanceof UrlElicitationRequiredError, 'the other asks anew');
  assert.notEqual(loser.reason.elicitations[0]?.url, url);
  assert.equal(passed(args), 1);
  await atA.close();
  await atB.close();
});

test('two ext_proc workers: one request whichever worker holds the call, approved in worker 0\'s page, one of two concurrent retries passes', async () => {
  // Worker 0 serves the page and the sidecar says where; no other worker took the port.
  assert.equal(w.launched.sidecar.approvalsUrl, w.config.approvals!.publicUrl);
  const clients = [await connect(w), await connect(w)];
  const args = { message: 'workers' };
  // Envoy spreads ext_proc streams over both workers: the retries reach both, and all find the one request.
  const url = await approvalUrl(clients[0]!, args);
  for (const c of [...clients, ...clients]) assert.equal(await approvalUrl(c, args), url);
  assert.equal(w.audit.events.filter((e) => e.type === 'approval.requested').length, 1);
  await approve(url);
  const outcomes = await Promise.allSettled(clients.map((c) => c.callTool({ name: 'echo', arguments: args })));
  assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1, JSON.stringify(outcomes.map((o) => o.status)));
  assert.equal(passed(args), 1);
  await w.waitForAudit((e) => e.type === 'approval.used');
  for (const c of clients) await c.close();
});
