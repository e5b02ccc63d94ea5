// Approval gates end to end: the SDK client through the real Envoy and sidecar, a real
// upstream, the approval page in a real headless Chromium (Debian's, driven by
// playwright-core), a policy bundle compiled by the real OPA CLI, a webhook receiver.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, UrlElicitationRequiredError } from '@modelcontextprotocol/sdk/types.js';
import { startUpstream, type RunningUpstream } from '../../examples/upstream.js';
import { createLimitsTestServer } from '../fixtures/limits-server.js';
import { startGateway, freePort, type RunningGateway } from '../support/gateway.js';
import { opaBuild } from '../../src/policy/opa-cli.js';

const KEYS = { alice: 'alice-key-0123456789abcdef', bob: 'bob-key-0123456789abcdef', carol: 'carol-key-0123456789abcdef' };
const sha = (k: string) => createHash('sha256').update(k).digest('hex');
let upstream: RunningUpstream;
let gw: RunningGateway;
let browser: Browser;
let hooks: Server;
const webhooks: Record<string, unknown>[] = [];

async function connect(server: string, key: string, opts: { urlElicitation?: boolean } = {}): Promise<Client> {
  const client = new Client({ name: 'approvals-e2e', version: '1' }, { capabilities: opts.urlElicitation === false ? {} : { elicitation: { url: {} } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.url(server)), { requestInit: { headers: { 'x-api-key': key } } }));
  return client;
}

const upstreamCalls = (tool: string, args: Record<string, unknown>) =>
  upstream.received.filter((r) => (r.body as any)?.method === 'tools/call' && (r.body as any)?.params?.name === tool && JSON.stringify((r.body as any).params.arguments) === JSON.stringify(args)).length;

/** The call's approval URL, from the -32042 the client gets. */
async function pending(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const err = await client.callTool({ name, arguments: args }).then(
    () => assert.fail(`${name} passed without approval`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof UrlElicitationRequiredError, `expected -32042, got ${String(err)}`);
  const [e] = err.elicitations;
  assert.equal(e?.mode, 'url');
  assert.match(e!.url, /\/approvals\/[A-Za-z0-9_-]{22}$/);
  assert.equal(e!.elicitationId, e!.url.split('/').pop());
  return e!.url;
}

async function signIn(page: Page, url: string, key: string): Promise<void> {
  await page.goto(url);
  await page.fill('input[name=credential]', key);
  await Promise.all([page.waitForURL(url), page.click('button:has-text("Sign in")')]);
}

async function decide(url: string, who: string, decision: 'Approve' | 'Deny', comment?: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, url, who);
  if (comment) await page.fill('textarea[name=comment]', comment);
  await Promise.all([page.waitForURL(url), page.click(`button:has-text("${decision}")`)]);
  return page;
}

before(async () => {
  const bin = process.env.CHROMIUM_BIN;
  if (!bin) throw new Error('CHROMIUM_BIN is not set: run scripts/bootstrap.sh and source .tools/paths.env');
  browser = await chromium.launch({ executablePath: bin, headless: true });
  hooks = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => (webhooks.push(JSON.parse(body)), res.writeHead(204).end()));
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
  const dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-approvals-'));
  const bundle = join(dir, 'bundle.tar.gz');
  await opaBuild('test/fixtures/approvals-policy', bundle);
  upstream = await startUpstream({ createServer: createLimitsTestServer });
  const port = await freePort();
  gw = await startGateway({
    config: {
      auth: {
        api_keys: {
          keys: [
            { sha256: sha(KEYS.alice), subject: 'alice', groups: ['dev'] },
            { sha256: sha(KEYS.bob), subject: 'bob', groups: ['dev'] },
            { sha256: sha(KEYS.carol), subject: 'carol', groups: ['finance'] },
          ],
        },
      },
      telemetry: { listen: `127.0.0.1:${await freePort()}` },
      approvals: { listen: `127.0.0.1:${port}`, ttl_s: 120, webhook: { url: `http://127.0.0.1:${(hooks.address() as { port: number }).port}/hook`, timeout_ms: 1000 } },
      servers: [
        {
          name: 'pay',
          url: upstream.url,
          approvals: [
            { tools: ['echo'], approvers: ['group:finance'], reason: 'echo moves <money>' },
            { tools: ['report'], approvers: ['group:finance'], ttl_s: 2 },
          ],
        },
        { name: 'pol', url: upstream.url, policy: { bundle } },
      ],
    },
  });
});

after(async () => {
  await browser?.close();
  await gw?.stop();
  await upstream?.close();
  hooks?.close();
});

describe('a call that needs approval', () => {
  test('request → pending (same id on retry) → approved in the page → the retry passes once', async () => {
    const alice = await connect('pay', KEYS.alice);
    const args = { message: 'pay acme 900' };
    const url = await pending(alice, 'echo', args);
    assert.equal(await pending(alice, 'echo', args), url, 'a retry while pending: the same request');
    assert.equal(upstreamCalls('echo', args), 0, 'nothing went upstream');
    const requested = await gw.waitForAudit((e) => e.type === 'approval.requested' && e.approval?.url === url);
    assert.equal(requested.identity?.subject, 'alice');
    assert.deepEqual(requested.arguments, args);
    const held = await gw.waitForAudit((e) => e.type === 'mcp.request' && e.reason === 'approval_pending' && e.approval?.url === url);
    assert.equal(held.decision, 'deny');
    const hook = webhooks.find((w) => w.url === url);
    assert.ok(hook, 'the webhook was told');
    assert.equal(hook.caller, 'alice');

    const anonymous = await browser.newPage();
    await anonymous.goto(url);
    assert.match((await anonymous.textContent('#status')) ?? '', /^pending/);
    assert.doesNotMatch(await anonymous.content(), /pay acme 900/, 'the URL alone shows no arguments');
    await anonymous.close();
    const page = await decide(url, KEYS.carol, 'Approve', 'fine <b>by me</b>');
    assert.match(await page.content(), /pay acme 900/, 'an approver sees the arguments');
    assert.match(await page.content(), /echo moves &lt;money&gt;/, 'and the reason, escaped');
    assert.match((await page.textContent('#status')) ?? '', /^approved/);
    assert.match((await page.content()) ?? '', /fine &lt;b&gt;by me&lt;\/b&gt;/, 'the comment is shown escaped');
    await page.context().close();
    await gw.waitForAudit((e) => e.type === 'approval.approved' && e.approval?.url === undefined && e.approval?.by === 'carol');

    const result = await alice.callTool({ name: 'echo', arguments: args });
    assert.equal(result.isError, undefined);
    assert.equal(upstreamCalls('echo', args), 1);
    await gw.waitForAudit((e) => e.type === 'approval.used' && e.approval?.by === 'carol');
    const next = await pending(alice, 'echo', args);
    assert.notEqual(next, url, 'used once: the next identical call needs a new approval');
    assert.equal(upstreamCalls('echo', args), 1);
    await alice.close();
  });

  test('an approval covers only its arguments: a replay with others is held back', async () => {
    const alice = await connect('pay', KEYS.alice);
    const url = await pending(alice, 'echo', { message: 'a' });
    await (await decide(url, KEYS.carol, 'Approve')).context().close();
    const other = await pending(alice, 'echo', { message: 'b' });
    assert.notEqual(other, url);
    assert.equal(upstreamCalls('echo', { message: 'b' }), 0);
    await alice.callTool({ name: 'echo', arguments: { message: 'a' } });
    assert.equal(upstreamCalls('echo', { message: 'a' }), 1);
    // Another caller with the approved arguments: another digest.
    const bob = await connect('pay', KEYS.bob);
    await pending(bob, 'echo', { message: 'a' });
    await alice.close();
    await bob.close();
  });

  test('denied in the page: the retry gets a final error with the reason; the call may then ask again', async () => {
    const alice = await connect('pay', KEYS.alice);
    const args = { message: 'deny me' };
    const url = await pending(alice, 'echo', args);
    await (await decide(url, KEYS.carol, 'Deny', 'not this quarter')).context().close();
    await assert.rejects(alice.callTool({ name: 'echo', arguments: args }), (e: unknown) => e instanceof McpError && e.code === -32003 && /denied by carol: not this quarter/.test(e.message) && (e.data as any)?.reason === 'approval_denied');
    await gw.waitForAudit((e) => e.type === 'approval.denied' && e.approval?.comment === 'not this quarter');
    assert.equal(upstreamCalls('echo', args), 0);
    assert.notEqual(await pending(alice, 'echo', args), url);
    await alice.close();
  });

  test('expired before anyone decided: a final error, and the page says so', async () => {
    const alice = await connect('pay', KEYS.alice);
    const url = await pending(alice, 'report', {});
    await new Promise((r) => setTimeout(r, 2300));
    await assert.rejects(alice.callTool({ name: 'report', arguments: {} }), (e: unknown) => e instanceof McpError && e.code === -32003 && (e.data as any)?.reason === 'approval_expired');
    await gw.waitForAudit((e) => e.type === 'approval.expired');
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url);
    assert.equal(await page.textContent('#status'), 'expired');
    assert.equal(await page.locator('input[name=credential]').count(), 0, 'nothing left to decide');
    await context.close();
    await alice.close();
  });

  test('a wrong approver and the caller themself cannot decide: no form, and a forced POST gets 403 (audited)', async () => {
    const alice = await connect('pay', KEYS.alice);
    const url = await pending(alice, 'echo', { message: 'wrong approver' });
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, url, KEYS.bob);
    assert.match((await page.textContent('.notice')) ?? '', /not one of the approvers/);
    assert.equal(await page.locator('button:has-text("Approve")').count(), 0);
    assert.doesNotMatch(await page.content(), /wrong approver/, 'nor the arguments');
    const csrf = await page.getAttribute('input[name=csrf]', 'value');
    const forced = await page.request.post(`${url}/decide`, { form: { csrf: csrf!, decision: 'approve' }, headers: { origin: new URL(url).origin }, maxRedirects: 0 });
    assert.equal(forced.status(), 403);
    await gw.waitForAudit((e) => e.type === 'approval.forbidden' && e.approval?.by === 'bob');
    // Without the CSRF token (another site's form), even a named approver is refused.
    await context.clearCookies();
    await signIn(page, url, KEYS.carol);
    const noCsrf = await page.request.post(`${url}/decide`, { form: { decision: 'approve' }, maxRedirects: 0 });
    assert.equal(noCsrf.status(), 403);
    await context.close();
    const self = await browser.newContext();
    const selfPage = await self.newPage();
    await signIn(selfPage, url, KEYS.alice);
    assert.match((await selfPage.textContent('.notice')) ?? '', /someone else must approve/);
    await self.close();
    await assert.rejects(alice.callTool({ name: 'echo', arguments: { message: 'wrong approver' } }), UrlElicitationRequiredError, 'still pending');
    await alice.close();
  });

  test('a bad sign-in is refused on the page', async () => {
    const alice = await connect('pay', KEYS.alice);
    const url = await pending(alice, 'echo', { message: 'bad sign-in' });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url);
    await page.fill('input[name=credential]', 'not-a-key');
    await page.click('button:has-text("Sign in")');
    assert.match((await page.textContent('.notice')) ?? '', /Sign-in failed/);
    await context.close();
    await alice.close();
  });
});

describe('clients that cannot open a URL elicitation, and 2026-07-28', () => {
  test('a 2025-11-25 client without elicitation.url gets -32003 approval_pending with the URL in data', async () => {
    const client = await connect('pay', KEYS.alice, { urlElicitation: false });
    await assert.rejects(client.callTool({ name: 'echo', arguments: { message: 'no url mode' } }), (e: unknown) => {
      assert.ok(e instanceof McpError && !(e instanceof UrlElicitationRequiredError));
      assert.equal(e.code, -32003);
      const data = e.data as { reason: string; approval_url: string };
      assert.equal(data.reason, 'approval_pending');
      assert.match(data.approval_url, /\/approvals\/[A-Za-z0-9_-]{22}$/);
      return true;
    });
    await client.close();
  });

  test('a 2026-07-28 request declaring elicitation.url gets an InputRequiredResult with a URL-mode input request', async () => {
    const send = (capabilities: Record<string, unknown>, inputResponses?: Record<string, unknown>) =>
      fetch(gw.url('pay'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-api-key': KEYS.alice, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { message: 'stateless' }, ...(inputResponses && { inputResponses }), _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': capabilities } } }),
      });
    const res = await send({ elicitation: { url: {} } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as any;
    assert.equal(body.id, 7);
    assert.equal(body.result.resultType, 'input_required');
    const req = body.result.inputRequests['io.mcp-gateway/approval'];
    assert.equal(req.method, 'elicitation/create');
    assert.equal(req.params.mode, 'url');
    assert.match(req.params.url, /\/approvals\/[A-Za-z0-9_-]{22}$/);
    assert.equal(body.result.requestState, undefined, 'no requestState: the retry is matched by its digest');
    const formOnly = (await (await send({ elicitation: {} })).json()) as any;
    assert.equal(formOnly.error.code, -32003, 'an empty elicitation capability is form mode only');
    assert.equal(formOnly.error.data.approval_url, req.params.url, 'the same call: the same request');
    const declined = (await (await send({ elicitation: { url: {} } }, { [`io.mcp-gateway/approval`]: { action: 'decline' } })).json()) as any;
    assert.equal(declined.error.code, -32003, 'a retry that declined the URL ends the round trips');
    assert.equal(declined.error.data.reason, 'approval_pending');
  });

  test('a policy decision can require approval (here: subject:carol, for a big search)', async () => {
    const alice = await connect('pol', KEYS.alice);
    await alice.callTool({ name: 'search', arguments: { q: 'small' } });
    const url = await pending(alice, 'search', { q: 'big one' });
    const requested = await gw.waitForAudit((e) => e.type === 'approval.requested' && e.approval?.url === url);
    assert.equal(requested.approval?.reason, 'a big search');
    await (await decide(url, KEYS.carol, 'Approve')).context().close();
    await alice.callTool({ name: 'search', arguments: { q: 'big one' } });
    assert.equal(upstreamCalls('search', { q: 'big one' }), 1);
    await alice.close();
  });

  test('the approvals are counted: mcp_gateway_approvals_total{outcome}', async () => {
    const text = await gw.launched.sidecar.metrics.text();
    for (const outcome of ['requested', 'approved', 'denied', 'used', 'expired', 'forbidden']) {
      assert.match(text, new RegExp(`mcp_gateway_approvals_total\\{server="pay",outcome="${outcome}"\\} [1-9]`), outcome);
    }
  });
});
