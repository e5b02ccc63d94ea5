// The MCP authorization flow with a real authorization server (oidc-provider) and the
// SDK's OAuth client, through the real Envoy and sidecar: discovery from the gateway's
// 401 → RFC 9728 metadata → dynamic registration → authorization code with PKCE and
// `resource` → calls. And RFC 8693 token exchange: each caller's own upstream token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { startUpstream, type RunningUpstream } from '../../examples/upstream.js';
import { createPolicyTestServer } from '../fixtures/policy-server.js';
import { startGateway, freePort, type RunningGateway } from '../support/gateway.js';
import { startAuthServer, TOKEN_EXCHANGE_GRANT, type AuthServer } from '../support/auth-server.js';
import { connectWithOAuth } from '../support/oauth-client.js';

const UPSTREAM_RESOURCE = 'http://upstream.internal/mcp';
let as: AuthServer;
let upstream: RunningUpstream;
let gw: RunningGateway;
let base: string;

before(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  as = await startAuthServer({
    resources: [
      { uri: `${base}/mcp/tools`, scopes: ['mcp:tools'] },
      { uri: `${base}/mcp/brokered`, scopes: ['mcp:tools'] },
      { uri: UPSTREAM_RESOURCE, scopes: ['upstream:call'] },
    ],
    users: { alice: { groups: ['admin'] }, bob: { groups: ['finance'] } },
  });
  process.env.MCP_GATEWAY_TEST_TX_SECRET = as.tokenExchangeClient.clientSecret;
  upstream = await startUpstream({ createServer: createPolicyTestServer });
  gw = await startGateway({
    config: {
      gateway: { listen: `127.0.0.1:${port}` },
      auth: { jwt: { issuer: as.issuer, jwks_url: as.jwksUri } },
      oauth: { authorization_servers: [as.issuer], scopes_supported: ['mcp:tools'] },
      servers: [
        { name: 'tools', url: upstream.url },
        {
          name: 'brokered',
          url: upstream.url,
          upstream_auth: {
            token_exchange: {
              token_endpoint: `${as.issuer}/token`,
              client_id: as.tokenExchangeClient.clientId,
              client_secret_env: 'MCP_GATEWAY_TEST_TX_SECRET',
              audience: UPSTREAM_RESOURCE,
              scope: 'upstream:call',
            },
          },
        },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  await upstream?.close();
  await as?.close();
});

test("the SDK's OAuth client completes discovery, registration and code+PKCE through the gateway, then calls", async () => {
  as.autoLogin.sub = 'alice';
  const { client, provider } = await connectWithOAuth(gw.url('tools'));
  const tools = (await client.listTools()).tools.map((t) => t.name);
  assert.ok(tools.includes('echo'));
  const res = await client.callTool({ name: 'echo', arguments: { message: 'oauth works' } });
  assert.match(JSON.stringify(res.content), /oauth works/);
  const claims = decodeJwt(provider.accessToken!);
  assert.equal(claims.aud, `${base}/mcp/tools`, 'the token names this virtual server (RFC 8707)');
  assert.equal(claims.sub, 'alice');
  const ev = await gw.waitForAudit((e) => e.target?.name === 'echo' && e.identity?.subject === 'alice');
  assert.equal(ev.identity?.method, 'jwt');
  for (const r of upstream.received) assert.equal(r.headers.authorization, undefined, 'no token passthrough');
  await client.close();
});

test('the token for one virtual server does not open another', async () => {
  const token = await as.mintAccessToken({ sub: 'alice', resource: `${base}/mcp/tools`, scope: 'mcp:tools' });
  const res = await fetch(gw.url('brokered'), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
  });
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
});

test('token exchange gives each caller its own upstream token, cached until expiry', async () => {
  const exchanges = () => as.requests.filter((r) => r.grantType === TOKEN_EXCHANGE_GRANT).length;
  const before = exchanges();
  const upstreamTokens = new Map<string, string[]>();
  for (const sub of ['alice', 'bob']) {
    as.autoLogin.sub = sub;
    const { client } = await connectWithOAuth(gw.url('brokered'));
    for (let i = 0; i < 3; i++) await client.callTool({ name: 'echo', arguments: { message: `${sub}-${i}` } });
    const seen = upstream.received.filter((r) => String((r.body as any)?.params?.arguments?.message).startsWith(`${sub}-`));
    assert.equal(seen.length, 3);
    upstreamTokens.set(sub, seen.map((r) => String(r.headers.authorization)));
    await client.close();
  }
  for (const [sub, headers] of upstreamTokens) {
    assert.equal(new Set(headers).size, 1, `${sub}: the same cached upstream token for every call`);
    const claims = decodeJwt(headers[0]!.replace(/^Bearer /, ''));
    assert.equal(claims.sub, sub, 'the upstream token is the caller\'s');
    assert.equal(claims.aud, UPSTREAM_RESOURCE, 'minted for the upstream, not the gateway');
    assert.deepEqual(claims.act, { sub: as.tokenExchangeClient.clientId }, 'the gateway acts on the caller\'s behalf');
  }
  assert.notEqual(upstreamTokens.get('alice')![0], upstreamTokens.get('bob')![0]);
  // One exchange per caller session token (initialize, notifications, calls all reuse it).
  assert.equal(exchanges() - before, 2);
});
