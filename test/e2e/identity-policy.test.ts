// Callers and policies end to end: JWT (JWKS file) and API-key callers through the
// real Envoy and sidecar, the example Rego policy compiled by the real OPA CLI,
// dry-run, hot reload under an open stream, and Envoy's own jwt_authn.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile, rename, mkdir, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, exportJWK, SignJWT, type CryptoKey, type KeyObject } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { startUpstream, type RunningUpstream } from '../../examples/upstream.js';
import { createPolicyTestServer } from '../fixtures/policy-server.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { opaBuild } from '../../src/policy/opa-cli.js';

const ISSUER = 'https://idp.test';
const AUDIENCE = 'https://gateway.test/mcp';
const API_KEY = 'ci-secret-key-0123456789';
let privateKey: CryptoKey | KeyObject;
let publicPem: string;
let dir: string;
let bundle: string;
let upstream: RunningUpstream;
let gw: RunningGateway;

async function token(claims: Record<string, unknown>, opts: { exp?: string | number; aud?: string; nbf?: number } = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(ISSUER).setAudience(opts.aud ?? AUDIENCE).setIssuedAt().setExpirationTime(opts.exp ?? '5m');
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  return jwt.sign(privateKey);
}

async function connect(url: string, headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'policy-e2e', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const calls = (tool: string) => upstream.received.filter((r) => (r.body as any)?.method === 'tools/call' && (r.body as any)?.params?.name === tool);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-policy-'));
  const pair = await generateKeyPair('RS256', { extractable: true });
  privateKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  const { createPublicKey } = await import('node:crypto');
  publicPem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
  bundle = join(dir, 'bundle.tar.gz');
  await opaBuild('policies', bundle);
  upstream = await startUpstream({ createServer: createPolicyTestServer });
  gw = await startGateway({
    config: {
      auth: {
        jwt: { issuer: ISSUER, audiences: [AUDIENCE], jwks_file: join(dir, 'jwks.json') },
        api_keys: { keys: [{ sha256: createHash('sha256').update(API_KEY).digest('hex'), subject: 'ci-bot', groups: ['analyst'] }] },
      },
      policy: { bundle, reload_interval_ms: 200 },
      servers: [
        { name: 'tools', url: upstream.url },
        { name: 'tools-dry', url: upstream.url, policy: { dry_run: true } },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  await upstream?.close();
});

describe('callers see and call what the policy lets them', () => {
  test('two callers with different tokens see different tools/list results from the same server', async () => {
    const alice = await connect(gw.url('tools'), bearer(await token({ sub: 'alice', groups: ['admin'] })));
    const bob = await connect(gw.url('tools'), bearer(await token({ sub: 'bob', groups: ['finance'] })));
    const a = (await alice.listTools()).tools.map((t) => t.name).sort();
    const b = (await bob.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(a, ['admin-reset', 'echo', 'get-balance', 'get-report-slow', 'make-payment', 'query-customers', 'read-file', 'run-sql']);
    assert.deepEqual(b, ['echo', 'get-balance', 'get-report-slow', 'make-payment']);
    await assert.rejects(bob.callTool({ name: 'admin-reset', arguments: {} }), (e: unknown) => e instanceof McpError && e.code === -32003);
    assert.equal(calls('admin-reset').length, 0, 'the refused call never reached the upstream');
    const ev = await gw.waitForAudit((e) => e.target?.name === 'admin-reset');
    assert.equal(ev.identity?.subject, 'bob');
    assert.equal(ev.reason, 'policy_denied');
    assert.match(ev.policy!.revision, /^[0-9a-f]{12}$/);
    assert.match(ev.policy!.decision_id, /^[0-9a-f-]{36}$/);
    assert.ok(ev.policy!.reasons.some((r) => /not available to bob/.test(r)));
    await alice.close();
    await bob.close();
  });

  test('policy.visibility_cache: callers of one group share remembered answers, other groups and a new caller class see their own', async () => {
    const cached = await startGateway({
      config: {
        auth: { jwt: { issuer: ISSUER, audiences: [AUDIENCE], jwks_file: join(dir, 'jwks.json') } },
        policy: { bundle, visibility_cache: { key: ['identity.groups'] } },
        servers: [{ name: 'tools', url: upstream.url }],
      },
    });
    try {
      const list = async (sub: string, groups: string[]) => {
        const c = await connect(cached.url('tools'), bearer(await token({ sub, groups })));
        const names = (await c.listTools()).tools.map((t) => t.name).sort();
        await c.close();
        return names;
      };
      const finance = ['echo', 'get-balance', 'get-report-slow', 'make-payment'];
      assert.deepEqual(await list('bob', ['finance']), finance);
      assert.deepEqual(await list('frank', ['finance']), finance, 'the same class, from the cache');
      assert.deepEqual(await list('alice', ['admin']), ['admin-reset', 'echo', 'get-balance', 'get-report-slow', 'make-payment', 'query-customers', 'read-file', 'run-sql']);
      assert.deepEqual(await list('nobody', []), ['echo']);
      assert.deepEqual(await list('bob', ['finance']), finance);
    } finally {
      await cached.stop();
    }
  });

  test('an argument-level rule refuses one call and lets a near-identical one pass', async () => {
    const carol = await connect(gw.url('tools'), bearer(await token({ sub: 'carol', groups: ['analyst'] })));
    const ok = await carol.callTool({ name: 'run-sql', arguments: { query: 'SELECT name FROM customers' } });
    assert.match(JSON.stringify(ok.content), /SELECT name FROM customers/);
    await assert.rejects(carol.callTool({ name: 'run-sql', arguments: { query: 'SELECT name FROM customers; DROP TABLE customers' } }), (e: unknown) => e instanceof McpError && e.code === -32003);
    assert.ok(!calls('run-sql').some((c) => /DROP/.test(JSON.stringify(c.body))), 'the DROP never reached the upstream');
    await carol.close();
  });

  test('an API-key caller is identified and governed the same way', async () => {
    const ci = await connect(gw.url('tools'), { 'x-api-key': API_KEY });
    const names = (await ci.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('run-sql') && !names.includes('admin-reset'));
    await ci.callTool({ name: 'echo', arguments: { message: 'from ci' } });
    const ev = await gw.waitForAudit((e) => e.identity?.subject === 'ci-bot' && e.target?.name === 'echo');
    assert.equal(ev.identity?.method, 'api_key');
    await ci.close();
  });

  test('the caller\'s credentials never reach the upstream', async () => {
    assert.ok(upstream.received.length > 0);
    for (const r of upstream.received) {
      assert.equal(r.headers.authorization, undefined);
      assert.equal(r.headers['x-api-key'], undefined);
    }
  });

  test('dry-run lets the call pass and audits "would deny"', async () => {
    const bob = await connect(gw.url('tools-dry'), bearer(await token({ sub: 'bob', groups: ['finance'] })));
    const before = calls('admin-reset').length;
    await bob.callTool({ name: 'admin-reset', arguments: {} });
    assert.equal(calls('admin-reset').length, before + 1, 'dry-run let it through');
    const ev = await gw.waitForAudit((e) => e.server === 'tools-dry' && e.target?.name === 'admin-reset');
    assert.equal(ev.decision, 'allow');
    assert.equal(ev.reason, 'would_deny');
    assert.equal(ev.policy?.allowed, false);
    assert.equal(ev.policy?.dry_run, true);
    await bob.close();
  });

  test('audit redaction keys from the policy apply', async () => {
    const fin = await connect(gw.url('tools'), bearer(await token({ sub: 'fin', groups: ['finance'] })));
    await fin.callTool({ name: 'make-payment', arguments: { amount: 12, card_number: '4111111111111111' } });
    const ev = await gw.waitForAudit((e) => e.identity?.subject === 'fin' && e.target?.name === 'make-payment');
    assert.deepEqual(ev.arguments, { amount: 12, card_number: '[REDACTED]' });
    await fin.close();
  });
});

describe('bad credentials get 401 with a precise reason', () => {
  const post = (headers: Record<string, string>) =>
    fetch(gw.url('tools'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    });
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const cases: { name: string; headers: () => Promise<Record<string, string>>; reason: string }[] = [
    { name: 'no credentials', headers: async () => ({}), reason: 'missing_credentials' },
    { name: 'an expired token', headers: async () => bearer(await token({ sub: 'x' }, { exp: Math.floor(Date.now() / 1000) - 3600 })), reason: 'expired_token' },
    { name: 'a token not yet valid', headers: async () => bearer(await token({ sub: 'x' }, { nbf: Math.floor(Date.now() / 1000) + 3600 })), reason: 'token_not_yet_valid' },
    { name: 'a token for another audience', headers: async () => bearer(await token({ sub: 'x' }, { aud: 'https://other.test' })), reason: 'wrong_audience' },
    { name: 'alg: none', headers: async () => bearer(`${b64({ alg: 'none' })}.${b64({ sub: 'x', iss: ISSUER, aud: AUDIENCE, exp: 9e9 })}.`), reason: 'unsupported_algorithm' },
    {
      name: 'HS256 signed with the RSA public key (key confusion)',
      headers: async () => bearer(await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('5m').sign(new TextEncoder().encode(publicPem))),
      reason: 'unsupported_algorithm',
    },
    { name: 'a garbage token', headers: async () => bearer('not.a.jwt'), reason: 'invalid_token' },
    { name: 'a wrong API key', headers: async () => ({ 'x-api-key': 'nope' }), reason: 'invalid_api_key' },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const seen = upstream.received.length;
      const res = await post(await c.headers());
      assert.equal(res.status, 401);
      const challenge = res.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /^Bearer/);
      if (c.reason !== 'missing_credentials') assert.match(challenge, /error="invalid_token"/);
      const body = (await res.json()) as any;
      assert.equal(body.error.code, -32001);
      assert.equal(body.error.data.reason, c.reason);
      assert.equal(upstream.received.length, seen, 'nothing reached the upstream');
      await gw.waitForAudit((e) => e.reason === c.reason && e.decision === 'deny');
    });
  }
});

test('a policy reload during an open SSE stream neither drops it nor lets a request through unevaluated', async () => {
  const alice = await connect(gw.url('tools'), bearer(await token({ sub: 'dave', groups: ['analyst'] })));
  const revisionBefore = (await gw.waitForAudit((e) => e.policy !== undefined)).policy!.revision;
  let progress = 0;
  const slow = alice.callTool({ name: 'get-report-slow', arguments: { steps: 6 } }, undefined, { onprogress: () => void progress++, timeout: 20_000 });
  await new Promise((r) => setTimeout(r, 400));
  // Bundle B: echo is no longer public. Built aside, then renamed over the live bundle.
  const srcB = join(dir, 'policies-b');
  await mkdir(srcB, { recursive: true });
  await cp('policies', srcB, { recursive: true });
  const rego = join(srcB, 'mcp', 'authz.rego');
  await writeFile(rego, (await readFile(rego, 'utf8')).replace('public_tools := {"echo"}', 'public_tools := set()'));
  await opaBuild(srcB, join(dir, 'bundle-b.tar.gz'));
  await rename(join(dir, 'bundle-b.tar.gz'), bundle);
  await gw.launched.sidecar.runtime.checkPolicies();
  await assert.rejects(alice.callTool({ name: 'echo', arguments: { message: 'after reload' } }), (e: unknown) => e instanceof McpError && e.code === -32003);
  const denied = await gw.waitForAudit((e) => e.identity?.subject === 'dave' && e.target?.name === 'echo');
  assert.notEqual(denied.policy!.revision, revisionBefore, 'decided by the new bundle');
  const res = await slow;
  assert.deepEqual(JSON.parse((res.content as { text: string }[])[0]!.text), { done: 6 });
  assert.equal(progress, 6, 'the open stream delivered every event');
  await alice.close();
});

test("Envoy's jwt_authn verifies the token and the sidecar takes its claims", async () => {
  const gw2 = await startGateway({
    config: {
      auth: { envoy_jwt_authn: true, jwt: { issuer: ISSUER, audiences: [AUDIENCE], jwks_file: join(dir, 'jwks.json') } },
      servers: [{ name: 'tools', url: upstream.url, tools: { allow: ['echo'] } }],
    },
  });
  try {
    const c = await connect(gw2.url('tools'), bearer(await token({ sub: 'erin', groups: ['x'] })));
    await c.callTool({ name: 'echo', arguments: { message: 'verified by envoy' } });
    const ev = await gw2.waitForAudit((e) => e.target?.name === 'echo');
    assert.equal(ev.identity?.subject, 'erin');
    assert.equal(ev.identity?.method, 'envoy_jwt_authn');
    await c.close();
    const bad = await fetch(gw2.url('tools'), { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(await token({ sub: 'x' }, { aud: 'https://other.test' })) }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
    assert.equal(bad.status, 401, 'a token Envoy could not verify is refused by the sidecar with a precise reason');
    assert.equal(((await bad.json()) as any).error.data.reason, 'wrong_audience');
  } finally {
    await gw2.stop();
  }
});
