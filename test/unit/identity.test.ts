import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { base64url, exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { AuthSetupError, createAuthenticator, wwwAuthenticate } from '../../src/identity/authenticator.js';
import { AUTH_DEFAULTS, authSchema, normalizeAuth, type AuthConfig } from '../../src/identity/config.js';
import type { AuthFailureReason, AuthRequest, AuthResult, Authenticator, Identity } from '../../src/identity/types.js';

const ISS = 'https://idp.example.com';
const AUD = 'https://gw.example.com/mcp/everything';

// ---- fixtures ----------------------------------------------------------------

interface Signer {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function signer(kid: string, alg: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

const now = () => Math.floor(Date.now() / 1000);

/** A token from `s`: iss/aud/sub/iat/exp are valid unless `claims` overrides them (undefined removes one). */
async function sign(s: Signer, claims: JWTPayload = {}, header: { kid?: string | undefined; alg?: string } = { kid: s.kid }): Promise<string> {
  const t = now();
  return new SignJWT({ iss: ISS, aud: AUD, sub: 'alice', iat: t, exp: t + 300, ...claims })
    .setProtectedHeader({ alg: header.alg ?? s.alg, ...(header.kid !== undefined && { kid: header.kid }) })
    .sign(s.privateKey);
}

const b64json = (v: unknown) => base64url.encode(JSON.stringify(v));
const bearer = (token: string): AuthRequest => ({ headers: { authorization: `Bearer ${token}` } });
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

let dir: string;
let A: Signer, B: Signer, C: Signer, E: Signer, D: Signer, R384: Signer;
const open: Authenticator[] = [];

/** An authenticator from a raw `auth:` section, exactly as the config loader would build it. */
async function authenticator(raw: unknown): Promise<Authenticator> {
  const a = await createAuthenticator(config(raw));
  open.push(a);
  return a;
}

function config(raw: unknown): AuthConfig {
  return normalizeAuth(authSchema.parse(raw), dir);
}

async function writeJwks(name: string, keys: unknown[]): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify({ keys }));
  return file;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'identity-test-'));
  [A, B, C, E, D, R384] = await Promise.all([signer('A', 'RS256'), signer('B', 'RS256'), signer('C', 'RS256'), signer('E', 'ES256'), signer('D', 'EdDSA'), signer('X', 'RS384')]);
  await writeJwks('jwks.json', [A.jwk, B.jwk, E.jwk, D.jwk, R384.jwk]);
});

after(async () => {
  for (const a of open) a.close();
  await rm(dir, { recursive: true, force: true });
});

function assertFailure(r: AuthResult, reason: AuthFailureReason, message?: RegExp): asserts r is Extract<AuthResult, { ok: false }> {
  assert.equal(r.ok, false, `expected ${reason}, got ${JSON.stringify(r)}`);
  assert.equal(r.reason, reason, `message: ${r.message}`);
  if (message) assert.match(r.message, message);
}

function assertIdentity(r: AuthResult): Identity {
  assert.ok(r.ok, `expected success, got ${JSON.stringify(r)}`);
  return r.identity;
}

// ---- JWT against a JWKS file -------------------------------------------------

describe('JWT (jwks_file)', () => {
  let auth: Authenticator;
  before(async () => {
    auth = await authenticator({ jwt: { issuer: ISS, audiences: [AUD, 'https://other.example.com'], jwks_file: './jwks.json' } });
  });

  type Case = { name: string; token: () => Promise<string>; expect: 'ok' | [AuthFailureReason, RegExp] };
  const cases: Case[] = [
    { name: 'RS256 with kid', token: () => sign(A), expect: 'ok' },
    { name: 'ES256', token: () => sign(E), expect: 'ok' },
    { name: 'EdDSA', token: () => sign(D), expect: 'ok' },
    { name: 'aud as an array naming this resource', token: () => sign(A, { aud: ['https://elsewhere', AUD] }), expect: 'ok' },
    { name: 'the second configured audience', token: () => sign(A, { aud: 'https://other.example.com' }), expect: 'ok' },
    { name: 'no kid, two RS256 keys could match: each is tried', token: () => sign(B, {}, { kid: undefined }), expect: 'ok' },
    { name: 'expired within the clock skew (30 s)', token: () => sign(A, { exp: now() - 10 }), expect: 'ok' },
    { name: 'nbf within the clock skew', token: () => sign(A, { nbf: now() + 10 }), expect: 'ok' },
    { name: 'expired beyond the skew', token: () => sign(A, { exp: now() - 120 }), expect: ['expired_token', /^the token expired at \d{4}-\d\d-\d\dT/] },
    { name: 'not yet valid', token: () => sign(A, { nbf: now() + 120 }), expect: ['token_not_yet_valid', /not valid before \d{4}-/] },
    { name: 'another audience', token: () => sign(A, { aud: 'https://gw.example.com/mcp/other' }), expect: ['wrong_audience', /not meant for this resource.*"https:\/\/gw\.example\.com\/mcp\/everything"/] },
    { name: 'no audience', token: () => sign(A, { aud: undefined }), expect: ['wrong_audience', /no "aud" claim/] },
    { name: 'another issuer', token: () => sign(A, { iss: 'https://evil.example.com' }), expect: ['wrong_issuer', /issued by "https:\/\/evil\.example\.com", not by the trusted issuer "https:\/\/idp\.example\.com"/] },
    { name: 'no issuer', token: () => sign(A, { iss: undefined }), expect: ['wrong_issuer', /no "iss" claim/] },
    { name: 'no exp', token: () => sign(A, { exp: undefined }), expect: ['invalid_token', /no "exp" claim/] },
    { name: 'no subject', token: () => sign(A, { sub: undefined }), expect: ['invalid_token', /no "sub" claim/] },
    { name: 'alg "none" (unsigned)', token: async () => `${b64json({ alg: 'none', typ: 'JWT' })}.${b64json({ iss: ISS, aud: AUD, sub: 'mallory', exp: now() + 300 })}.`, expect: ['unsupported_algorithm', /"none" is not accepted \(accepted: RS256, ES256, PS256, EdDSA\)/] },
    {
      name: 'HS256 "signed" with the RSA public key (key confusion)',
      token: async () => {
        const pem = await exportSPKI(A.publicKey);
        return new SignJWT({ iss: ISS, aud: AUD, sub: 'mallory', exp: now() + 300 }).setProtectedHeader({ alg: 'HS256', kid: 'A' }).sign(new TextEncoder().encode(pem));
      },
      expect: ['unsupported_algorithm', /"HS256" is not accepted/],
    },
    { name: 'an algorithm the config does not list (RS384)', token: () => sign(R384), expect: ['unsupported_algorithm', /"RS384"/] },
    { name: 'a kid the JWKS does not hold', token: () => sign(C), expect: ['unknown_key', /kid "C", alg "RS256"/] },
    { name: "kid A, but signed by B's key", token: () => sign(B, {}, { kid: 'A' }), expect: ['invalid_token', /signature is invalid/] },
    { name: 'no kid and signed by a key nobody trusts', token: () => sign(C, {}, { kid: undefined }), expect: ['invalid_token', /signature is invalid/] },
    {
      name: 'payload altered after signing',
      token: async () => {
        const [h, , s] = (await sign(A)).split('.');
        return `${h}.${b64json({ iss: ISS, aud: AUD, sub: 'admin', exp: now() + 300 })}.${s}`;
      },
      expect: ['invalid_token', /signature is invalid/],
    },
    { name: 'two parts only', token: async () => 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0', expect: ['invalid_token', /malformed/] },
    { name: 'header is not JSON', token: async () => `${base64url.encode('nope')}.${b64json({ sub: 'x' })}.c2ln`, expect: ['invalid_token', /malformed/] },
    { name: 'not a token68 at all', token: async () => 'not a jwt!', expect: ['invalid_token', /malformed \(expected a JWT/] },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const token = await c.token();
      const r = await auth.authenticate(bearer(token));
      if (c.expect === 'ok') {
        const id = assertIdentity(r);
        assert.equal(id.method, 'jwt');
        assert.equal(id.issuer, ISS);
        assert.equal(id.claims.iss, ISS);
      } else {
        assertFailure(r, c.expect[0], c.expect[1]);
        assert.ok(!r.message.includes(token), 'the message must not echo the token');
        for (const part of token.split('.')) if (part.length > 8) assert.ok(!r.message.includes(part), 'the message must not echo any part of the token');
      }
    });
  }

  it('"Bearer" with no token, and the scheme in any case', async () => {
    assertFailure(await auth.authenticate({ headers: { authorization: 'Bearer' } }), 'invalid_token', /carries no token/);
    assertFailure(await auth.authenticate({ headers: { authorization: 'Bearer    ' } }), 'invalid_token', /carries no token/);
    assert.equal(assertIdentity(await auth.authenticate({ headers: { authorization: `bEaReR ${await sign(A)}` } })).subject, 'alice');
  });

  it('clock_skew_s is honoured', async () => {
    const strict = await authenticator({ jwt: { issuer: ISS, audiences: [AUD], jwks_file: './jwks.json', clock_skew_s: 0 } });
    assertFailure(await strict.authenticate(bearer(await sign(A, { exp: now() - 2 }))), 'expired_token');
    assertFailure(await strict.authenticate(bearer(await sign(A, { nbf: now() + 5 }))), 'token_not_yet_valid');
  });

  it('algorithms narrows what is accepted', async () => {
    const esOnly = await authenticator({ jwt: { issuer: ISS, audiences: [AUD], jwks_file: './jwks.json', algorithms: ['ES256'] } });
    assertIdentity(await esOnly.authenticate(bearer(await sign(E))));
    assertFailure(await esOnly.authenticate(bearer(await sign(A))), 'unsupported_algorithm', /"RS256" is not accepted \(accepted: ES256\)/);
  });
});

describe('JWT claims → groups and scopes', () => {
  type Case = { name: string; jwt?: Record<string, string>; claims: JWTPayload; subject?: string; groups: string[]; scopes: string[] };
  const cases: Case[] = [
    { name: 'groups array, space-separated scope string', claims: { groups: ['eng', 'ops'], scope: 'tools:read  tools:call' }, groups: ['eng', 'ops'], scopes: ['tools:read', 'tools:call'] },
    { name: 'groups as one string', claims: { groups: 'eng' }, groups: ['eng'], scopes: [] },
    { name: 'non-strings in the array are dropped', claims: { groups: ['eng', 7, null, '', { x: 1 }], scope: 42 }, groups: ['eng'], scopes: [] },
    { name: 'claims absent', claims: {}, groups: [], scopes: [] },
    { name: 'scp array', jwt: { scopes_claim: 'scp' }, claims: { scp: ['a', 'b'], scope: 'ignored' }, groups: [], scopes: ['a', 'b'] },
    { name: 'namespaced groups claim (a name with dots, not a path)', jwt: { groups_claim: 'https://example.com/roles' }, claims: { 'https://example.com/roles': ['admin'], groups: ['x'] }, groups: ['admin'], scopes: [] },
    { name: 'subject from another claim', jwt: { subject_claim: 'email' }, claims: { email: 'alice@example.com' }, subject: 'alice@example.com', groups: [], scopes: [] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const auth = await authenticator({ jwt: { issuer: ISS, audiences: [AUD], jwks_file: './jwks.json', ...c.jwt } });
      const id = assertIdentity(await auth.authenticate(bearer(await sign(A, c.claims))));
      assert.equal(id.subject, c.subject ?? 'alice');
      assert.deepEqual(id.groups, c.groups);
      assert.deepEqual(id.scopes, c.scopes);
    });
  }

  it('a non-string subject is refused', async () => {
    const auth = await authenticator({ jwt: { issuer: ISS, audiences: [AUD], jwks_file: './jwks.json' } });
    assertFailure(await auth.authenticate(bearer(await sign(A, { sub: '' }))), 'invalid_token', /no "sub" claim/);
  });
});

describe('jwks_file problems are start-up errors', () => {
  const cases: { name: string; content: string | unknown[]; expect: RegExp }[] = [
    { name: 'not JSON', content: '{nope', expect: /cannot read the JWKS/ },
    { name: 'no keys array', content: '{"kty":"RSA"}', expect: /"keys" array/ },
    { name: 'empty', content: [], expect: /no keys/ },
    { name: 'a symmetric key', content: [{ kty: 'oct', k: 'c2VjcmV0' }], expect: /keys\[0\] is a symmetric/ },
    { name: 'a private key', content: [{ kty: 'RSA', n: 'x', e: 'AQAB', d: 'y' }], expect: /keys\[0\] is a private key/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const file = join(dir, `bad-${c.name.replaceAll(' ', '-')}.json`);
      await writeFile(file, typeof c.content === 'string' ? c.content : JSON.stringify({ keys: c.content }));
      await assert.rejects(createAuthenticator(config({ jwt: { issuer: ISS, audiences: [AUD], jwks_file: file } })), (e: unknown) => e instanceof AuthSetupError && e.file === file && c.expect.test(e.message));
    });
  }
  it('a missing file', async () => {
    await assert.rejects(createAuthenticator(config({ jwt: { issuer: ISS, audiences: [AUD], jwks_file: './absent.json' } })), /absent\.json: cannot read the JWKS/);
  });
});

// ---- JWT against a JWKS URL --------------------------------------------------

class JwksServer {
  keys: JWK[] = [];
  mode: 'ok' | '500' | 'garbage' | 'hang' = 'ok';
  hits = 0;
  private readonly server: Server = createServer((req, res) => {
    this.hits++;
    if (this.mode === 'hang') return;
    if (this.mode === '500') return void res.writeHead(500).end('boom');
    res.writeHead(200, { 'content-type': 'application/json' }).end(this.mode === 'garbage' ? '<html>' : JSON.stringify({ keys: this.keys }));
  });
  url = '';
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks`;
    return this;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('JWT (jwks_url)', () => {
  let srv: JwksServer;
  before(async () => {
    srv = await new JwksServer().start();
  });
  after(() => srv.stop());
  const remote = (extra: Record<string, unknown> = {}) => authenticator({ jwt: { issuer: ISS, audiences: [AUD], jwks_url: srv.url, jwks_cooldown_s: 0, ...extra } });

  it('verifies against the fetched keys', async () => {
    srv.mode = 'ok';
    srv.keys = [A.jwk, E.jwk];
    const auth = await remote();
    assert.equal(assertIdentity(await auth.authenticate(bearer(await sign(A)))).subject, 'alice');
    assertIdentity(await auth.authenticate(bearer(await sign(E))));
    assert.ok(srv.hits >= 1);
  });

  it('key rotation: a token from a new key is accepted once the JWKS publishes it, without a restart', async () => {
    srv.mode = 'ok';
    srv.keys = [A.jwk];
    const auth = await remote();
    assertIdentity(await auth.authenticate(bearer(await sign(A))));
    const beforeB = srv.hits;
    assertFailure(await auth.authenticate(bearer(await sign(B))), 'unknown_key', /kid "B"/);
    assert.equal(srv.hits, beforeB + 1, 'an unknown kid refetches the JWKS');
    srv.keys = [A.jwk, B.jwk];
    assertIdentity(await auth.authenticate(bearer(await sign(B))));
    assertIdentity(await auth.authenticate(bearer(await sign(A))));
  });

  it('within the cooldown an unknown kid does not refetch', async () => {
    srv.mode = 'ok';
    srv.keys = [A.jwk];
    const auth = await remote({ jwks_cooldown_s: 30 });
    assertIdentity(await auth.authenticate(bearer(await sign(A))));
    const hits = srv.hits;
    srv.keys = [A.jwk, B.jwk];
    for (let i = 0; i < 5; i++) assertFailure(await auth.authenticate(bearer(await sign(B))), 'unknown_key');
    assert.equal(srv.hits, hits, 'a flood of unknown kids must not hammer the IdP');
  });

  it('known keys keep working while the IdP fails; a key we lack is jwks_unavailable', async () => {
    srv.mode = 'ok';
    srv.keys = [A.jwk];
    const auth = await remote();
    assertIdentity(await auth.authenticate(bearer(await sign(A))));
    srv.mode = '500';
    const hits = srv.hits;
    assertIdentity(await auth.authenticate(bearer(await sign(A))));
    assert.equal(srv.hits, hits, 'known keys are not refetched on the request path');
    assertFailure(await auth.authenticate(bearer(await sign(B))), 'jwks_unavailable', /could not be fetched/);
    assert.equal(srv.hits, hits + 1);
  });

  it('known keys do not go stale on the request path: hours later, an IdP outage still does not refuse them', async (t) => {
    srv.mode = 'ok';
    srv.keys = [A.jwk];
    const auth = await remote({ jwks_refresh_s: 86_400 });
    assertIdentity(await auth.authenticate(bearer(await sign(A))));
    srv.mode = '500';
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    t.mock.timers.tick(3 * 3600 * 1000); // far beyond jose's default 10-minute cache age
    const hits = srv.hits;
    assertIdentity(await auth.authenticate(bearer(await sign(A))));
    assert.equal(srv.hits, hits, 'no fetch on the request path for a known key');
  });

  for (const mode of ['500', 'garbage'] as const) {
    it(`a JWKS endpoint answering ${mode === '500' ? 'HTTP 500' : 'something that is not JSON'} is jwks_unavailable`, async () => {
      srv.mode = mode;
      const auth = await remote();
      const r = await auth.authenticate(bearer(await sign(A)));
      assertFailure(r, 'jwks_unavailable');
      assert.ok(!r.message.includes('127.0.0.1'), 'internal addresses are not told to the caller');
    });
  }

  it('background refresh learns new keys even within the cooldown; close() stops it', async () => {
    srv.mode = 'ok';
    srv.keys = [A.jwk];
    const auth = await remote({ jwks_cooldown_s: 3600, jwks_refresh_s: 1 });
    assertIdentity(await auth.authenticate(bearer(await sign(A))));
    srv.keys = [A.jwk, B.jwk];
    assertFailure(await auth.authenticate(bearer(await sign(B))), 'unknown_key');
    await new Promise((r) => setTimeout(r, 1300));
    assertIdentity(await auth.authenticate(bearer(await sign(B))));
    auth.close();
    const hits = srv.hits;
    await new Promise((r) => setTimeout(r, 1300));
    assert.equal(srv.hits, hits, 'no refresh after close()');
  });

  it('a JWKS endpoint that does not answer is jwks_unavailable after jwks_timeout_ms', async () => {
    const hang = await new JwksServer().start();
    hang.mode = 'hang';
    try {
      const auth = await authenticator({ jwt: { issuer: ISS, audiences: [AUD], jwks_url: hang.url, jwks_timeout_ms: 100 } });
      const started = Date.now();
      assertFailure(await auth.authenticate(bearer(await sign(A))), 'jwks_unavailable');
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    } finally {
      await hang.stop();
    }
  });

  it('a JWKS endpoint nobody listens on is jwks_unavailable', async () => {
    const gone = await new JwksServer().start();
    await gone.stop();
    const auth = await authenticator({ jwt: { issuer: ISS, audiences: [AUD], jwks_url: gone.url } });
    assertFailure(await auth.authenticate(bearer(await sign(A))), 'jwks_unavailable');
  });
});

// ---- API keys ----------------------------------------------------------------

describe('API keys', () => {
  const CI_KEY = 'mcpk_ci_3f9a1c7e5b2d4f60';
  const OPS_KEY = 'mcpk_ops_0b8e2a6d4c1f9e73';
  let auth: Authenticator;
  before(async () => {
    await writeFile(join(dir, 'api-keys.yaml'), `- sha256: ${sha256(OPS_KEY)}\n  subject: ops\n  groups: [ops, oncall]\n`);
    auth = await authenticator({
      api_keys: { keys: [{ sha256: sha256(CI_KEY).toUpperCase(), subject: 'ci-bot', groups: ['ci'], scopes: ['tools:call'] }], file: 'api-keys.yaml' },
    });
  });

  type Case = { name: string; headers: Record<string, string>; expect: { subject: string; groups: string[]; scopes: string[] } | [AuthFailureReason, RegExp] };
  const cases: Case[] = [
    { name: 'inline key in x-api-key', headers: { 'x-api-key': CI_KEY }, expect: { subject: 'ci-bot', groups: ['ci'], scopes: ['tools:call'] } },
    { name: 'Authorization: ApiKey', headers: { authorization: `ApiKey ${CI_KEY}` }, expect: { subject: 'ci-bot', groups: ['ci'], scopes: ['tools:call'] } },
    { name: 'the scheme in any case', headers: { authorization: `apikey ${CI_KEY}` }, expect: { subject: 'ci-bot', groups: ['ci'], scopes: ['tools:call'] } },
    { name: 'key from the file', headers: { 'x-api-key': OPS_KEY }, expect: { subject: 'ops', groups: ['ops', 'oncall'], scopes: [] } },
    { name: 'surrounding spaces are not part of the key', headers: { 'x-api-key': `  ${OPS_KEY} ` }, expect: { subject: 'ops', groups: ['ops', 'oncall'], scopes: [] } },
    { name: 'a wrong key', headers: { 'x-api-key': 'mcpk_ci_wrong' }, expect: ['invalid_api_key', /not recognised/] },
    { name: 'a prefix of a real key', headers: { 'x-api-key': CI_KEY.slice(0, -1) }, expect: ['invalid_api_key', /not recognised/] },
    { name: 'the hash instead of the key', headers: { 'x-api-key': sha256(CI_KEY) }, expect: ['invalid_api_key', /not recognised/] },
    { name: 'an empty header', headers: { 'x-api-key': '' }, expect: ['invalid_api_key', /empty/] },
    { name: 'ApiKey with nothing after it', headers: { authorization: 'ApiKey' }, expect: ['invalid_api_key', /empty/] },
    { name: 'a wrong key in Authorization', headers: { authorization: 'ApiKey nope' }, expect: ['invalid_api_key', /not recognised/] },
    { name: 'Bearer is not accepted when no JWT issuer is configured', headers: { authorization: `Bearer ${CI_KEY}` }, expect: ['invalid_token', /no JWT issuer is configured/] },
    { name: 'no credentials names the header to use', headers: {}, expect: ['missing_credentials', /API key in x-api-key/] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = await auth.authenticate({ headers: c.headers });
      if (Array.isArray(c.expect)) {
        assertFailure(r, c.expect[0], c.expect[1]);
        assert.ok(!r.message.includes(CI_KEY.slice(5)) && !r.message.includes('wrong'), 'the message must not echo the key');
      } else {
        const id = assertIdentity(r);
        assert.deepEqual({ subject: id.subject, groups: id.groups, scopes: id.scopes }, c.expect);
        assert.equal(id.method, 'api_key');
        assert.equal(id.issuer, undefined);
        assert.deepEqual(id.claims, {});
      }
    });
  }

  it('the shared identity is frozen: a consumer cannot grant a key more groups', async () => {
    const id = assertIdentity(await auth.authenticate({ headers: { 'x-api-key': CI_KEY } }));
    assert.throws(() => id.groups.push('admin'), TypeError);
    assert.deepEqual(assertIdentity(await auth.authenticate({ headers: { 'x-api-key': CI_KEY } })).groups, ['ci']);
  });

  it('a custom header (matched case-insensitively) replaces x-api-key', async () => {
    const custom = await authenticator({ api_keys: { header: 'X-Gateway-Key', keys: [{ sha256: sha256(CI_KEY), subject: 'ci-bot' }] } });
    assert.equal(assertIdentity(await custom.authenticate({ headers: { 'x-gateway-key': CI_KEY } })).subject, 'ci-bot');
    assertFailure(await custom.authenticate({ headers: { 'x-api-key': CI_KEY } }), 'missing_credentials', /x-gateway-key/);
  });

  const fileCases: { name: string; text: string; expect: RegExp }[] = [
    { name: 'an entry with a bad hash', text: '- sha256: abc\n  subject: x\n', expect: /\[0\]\.sha256: expected the SHA-256/ },
    { name: 'the key itself instead of its hash', text: '- key: mcpk_live\n  subject: x\n', expect: /\[0\].*"key"/ },
    { name: 'not a list', text: 'keys: []\n', expect: /expected a YAML list/ },
    { name: 'a hash that is also inline', text: `- sha256: ${sha256('inline')}\n  subject: y\n`, expect: /\[0\]\.sha256: the same key hash as auth\.api_keys\.keys\[0\]/ },
    { name: 'broken YAML', text: '- sha256: [\n', expect: /YAML:/ },
  ];
  for (const c of fileCases) {
    it(`key file: ${c.name} is a start-up error`, async () => {
      const file = join(dir, `keys-${c.name.replaceAll(' ', '-')}.yaml`);
      await writeFile(file, c.text);
      await assert.rejects(
        createAuthenticator(config({ api_keys: { keys: [{ sha256: sha256('inline'), subject: 'x' }], file } })),
        (e: unknown) => e instanceof AuthSetupError && e.file === file && c.expect.test(e.message),
      );
    });
  }
  it('key file: missing is a start-up error', async () => {
    await assert.rejects(createAuthenticator(config({ api_keys: { file: 'absent.yaml' } })), /absent\.yaml: cannot read the API key file/);
  });
});

// ---- order of credentials, Envoy jwt_authn, anonymous ------------------------

describe('which credential decides', () => {
  const KEY = 'mcpk_order_test_key';
  const both = (extra: Record<string, unknown>) =>
    authenticator({ jwt: { issuer: ISS, audiences: [AUD], jwks_file: './jwks.json' }, api_keys: { keys: [{ sha256: sha256(KEY), subject: 'ci-bot' }] }, ...extra });
  const envoyPayload = { iss: 'https://envoy-verified.example.com', sub: 'bob', groups: ['eng'], scope: 'a b' };

  type Case = {
    name: string;
    auth: Record<string, unknown>;
    req: () => Promise<AuthRequest>;
    expect: { method: Identity['method']; subject: string } | [AuthFailureReason, RegExp?];
  };
  const cases: Case[] = [
    { name: 'Envoy payload wins over a bad bearer token', auth: { envoy_jwt_authn: true }, req: async () => ({ headers: { authorization: 'Bearer garbage' }, envoyJwtPayload: envoyPayload }), expect: { method: 'envoy_jwt_authn', subject: 'bob' } },
    { name: 'Envoy payload without a subject is refused', auth: { envoy_jwt_authn: true }, req: async () => ({ headers: {}, envoyJwtPayload: { iss: ISS } }), expect: ['invalid_token', /Envoy jwt_authn verified a token, but the token has no "sub" claim/] },
    { name: 'Envoy payload is ignored unless envoy_jwt_authn is on', auth: {}, req: async () => ({ headers: {}, envoyJwtPayload: envoyPayload }), expect: ['missing_credentials'] },
    { name: 'envoy_jwt_authn on but no payload: the bearer token is verified here', auth: { envoy_jwt_authn: true }, req: async () => bearer(await sign(A)), expect: { method: 'jwt', subject: 'alice' } },
    { name: 'a failing bearer token does not fall through to a valid API key', auth: {}, req: async () => ({ headers: { authorization: `Bearer ${await sign(C)}`, 'x-api-key': KEY } }), expect: ['unknown_key'] },
    { name: 'a valid bearer token decides; the API key header is not consulted', auth: {}, req: async () => ({ headers: { authorization: `Bearer ${await sign(A)}`, 'x-api-key': 'wrong' } }), expect: { method: 'jwt', subject: 'alice' } },
    { name: 'Authorization: ApiKey is tried before the header', auth: {}, req: async () => ({ headers: { authorization: `ApiKey ${KEY}`, 'x-api-key': 'wrong' } }), expect: { method: 'api_key', subject: 'ci-bot' } },
    { name: 'a failing credential is refused even when anonymous is allowed', auth: { anonymous: true }, req: async () => ({ headers: { 'x-api-key': 'wrong' } }), expect: ['invalid_api_key'] },
    { name: 'an expired token is refused even when anonymous is allowed', auth: { anonymous: true }, req: async () => bearer(await sign(A, { exp: now() - 3600 })), expect: ['expired_token'] },
    { name: 'an unsupported scheme is refused even when anonymous is allowed', auth: { anonymous: true }, req: async () => ({ headers: { authorization: 'Basic YWxpY2U6cHc=' } }), expect: ['missing_credentials', /scheme "basic" is not accepted; use Bearer or ApiKey/] },
    { name: 'no credentials, anonymous allowed', auth: { anonymous: true }, req: async () => ({ headers: { 'x-other': 'y' } }), expect: { method: 'anonymous', subject: 'anonymous' } },
    { name: 'no credentials, anonymous not allowed', auth: {}, req: async () => ({ headers: {} }), expect: ['missing_credentials', /no credentials/] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = await (await both(c.auth)).authenticate(await c.req());
      if (Array.isArray(c.expect)) assertFailure(r, c.expect[0], c.expect[1]);
      else {
        const id = assertIdentity(r);
        assert.equal(id.method, c.expect.method);
        assert.equal(id.subject, c.expect.subject);
      }
    });
  }

  it('Envoy claims map to groups and scopes with the configured claim names', async () => {
    const auth = await authenticator({ envoy_jwt_authn: true, jwt: { issuer: ISS, audiences: [AUD], jwks_file: './jwks.json', groups_claim: 'roles', scopes_claim: 'scp' } });
    const id = assertIdentity(await auth.authenticate({ headers: {}, envoyJwtPayload: { iss: 'https://e', sub: 'bob', roles: 'admin', scp: ['x', 'y'], groups: ['not-me'] } }));
    assert.deepEqual(id, { subject: 'bob', issuer: 'https://e', groups: ['admin'], scopes: ['x', 'y'], claims: { iss: 'https://e', sub: 'bob', roles: 'admin', scp: ['x', 'y'], groups: ['not-me'] }, method: 'envoy_jwt_authn' });
  });

  it('envoy_jwt_authn alone: default claim names, and Bearer tokens it did not verify are refused', async () => {
    const auth = await authenticator({ envoy_jwt_authn: true });
    const id = assertIdentity(await auth.authenticate({ headers: {}, envoyJwtPayload: envoyPayload }));
    assert.deepEqual([id.groups, id.scopes, id.issuer], [['eng'], ['a', 'b'], 'https://envoy-verified.example.com']);
    assertFailure(await auth.authenticate(bearer(await sign(A))), 'invalid_token', /no JWT issuer/);
    assertFailure(await auth.authenticate({ headers: { authorization: 'ApiKey x' } }), 'invalid_api_key', /no api_keys/);
  });

  it('the anonymous identity', async () => {
    const auth = await authenticator({ anonymous: true });
    assert.deepEqual(assertIdentity(await auth.authenticate({ headers: {} })), { subject: 'anonymous', issuer: undefined, groups: [], scopes: [], claims: {}, method: 'anonymous' });
  });
});

// ---- config ------------------------------------------------------------------

describe('auth config', () => {
  const jwt = { issuer: ISS, audiences: [AUD], jwks_url: 'https://idp.example.com/jwks' };
  const key = { sha256: sha256('k'), subject: 's' };
  const bad: { name: string; raw: unknown; expect: RegExp }[] = [
    { name: 'HS256 in algorithms', raw: { jwt: { ...jwt, algorithms: ['RS256', 'HS256'] } }, expect: /^jwt\.algorithms\.1: "HS256" is refused: HMAC needs a shared secret/ },
    { name: 'none in algorithms', raw: { jwt: { ...jwt, algorithms: ['none'] } }, expect: /^jwt\.algorithms\.0: "none" is refused/ },
    { name: 'an unknown algorithm', raw: { jwt: { ...jwt, algorithms: ['RS257'] } }, expect: /^jwt\.algorithms\.0: unknown algorithm "RS257"; expected one of RS256/ },
    { name: 'no algorithms', raw: { jwt: { ...jwt, algorithms: [] } }, expect: /^jwt\.algorithms: at least one algorithm/ },
    { name: 'both jwks sources', raw: { jwt: { ...jwt, jwks_file: './jwks.json' } }, expect: /^jwt\.jwks_file: set one of jwks_url or jwks_file, not both/ },
    { name: 'neither jwks source', raw: { jwt: { issuer: ISS, audiences: [AUD] } }, expect: /^jwt: one of jwks_url or jwks_file is needed/ },
    { name: 'plain http to a remote host', raw: { jwt: { ...jwt, jwks_url: 'http://idp.example.com/jwks' } }, expect: /^jwt\.jwks_url: use https/ },
    { name: 'a JWKS URL that is no URL', raw: { jwt: { ...jwt, jwks_url: 'idp/jwks' } }, expect: /^jwt\.jwks_url: expected an absolute URL/ },
    { name: 'no audience', raw: { jwt: { ...jwt, audiences: [] } }, expect: /^jwt\.audiences: at least one audience/ },
    { name: 'no issuer', raw: { jwt: { audiences: [AUD], jwks_url: jwt.jwks_url } }, expect: /^jwt\.issuer: / },
    { name: 'a remote-only option with jwks_file', raw: { jwt: { issuer: ISS, audiences: [AUD], jwks_file: 'j.json', jwks_cooldown_s: 5 } }, expect: /^jwt\.jwks_cooldown_s: jwks_cooldown_s applies only to jwks_url/ },
    { name: 'a misspelt key', raw: { jwt: { ...jwt, audience: [AUD] } }, expect: /^jwt: .*"audience"/ },
    { name: 'a short sha256', raw: { api_keys: { keys: [{ ...key, sha256: 'abc123' }] } }, expect: /^api_keys\.keys\.0\.sha256: expected the SHA-256 of the key as 64 hex digits/ },
    { name: 'a sha256 that is not hex', raw: { api_keys: { keys: [{ ...key, sha256: 'g'.repeat(64) }] } }, expect: /^api_keys\.keys\.0\.sha256: expected the SHA-256/ },
    { name: 'the same hash twice (in any case)', raw: { api_keys: { keys: [key, { ...key, sha256: key.sha256.toUpperCase(), subject: 't' }] } }, expect: /^api_keys\.keys\.1\.sha256: the same key hash as entry 0/ },
    { name: 'a plaintext key', raw: { api_keys: { keys: [{ key: 'mcpk_live', subject: 's' }] } }, expect: /^api_keys\.keys\.0: .*"key"/ },
    { name: 'api_keys with no keys', raw: { api_keys: {} }, expect: /^api_keys: api_keys needs keys or a file/ },
    { name: 'Authorization as the API key header', raw: { api_keys: { header: 'Authorization', keys: [key] } }, expect: /^api_keys\.header: Authorization is already read/ },
    { name: 'nothing that could authenticate', raw: {}, expect: /^: no caller could ever authenticate/ },
    { name: 'anonymous that is not a boolean', raw: { anonymous: 'yes' }, expect: /^anonymous: / },
  ];
  for (const c of bad) {
    it(`refuses ${c.name}`, () => {
      const r = authSchema.safeParse(c.raw);
      assert.equal(r.success, false);
      const problems = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
      assert.ok(problems.some((p) => c.expect.test(p)), problems.join('\n'));
    });
  }

  it('named defaults fill a minimal section', () => {
    const c = normalizeAuth(authSchema.parse({ jwt, api_keys: { keys: [{ sha256: key.sha256.toUpperCase(), subject: 's' }] } }), '/etc/mcp');
    assert.deepEqual(c, {
      anonymous: false,
      envoyJwtAuthn: false,
      mtls: false,
      claims: { subject: 'sub', groups: 'groups', scopes: 'scope' },
      jwt: {
        issuer: ISS,
        audiences: [AUD],
        jwks: { kind: 'url', url: new URL(jwt.jwks_url), timeoutMs: AUTH_DEFAULTS.jwksTimeoutMs, cooldownMs: 30_000, refreshMs: 600_000 },
        algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'],
        clockSkewS: 30,
      },
      apiKeys: { header: 'x-api-key', keys: [{ sha256: key.sha256, subject: 's', groups: [], scopes: [] }], file: undefined },
    });
  });

  it('file paths are relative to the config file; http is fine for loopback', () => {
    const c = normalizeAuth(authSchema.parse({ jwt: { issuer: ISS, audiences: [AUD], jwks_file: 'keys/jwks.json' }, api_keys: { file: '/abs/keys.yaml' } }), '/etc/mcp');
    assert.deepEqual(c.jwt?.jwks, { kind: 'file', path: '/etc/mcp/keys/jwks.json' });
    assert.equal(c.apiKeys?.file, '/abs/keys.yaml');
    assert.ok(authSchema.safeParse({ jwt: { ...jwt, jwks_url: 'http://127.0.0.1:8080/jwks' } }).success);
    assert.ok(authSchema.safeParse({ jwt: { ...jwt, jwks_url: 'http://localhost/jwks' } }).success);
  });

  it('no auth section: everyone is anonymous, as before the section existed', () => {
    const c = normalizeAuth(undefined, '/etc/mcp');
    assert.deepEqual([c.anonymous, c.jwt, c.apiKeys, c.envoyJwtAuthn], [true, undefined, undefined, false]);
  });
});

// ---- WWW-Authenticate --------------------------------------------------------

describe('wwwAuthenticate', () => {
  const RM = 'https://gw.example.com/.well-known/oauth-protected-resource/mcp/everything';
  const cases: { name: string; params: Parameters<typeof wwwAuthenticate>[0]; expect: string }[] = [
    { name: 'no parameters', params: {}, expect: 'Bearer' },
    { name: 'resource metadata only (RFC 9728 §5.1)', params: { resourceMetadata: RM }, expect: `Bearer resource_metadata="${RM}"` },
    {
      name: 'all parameters, in a fixed order',
      params: { errorDescription: 'the token expired at 2026-01-01T00:00:00.000Z', error: 'invalid_token', scope: 'tools:call', resourceMetadata: RM },
      expect: `Bearer resource_metadata="${RM}", scope="tools:call", error="invalid_token", error_description="the token expired at 2026-01-01T00:00:00.000Z"`,
    },
    { name: 'insufficient_scope with several scopes, whitespace normalized', params: { error: 'insufficient_scope', scope: '  tools:call\tadmin  ' }, expect: 'Bearer scope="tools:call admin", error="insufficient_scope"' },
    { name: 'empty and undefined values are left out', params: { resourceMetadata: undefined, scope: '', error: 'invalid_token' }, expect: 'Bearer error="invalid_token"' },
    { name: 'quotes and backslashes in a URI are escaped; spaces and non-ASCII percent-encoded', params: { resourceMetadata: 'https://x/a"b\\c d/é' }, expect: 'Bearer resource_metadata="https://x/a\\"b\\\\c%20d/%C3%A9"' },
    {
      name: 'error_description cannot break out of its quotes or the header',
      params: { errorDescription: 'kid "x\\" was\r\nSet-Cookie: a=b \u00e9' },
      expect: `Bearer error_description="kid 'x/' was  Set-Cookie: a=b ?"`,
    },
  ];
  for (const c of cases) it(c.name, () => assert.equal(wwwAuthenticate(c.params), c.expect));

  it('any input yields one well-formed header value', () => {
    const param = '[a-z_]+="(?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\x21-\\x7e])*"';
    const wellFormed = new RegExp(`^Bearer(?: ${param}(?:, ${param})*)?$`);
    const text = fc.option(fc.string({ unit: 'binary', maxLength: 40 }), { nil: undefined });
    fc.assert(
      fc.property(text, text, text, text, (resourceMetadata, scope, error, errorDescription) => {
        const v = wwwAuthenticate({ resourceMetadata, scope, error, errorDescription });
        assert.match(v, wellFormed);
      }),
      { numRuns: 500 },
    );
  });
});
