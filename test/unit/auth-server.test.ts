// The tests' authorization server (oidc-provider) on its own, without the
// gateway: discovery, dynamic registration, PKCE, the SDK client's whole
// OAuth flow against a small protected MCP resource served here, JWT access
// tokens for the resource, and RFC 8693 token exchange.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, decodeJwt, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ACCESS_TOKEN_TYPE, startAuthServer, TOKEN_EXCHANGE_GRANT, type AuthServer } from '../support/auth-server.js';
import { connectWithOAuth } from '../support/oauth-client.js';

const UPSTREAM = 'https://upstream.test/mcp';
const REPORTS = 'https://reports.test/mcp';
const REPORTS_AUD = 'reports-api';

// ---- a protected MCP resource (what the gateway will be) ----------------------------------

interface ProtectedResource {
  url: string;
  metadataUrl: string;
  /** The verified claims of every authorized MCP request. */
  seen: JWTPayload[];
  close(): Promise<void>;
}

async function startProtectedResource(): Promise<ProtectedResource & { attach(as: AuthServer): void }> {
  let as: AuthServer | undefined;
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  const seen: JWTPayload[] = [];
  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const url = `${base}/mcp`;
  const metadataUrl = `${base}/.well-known/oauth-protected-resource/mcp`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url === '/.well-known/oauth-protected-resource/mcp') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ resource: url, authorization_servers: [as!.issuer], scopes_supported: ['mcp:read', 'mcp:write'], bearer_methods_supported: ['header'] }));
      return;
    }
    if (req.url !== '/mcp') {
      res.statusCode = 404;
      res.end();
      return;
    }
    const challenge = () => {
      res.statusCode = 401;
      res.setHeader('www-authenticate', `Bearer resource_metadata="${metadataUrl}"`);
      res.end();
    };
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!m) return challenge();
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(m[1]!, jwks!, { issuer: as!.issuer, audience: url, typ: 'at+jwt' }));
    } catch {
      return challenge();
    }
    if (req.method !== 'POST') {
      res.statusCode = 405;
      res.end();
      return;
    }
    seen.push(claims);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const mcp = new McpServer({ name: 'protected', version: '1.0.0' });
    mcp.registerTool('whoami', { description: 'the verified token claims' }, (extra) => ({
      content: [{ type: 'text', text: JSON.stringify(extra.authInfo?.extra ?? null) }],
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => void transport.close());
    await mcp.connect(transport);
    const auth: AuthInfo = { token: m[1]!, clientId: String(claims.client_id), scopes: String(claims.scope ?? '').split(' '), extra: { ...claims } };
    await transport.handleRequest(Object.assign(req, { auth }), res, body);
  }

  return {
    url,
    metadataUrl,
    seen,
    attach(a) {
      as = a;
      jwks = createRemoteJWKSet(new URL(a.jwksUri));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// ---- fixtures ---------------------------------------------------------------------------

let rs: Awaited<ReturnType<typeof startProtectedResource>>;
let as: AuthServer;
let metadata: Record<string, any>;

before(async () => {
  rs = await startProtectedResource();
  as = await startAuthServer({
    resources: [
      { uri: rs.url, scopes: ['mcp:read', 'mcp:write'] },
      { uri: UPSTREAM, scopes: ['upstream:call', 'upstream:admin'] },
      { uri: REPORTS, scopes: ['reports:read'], audience: REPORTS_AUD },
    ],
    users: { alice: { groups: ['admin', 'analyst'] }, bob: { groups: ['finance'] } },
  });
  rs.attach(as);
  metadata = (await (await fetch(`${as.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, any>;
});

after(async () => {
  await rs?.close();
  await as?.close();
});

const verify = (token: string, audience: string) => jwtVerify(token, createRemoteJWKSet(new URL(as.jwksUri)), { issuer: as.issuer, audience, typ: 'at+jwt' });

async function exchange(params: Record<string, string | string[]>, client: { clientId: string; clientSecret: string } = as.tokenExchangeClient) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries({ grant_type: TOKEN_EXCHANGE_GRANT, subject_token_type: ACCESS_TOKEN_TYPE, ...params })) {
    for (const one of [v].flat()) body.append(k, one);
  }
  const res = await fetch(metadata.token_endpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function register(meta: Record<string, unknown>) {
  const res = await fetch(metadata.registration_endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(meta) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

// ---- tests ------------------------------------------------------------------------------

describe('authorization server metadata', () => {
  it('serves RFC 8414 and OpenID discovery for an http loopback issuer', async () => {
    assert.match(as.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(metadata.issuer, as.issuer);
    assert.equal(metadata.jwks_uri, as.jwksUri);
    assert.equal(metadata.registration_endpoint, `${as.issuer}/reg`);
    assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(metadata.response_types_supported, ['code']);
    assert.ok(metadata.grant_types_supported.includes('authorization_code'));
    assert.ok(metadata.grant_types_supported.includes(TOKEN_EXCHANGE_GRANT));
    assert.ok(!metadata.grant_types_supported.includes('implicit'));
    assert.ok(!metadata.grant_types_supported.includes('client_credentials'));
    assert.ok(metadata.token_endpoint_auth_methods_supported.includes('none'));
    for (const s of ['mcp:read', 'mcp:write', 'upstream:call']) assert.ok(metadata.scopes_supported.includes(s), s);
    const oidc = (await (await fetch(`${as.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.equal(oidc.issuer, as.issuer);
    const jwks = (await (await fetch(as.jwksUri)).json()) as { keys: Record<string, unknown>[] };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.kty, 'RSA');
    assert.equal(jwks.keys[0]!.d, undefined, 'no private parts published');
  });
});

describe('dynamic client registration', () => {
  it('registers a public client with a loopback redirect URI, openly', async () => {
    const { status, body } = await register({
      client_name: 'dcr-test',
      redirect_uris: ['http://127.0.0.1:9/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: 'mcp:read',
    });
    assert.equal(status, 201, JSON.stringify(body));
    assert.equal(typeof body.client_id, 'string');
    assert.equal(body.client_secret, undefined);
    assert.equal(body.token_endpoint_auth_method, 'none');
    assert.deepEqual(body.redirect_uris, ['http://127.0.0.1:9/callback']);
  });

  it('refuses a scope the server does not know', async () => {
    const { status, body } = await register({ redirect_uris: ['http://127.0.0.1:9/callback'], token_endpoint_auth_method: 'none', scope: 'root' });
    assert.equal(status, 400);
    assert.equal(body.error, 'invalid_client_metadata');
  });
});

describe('authorization endpoint', () => {
  let clientId: string;
  const redirectUri = 'http://127.0.0.1:9/callback';
  before(async () => {
    clientId = (await register({ redirect_uris: [redirectUri], token_endpoint_auth_method: 'none' })).body.client_id;
  });
  const authorize = async (extra: Record<string, string>) => {
    const url = new URL(metadata.authorization_endpoint);
    for (const [k, v] of Object.entries({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'mcp:read', resource: rs.url, state: 's1', ...extra })) url.searchParams.set(k, v);
    const res = await fetch(url, { redirect: 'manual' });
    await res.body?.cancel();
    return new URL(res.headers.get('location') ?? 'about:blank', url);
  };

  it('requires PKCE', async () => {
    const back = await authorize({});
    assert.equal(back.origin + back.pathname, redirectUri);
    assert.equal(back.searchParams.get('error'), 'invalid_request');
    assert.match(back.searchParams.get('error_description') ?? '', /PKCE/);
  });

  it('accepts only S256', async () => {
    const back = await authorize({ code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'plain' });
    assert.equal(back.searchParams.get('error'), 'invalid_request');
  });

  it('refuses an unknown resource', async () => {
    const back = await authorize({ code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', resource: 'https://elsewhere.test/mcp' });
    assert.equal(back.searchParams.get('error'), 'invalid_target');
  });

  it('with PKCE, sends the browser to the interaction', async () => {
    const next = await authorize({ code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
    assert.equal(next.origin, as.issuer);
    assert.match(next.pathname, /^\/interaction\/[\w-]+$/);
  });
});

describe('the SDK client through the whole flow', () => {
  interface Sent {
    method: string;
    url: URL;
    authorization: string | null;
    body: string | undefined;
    status: number;
  }
  const sent: Sent[] = [];
  const recorder: FetchLike = async (url, init) => {
    const res = await fetch(url, init);
    const b = init?.body;
    sent.push({
      method: init?.method ?? 'GET',
      url: new URL(url),
      authorization: new Headers(init?.headers).get('authorization'),
      body: typeof b === 'string' ? b : b instanceof URLSearchParams ? b.toString() : undefined,
      status: res.status,
    });
    return res;
  };

  it('discovery → registration → code + PKCE + resource → token → MCP calls with the token', async () => {
    as.autoLogin.sub = 'alice';
    const { client, provider } = await connectWithOAuth(rs.url, { fetch: recorder });
    try {
      // What the SDK did, step by step.
      const first = sent[0]!;
      assert.equal(first.method, 'POST');
      assert.equal(first.url.href, rs.url);
      assert.equal(first.authorization, null);
      assert.equal(first.status, 401);
      const prm = sent.find((s) => s.url.pathname.startsWith('/.well-known/oauth-protected-resource'))!;
      assert.equal(prm.url.href, rs.metadataUrl, 'the resource_metadata URL from WWW-Authenticate');
      const asm = sent.find((s) => s.url.origin === as.issuer && s.url.pathname.startsWith('/.well-known/'))!;
      assert.equal(asm.url.pathname, '/.well-known/oauth-authorization-server');
      assert.equal(asm.status, 200);
      const reg = sent.find((s) => s.url.href === metadata.registration_endpoint)!;
      assert.equal(reg.status, 201);
      const regBody = JSON.parse(reg.body!) as Record<string, unknown>;
      assert.deepEqual(regBody.redirect_uris, [provider.redirectUrl]);
      assert.equal(regBody.token_endpoint_auth_method, 'none');
      assert.equal(regBody.scope, 'mcp:read mcp:write', 'scope from the resource metadata scopes_supported');

      const authz = provider.authorizationUrls[0]!;
      assert.equal(authz.origin + authz.pathname, metadata.authorization_endpoint);
      const q = authz.searchParams;
      assert.equal(q.get('response_type'), 'code');
      assert.equal(q.get('code_challenge_method'), 'S256');
      assert.match(q.get('code_challenge') ?? '', /^[\w-]{43}$/);
      assert.equal(q.get('resource'), rs.url);
      assert.equal(q.get('scope'), 'mcp:read mcp:write');
      assert.equal(q.get('redirect_uri'), provider.redirectUrl);
      assert.ok(q.get('state'));
      assert.equal(provider.callbackParams?.get('iss'), as.issuer, 'RFC 9207 iss on the way back');

      const tokenReq = sent.find((s) => s.url.href === metadata.token_endpoint)!;
      const form = new URLSearchParams(tokenReq.body);
      assert.equal(form.get('grant_type'), 'authorization_code');
      assert.match(form.get('code_verifier') ?? '', /^[\w.~-]{43,128}$/);
      assert.equal(form.get('resource'), rs.url);
      assert.equal(form.get('redirect_uri'), provider.redirectUrl);
      assert.equal(form.get('client_id'), q.get('client_id'), 'a public client names itself in the body');
      assert.equal(tokenReq.authorization, null);
      assert.equal(tokenReq.status, 200);

      // The token: a JWT for this resource, for the auto-logged-in user, with groups.
      const tokens = provider.tokens()!;
      assert.equal(tokens.token_type.toLowerCase(), 'bearer');
      assert.ok(tokens.refresh_token, 'a refresh token for a client that registered refresh_token');
      const { payload, protectedHeader } = await verify(tokens.access_token, rs.url);
      assert.equal(protectedHeader.alg, 'RS256');
      assert.equal(payload.aud, rs.url);
      assert.equal(payload.sub, 'alice');
      assert.deepEqual(payload.groups, ['admin', 'analyst']);
      assert.equal(payload.scope, 'mcp:read mcp:write');
      assert.equal(payload.client_id, (provider.clientInformation() as { client_id: string }).client_id);

      // And it works for MCP calls.
      const r = await client.callTool({ name: 'whoami', arguments: {} });
      const who = JSON.parse((r.content as { text: string }[])[0]!.text) as JWTPayload;
      assert.equal(who.sub, 'alice');
      const last = sent.at(-1)!;
      assert.equal(last.authorization, `Bearer ${tokens.access_token}`);
      assert.ok(rs.seen.length >= 2, 'initialize and tools/call were authorized');
    } finally {
      await client.close();
    }
  });

  it('logs in as whoever autoLogin names', async () => {
    as.autoLogin.sub = 'bob';
    const { client, provider } = await connectWithOAuth(rs.url);
    try {
      const { payload } = await verify(provider.accessToken!, rs.url);
      assert.equal(payload.sub, 'bob');
      assert.deepEqual(payload.groups, ['finance']);
      const r = await client.callTool({ name: 'whoami', arguments: {} });
      assert.equal((JSON.parse((r.content as { text: string }[])[0]!.text) as JWTPayload).sub, 'bob');
    } finally {
      await client.close();
      as.autoLogin.sub = 'alice';
    }
  });

  it('an unknown user gets an empty groups claim', async () => {
    as.autoLogin.sub = 'mallory';
    const { client, provider } = await connectWithOAuth(rs.url);
    try {
      assert.deepEqual(decodeJwt(provider.accessToken!).groups, []);
    } finally {
      await client.close();
      as.autoLogin.sub = 'alice';
    }
  });
});

describe('mintAccessToken', () => {
  it('issues the same kind of token without the browser flow', async () => {
    const t = await as.mintAccessToken({ sub: 'carol', resource: rs.url, scope: 'mcp:read', groups: ['ops'], expiresInS: 120 });
    const { payload, protectedHeader } = await verify(t, rs.url);
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(payload.sub, 'carol');
    assert.deepEqual(payload.groups, ['ops']);
    assert.equal(payload.scope, 'mcp:read');
    assert.equal(payload.exp! - payload.iat!, 120);
  });

  it('takes groups from the user table by default, and a resource audience when configured', async () => {
    const t = await as.mintAccessToken({ sub: 'alice', resource: REPORTS, scope: 'reports:read' });
    const { payload } = await verify(t, REPORTS_AUD);
    assert.deepEqual(payload.groups, ['admin', 'analyst']);
  });

  it('refuses an unknown resource', async () => {
    await assert.rejects(as.mintAccessToken({ sub: 'alice', resource: 'https://nowhere.test', scope: '' }), /unknown resource/);
  });
});

describe('token exchange (RFC 8693)', () => {
  let subjectToken: string;
  before(async () => {
    subjectToken = await as.mintAccessToken({ sub: 'alice', resource: rs.url, scope: 'mcp:read', expiresInS: 600 });
  });

  it('exchanges a caller token for one for the upstream: same sub, act names the gateway', async () => {
    const { status, body } = await exchange({ subject_token: subjectToken, resource: UPSTREAM, scope: 'upstream:call' });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.issued_token_type, ACCESS_TOKEN_TYPE);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.scope, 'upstream:call');
    assert.ok(body.expires_in > 0 && body.expires_in <= 600, `expires_in ${body.expires_in} never beyond the subject token`);
    const { payload } = await verify(body.access_token, UPSTREAM);
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.aud, UPSTREAM);
    assert.deepEqual(payload.act, { sub: as.tokenExchangeClient.clientId });
    assert.equal(payload.client_id, as.tokenExchangeClient.clientId);
    assert.deepEqual(payload.groups, ['admin', 'analyst']);
    assert.equal(payload.scope, 'upstream:call');
    assert.ok(as.requests.some((r) => r.grantType === TOKEN_EXCHANGE_GRANT && r.clientId === as.tokenExchangeClient.clientId && r.status === 200));
  });

  it('exchanges the token the SDK obtained through the browser flow', async () => {
    as.autoLogin.sub = 'bob';
    const { client, provider } = await connectWithOAuth(rs.url);
    await client.close();
    as.autoLogin.sub = 'alice';
    const { status, body } = await exchange({ subject_token: provider.accessToken!, audience: REPORTS_AUD });
    assert.equal(status, 200, JSON.stringify(body));
    const { payload } = await verify(body.access_token, REPORTS_AUD);
    assert.equal(payload.sub, 'bob');
    assert.deepEqual(payload.groups, ['finance']);
    assert.equal(payload.scope, 'reports:read', 'no scope asked: all of the target resource');
  });

  it('nests the act claim when exchanging an exchanged token', async () => {
    const once = (await exchange({ subject_token: subjectToken, resource: UPSTREAM })).body.access_token as string;
    const { status, body } = await exchange({ subject_token: once, resource: REPORTS });
    assert.equal(status, 200, JSON.stringify(body));
    const id = as.tokenExchangeClient.clientId;
    assert.deepEqual(decodeJwt(body.access_token).act, { sub: id, act: { sub: id } });
  });

  it('refuses a bad client secret', async () => {
    const { status, body } = await exchange({ subject_token: subjectToken, resource: UPSTREAM }, { clientId: as.tokenExchangeClient.clientId, clientSecret: 'wrong' });
    assert.equal(status, 401);
    assert.equal(body.error, 'invalid_client');
  });

  it('refuses an expired subject token', async () => {
    const expired = await as.mintAccessToken({ sub: 'alice', resource: rs.url, scope: 'mcp:read', expiresInS: -60 });
    const { status, body } = await exchange({ subject_token: expired, resource: UPSTREAM });
    assert.equal(status, 400);
    assert.equal(body.error, 'invalid_grant');
  });

  it('refuses a forged subject token (right claims and kid, another key)', async () => {
    const real = decodeJwt(subjectToken);
    const kid = JSON.parse(Buffer.from(subjectToken.split('.')[0]!, 'base64url').toString()).kid as string;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = await new SignJWT({ ...real }).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid }).sign(privateKey);
    const { status, body } = await exchange({ subject_token: forged, resource: UPSTREAM });
    assert.equal(status, 400);
    assert.equal(body.error, 'invalid_grant');
  });

  it('refuses an unknown audience or resource', async () => {
    for (const target of [{ audience: 'https://nowhere.test/mcp' }, { resource: 'https://nowhere.test/mcp' }] as Record<string, string>[]) {
      const { status, body } = await exchange({ subject_token: subjectToken, ...target });
      assert.equal(status, 400, JSON.stringify(target));
      assert.equal(body.error, 'invalid_target');
    }
  });

  it('refuses a missing target, two targets, a scope the target lacks, a missing subject token', async () => {
    assert.equal((await exchange({ subject_token: subjectToken })).body.error, 'invalid_target');
    assert.equal((await exchange({ subject_token: subjectToken, resource: [UPSTREAM, REPORTS] })).body.error, 'invalid_target');
    assert.equal((await exchange({ subject_token: subjectToken, resource: UPSTREAM, scope: 'mcp:write' })).body.error, 'invalid_scope');
    assert.equal((await exchange({ resource: UPSTREAM })).body.error, 'invalid_request');
  });

  it('is not open to clients that were not given the grant', async () => {
    const reg = await register({ redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'client_secret_basic' });
    const { status, body } = await exchange({ subject_token: subjectToken, resource: UPSTREAM }, { clientId: reg.body.client_id, clientSecret: reg.body.client_secret });
    assert.equal(status, 400);
    assert.match(`${body.error} ${body.error_description}`, /grant type is not allowed|unauthorized_client/);
  });
});
