// The gateway as an OAuth 2.1 resource server and credential broker, through the real
// Envoy: RFC 9728 metadata, exact 401/403 challenges, per-server audiences, brokered
// upstream credentials, sessions bound to callers, sticky replicas, mTLS identities.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { createHash } from 'node:crypto';
import { generateKeyPair, exportJWK, SignJWT, type CryptoKey, type KeyObject } from 'jose';
import { startUpstream, type RunningUpstream } from '../../examples/upstream.js';
import { createPolicyTestServer } from '../fixtures/policy-server.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { opaBuild } from '../../src/policy/opa-cli.js';

const run = promisify(execFile);
const ISSUER = 'https://as.test';
const UPSTREAM_SECRET = 'upstream-static-secret-7f3a9c';
let key: CryptoKey | KeyObject;
let dir: string;
let upstream: RunningUpstream;
let gw: RunningGateway;

const INIT = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'authz-e2e', version: '1' } } });
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };

async function token(sub: string, aud: string, scope = 'mcp:tools', groups: string[] = ['admin']): Promise<string> {
  return new SignJWT({ scope, groups }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject(sub).setIssuer(ISSUER).setAudience(aud).setIssuedAt().setExpirationTime('5m').sign(key);
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(url, { method: 'POST', headers: { ...HEADERS, ...headers }, body });
  const text = await res.text();
  const data = text.split('\n').filter((l) => l.startsWith('data: ') && l.length > 6).at(-1);
  let json: unknown;
  try {
    json = JSON.parse(data ? data.slice(6) : text);
  } catch {
    json = text;
  }
  return { status: res.status, headers: res.headers, json };
}

async function session(url: string, auth: Record<string, string>): Promise<string> {
  const r = await post(url, INIT, auth);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const sid = r.headers.get('mcp-session-id')!;
  await post(url, '{"jsonrpc":"2.0","method":"notifications/initialized"}', { ...auth, 'mcp-session-id': sid });
  return sid;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-authz-'));
  const pair = await generateKeyPair('RS256', { extractable: true });
  key = pair.privateKey;
  await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' }] }));
  await writeFile(join(dir, 'upstream.secret'), `${UPSTREAM_SECRET}\n`);
  upstream = await startUpstream({ createServer: createPolicyTestServer });
  gw = await startGateway({
    config: {
      auth: { jwt: { issuer: ISSUER, jwks_file: join(dir, 'jwks.json') } },
      oauth: { authorization_servers: [ISSUER], scopes_supported: ['mcp:tools'], required_scopes: ['mcp:tools'] },
      sessions: { key_env: 'MCP_GATEWAY_TEST_SESSION_KEY' },
      servers: [
        { name: 'tools', url: upstream.url, upstream_auth: { static: { value_file: join(dir, 'upstream.secret') } } },
        { name: 'other', url: upstream.url },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  await upstream?.close();
});

process.env.MCP_GATEWAY_TEST_SESSION_KEY = 'test-session-key-0123456789abcdefghijklmnop';

describe('OAuth 2.1 resource server', () => {
  test('RFC 9728 metadata is served per virtual server and at the root', async () => {
    const base = new URL(gw.url('tools')).origin;
    const res = await fetch(`${base}/.well-known/oauth-protected-resource/mcp/tools`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await res.json(), {
      resource: `${base}/mcp/tools`,
      authorization_servers: [ISSUER],
      scopes_supported: ['mcp:tools'],
      bearer_methods_supported: ['header'],
      resource_name: 'MCP server "tools" via mcp-gateway',
    });
    const root = (await (await fetch(`${base}/.well-known/oauth-protected-resource`)).json()) as { resource: string };
    assert.equal(root.resource, base, 'two servers: the root document describes the gateway');
    assert.equal((await fetch(`${base}/.well-known/oauth-protected-resource/mcp/nope`)).status, 404);
  });

  test('401 carries the exact challenge with resource_metadata and scope', async () => {
    const base = new URL(gw.url('tools')).origin;
    const r = await post(gw.url('tools'), INIT, {});
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('www-authenticate'), `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp/tools", scope="mcp:tools"`);
    const bad = await post(gw.url('tools'), INIT, { authorization: 'Bearer a.b.c' });
    assert.match(bad.headers.get('www-authenticate')!, new RegExp(`^Bearer resource_metadata="${base}/\\.well-known/oauth-protected-resource/mcp/tools", scope="mcp:tools", error="invalid_token", error_description="[^"]+"$`));
  });

  test('403 insufficient_scope names the scope needed (step-up)', async () => {
    const base = new URL(gw.url('tools')).origin;
    const r = await post(gw.url('tools'), INIT, { authorization: `Bearer ${await token('alice', `${base}/mcp/tools`, 'profile')}` });
    assert.equal(r.status, 403);
    assert.equal(
      r.headers.get('www-authenticate'),
      `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp/tools", scope="mcp:tools", error="insufficient_scope", error_description="requires scope mcp:tools"`,
    );
    assert.equal(r.json.error.data.reason, 'insufficient_scope');
  });

  test('a token minted for another resource is refused (RFC 8707 audience)', async () => {
    const base = new URL(gw.url('tools')).origin;
    const forOther = await token('alice', `${base}/mcp/other`);
    assert.equal((await post(gw.url('other'), INIT, { authorization: `Bearer ${forOther}` })).status, 200, 'valid where it belongs');
    const r = await post(gw.url('tools'), INIT, { authorization: `Bearer ${forOther}` });
    assert.equal(r.status, 401);
    assert.equal(r.json.error.data.reason, 'wrong_audience');
  });
});

describe('credential brokering', () => {
  test('the upstream gets its own static secret, never the caller token, and the secret is never logged', async () => {
    const base = new URL(gw.url('tools')).origin;
    const callerToken = await token('carol', `${base}/mcp/tools`);
    const auth = { authorization: `Bearer ${callerToken}` };
    const sid = await session(gw.url('tools'), auth);
    const r = await post(gw.url('tools'), '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}', { ...auth, 'mcp-session-id': sid });
    assert.equal(r.status, 200);
    const seen = upstream.received.filter((x) => (x.body as any)?.params?.arguments?.message === 'hi');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers.authorization, `Bearer ${UPSTREAM_SECRET}`);
    for (const x of upstream.received) assert.ok(!JSON.stringify(x.headers).includes(callerToken), 'caller token never upstream');
    assert.ok(!JSON.stringify(gw.audit.events).includes(UPSTREAM_SECRET), 'secret not in the audit trail');
    assert.ok(!JSON.stringify(gw.audit.events).includes(callerToken), 'caller token not in the audit trail');
  });
});

describe('sessions bound to callers', () => {
  test('another caller presenting a session id is refused and audited; the owner carries on; DELETE ends it', async () => {
    const base = new URL(gw.url('tools')).origin;
    const alice = { authorization: `Bearer ${await token('alice', `${base}/mcp/tools`)}` };
    const mallory = { authorization: `Bearer ${await token('mallory', `${base}/mcp/tools`)}` };
    const sid = await session(gw.url('tools'), alice);
    assert.match(sid, /^mgs1\./, 'the client sees a sealed id');
    assert.ok(!upstream.received.some((x) => x.headers['mcp-session-id'] === sid), 'the upstream never sees the sealed id');
    const ping = (n: number) => `{"jsonrpc":"2.0","id":${n},"method":"ping"}`;
    const hijack = await post(gw.url('tools'), ping(3), { ...mallory, 'mcp-session-id': sid });
    assert.equal(hijack.status, 404);
    await gw.waitForAudit((e) => e.reason === 'session_foreign' && e.identity?.subject === 'mallory');
    const onOtherServer = await post(gw.url('other'), ping(4), { authorization: `Bearer ${await token('alice', `${base}/mcp/other`)}`, 'mcp-session-id': sid });
    assert.equal(onOtherServer.status, 404, 'a session is bound to its virtual server too');
    const tampered = sid.slice(0, -2) + (sid.endsWith('A') ? 'BB' : 'AA');
    assert.equal((await post(gw.url('tools'), ping(5), { ...alice, 'mcp-session-id': tampered })).status, 404);
    assert.equal((await post(gw.url('tools'), ping(6), { ...alice, 'mcp-session-id': sid })).status, 200, 'the owner carries on');
    const del = await fetch(gw.url('tools'), { method: 'DELETE', headers: { ...alice, 'mcp-session-id': sid } });
    assert.equal(del.status, 200);
    assert.equal((await post(gw.url('tools'), ping(7), { ...alice, 'mcp-session-id': sid })).status, 404, 'ended: the spec\'s 404');
  });
});

test('sticky sessions: each session stays on the upstream replica that created it', async () => {
  const a = await startUpstream({ createServer: createPolicyTestServer });
  const b = await startUpstream({ createServer: createPolicyTestServer });
  const keyHash = createHash('sha256').update('sticky-key-0123456789').digest('hex');
  const g = await startGateway({
    config: {
      auth: { api_keys: { keys: [{ sha256: keyHash, subject: 'sticky' }] } },
      servers: [{ name: 'tools', url: [a.url, b.url] }],
    },
  });
  try {
    const auth = { 'x-api-key': 'sticky-key-0123456789' };
    const sessions: string[] = [];
    for (let i = 0; i < 8; i++) sessions.push(await session(g.url('tools'), auth));
    for (const [i, sid] of sessions.entries()) {
      for (let n = 0; n < 4; n++) {
        const r = await post(g.url('tools'), `{"jsonrpc":"2.0","id":${100 + n},"method":"tools/call","params":{"name":"echo","arguments":{"message":"s${i}-${n}"}}}`, { ...auth, 'mcp-session-id': sid });
        assert.equal(r.status, 200, `session ${i} call ${n}: a call on the wrong replica would be a 404`);
      }
    }
    const initsA = a.received.filter((x) => (x.body as any)?.method === 'initialize').length;
    const initsB = b.received.filter((x) => (x.body as any)?.method === 'initialize').length;
    assert.ok(initsA > 0 && initsB > 0, `both replicas got sessions (a=${initsA}, b=${initsB})`);
    for (const [i] of sessions.entries()) {
      const onA = a.received.filter((x) => String((x.body as any)?.params?.arguments?.message).startsWith(`s${i}-`)).length;
      const onB = b.received.filter((x) => String((x.body as any)?.params?.arguments?.message).startsWith(`s${i}-`)).length;
      assert.ok((onA === 4 && onB === 0) || (onA === 0 && onB === 4), `session ${i}: a=${onA} b=${onB}`);
    }
  } finally {
    await g.stop();
    await a.close();
    await b.close();
  }
});

test('mTLS: the client certificate identity (SPIFFE URI) reaches the policy', async () => {
  const pki = join(dir, 'pki');
  await mkdir(pki);
  const ssl = (...args: string[]) => run('openssl', args, { cwd: pki });
  await ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=test-ca', '-days', '1');
  for (const [name, subj, san] of [
    ['server', '/CN=localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    ['agent1', '/CN=agent-1', 'subjectAltName=URI:spiffe://example.org/agent-1'],
    ['agent2', '/CN=agent-2', 'subjectAltName=URI:spiffe://example.org/agent-2'],
  ] as const) {
    await ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj);
    await writeFile(join(pki, `${name}.ext`), san);
    await ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`);
  }
  const src = join(dir, 'mtls-policy');
  await mkdir(join(src, 'mcp'), { recursive: true });
  await writeFile(
    join(src, 'mcp', 'authz.rego'),
    `package mcp.authz
default decision := {"allowed": false, "reasons": ["only agent-1 over mTLS"]}
decision := {"allowed": true} if {
  input.identity.method == "mtls"
  input.identity.subject == "spiffe://example.org/agent-1"
}
default visible := false
visible if decision.allowed
`,
  );
  await opaBuild(src, join(dir, 'mtls.tar.gz'));
  const g = await startGateway({
    config: {
      gateway: { tls: { cert_file: join(pki, 'server.crt'), key_file: join(pki, 'server.key'), client_ca_file: join(pki, 'ca.crt') } },
      auth: { mtls: true },
      policy: { bundle: join(dir, 'mtls.tar.gz') },
      servers: [{ name: 'tools', url: upstream.url }],
    },
  });
  try {
    const url = new URL(g.url('tools'));
    assert.equal(url.protocol, 'https:');
    const ca = await readFile(join(pki, 'ca.crt'));
    const call = (agent: string | undefined) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpsRequest(
          url,
          {
            method: 'POST',
            headers: HEADERS,
            ca,
            ...(agent && { cert: readFileSync(join(pki, `${agent}.crt`)), key: readFileSync(join(pki, `${agent}.key`)) }),
          },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end(INIT);
      });
    assert.equal((await call('agent1')).status, 200);
    const denied = await call('agent2');
    assert.equal(denied.status, 200);
    assert.match(denied.body, /only agent-1 over mTLS/);
    await assert.rejects(call(undefined), 'without a client certificate the TLS handshake fails');
    const ev = await g.waitForAudit((e) => e.identity?.subject === 'spiffe://example.org/agent-1');
    assert.equal(ev.identity?.method, 'mtls');
    assert.equal(ev.policy?.allowed, true);
  } finally {
    await g.stop();
  }
});


