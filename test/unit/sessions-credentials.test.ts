import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SessionBinder, callerKey } from '../../src/sessions/binding.js';
import { parseXfcc } from '../../src/identity/xfcc.js';
import { TokenExchanger, TokenExchangeError } from '../../src/credentials/token-exchange.js';

const k1 = Buffer.alloc(32, 1);
const k2 = Buffer.alloc(32, 2);
const alice = callerKey({ method: 'jwt', issuer: 'https://as', subject: 'alice' });
const bob = callerKey({ method: 'jwt', issuer: 'https://as', subject: 'bob' });

test('a sealed session opens for its caller and server only', () => {
  const b = new SessionBinder([k1], 3600);
  const sealed = b.seal('upstream-123', alice, 'tools');
  assert.match(sealed, /^[\x21-\x7e]+$/, 'visible ASCII, as the spec requires of session ids');
  assert.deepEqual(b.open(sealed, alice, 'tools'), { ok: true, upstreamId: 'upstream-123' });
  assert.equal((b.open(sealed, bob, 'tools') as { reason: string }).reason, 'session_foreign');
  assert.equal((b.open(sealed, alice, 'other') as { reason: string }).reason, 'session_foreign');
  assert.equal((b.open('upstream-123', alice, 'tools') as { reason: string }).reason, 'session_malformed');
  const parts = sealed.split('.');
  parts[2] = Buffer.from('upstream-999').toString('base64url');
  assert.equal((b.open(parts.join('.'), alice, 'tools') as { reason: string }).reason, 'session_malformed', 'a changed upstream id breaks the MAC');
});

test('the same caller through envoy jwt_authn or direct JWT owns the same sessions', () => {
  assert.equal(callerKey({ method: 'envoy_jwt_authn', issuer: 'i', subject: 's' }), callerKey({ method: 'jwt', issuer: 'i', subject: 's' }));
});

test('sessions expire, and keys rotate (old key still verifies, new key signs)', () => {
  let now = 1_000_000_000_000;
  const old = new SessionBinder([k1], 60, () => now);
  const sealed = old.seal('u', alice, 'tools');
  const rotated = new SessionBinder([k2, k1], 60, () => now);
  assert.equal(rotated.open(sealed, alice, 'tools').ok, true);
  assert.equal(new SessionBinder([k2], 60, () => now).open(sealed, alice, 'tools').ok, false);
  now += 61_000;
  assert.equal((rotated.open(sealed, alice, 'tools') as { reason: string }).reason, 'session_expired');
});

test('XFCC: URI, subject with escaped quotes, DNS, hash; the last element wins', () => {
  const c = parseXfcc('By=spiffe://gw;Hash=abc;Subject="CN=a\\"b,O=x";URI=spiffe://example.org/agent-1;DNS=a.example;DNS=b.example');
  assert.deepEqual(c, { uri: ['spiffe://example.org/agent-1'], subject: 'CN=a"b,O=x', dns: ['a.example', 'b.example'], hash: 'abc' });
  assert.deepEqual(parseXfcc('URI=spiffe://first,URI=spiffe://second')?.uri, ['spiffe://second']);
  assert.equal(parseXfcc(''), undefined);
  assert.equal(parseXfcc('By=x'), undefined);
});

test('token exchange: RFC 8693 request, cached until expiry, concurrent callers share one exchange', async () => {
  const requests: URLSearchParams[] = [];
  let authHeader = '';
  const as = createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    const p = new URLSearchParams(body);
    requests.push(p);
    authHeader = req.headers.authorization ?? '';
    if (p.get('subject_token') === 'bad') {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `up-${p.get('subject_token')}-${requests.length}`, token_type: 'Bearer', expires_in: 120, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' }));
  });
  await new Promise<void>((r) => as.listen(0, '127.0.0.1', r));
  let now = 0;
  const x = new TokenExchanger({ tokenEndpoint: `http://127.0.0.1:${(as.address() as AddressInfo).port}/token`, clientId: 'gw', clientSecret: 's3cret', audience: 'https://up/mcp', scope: 'read', timeoutMs: 2000 }, () => now);
  try {
    const [a, b] = await Promise.all([x.exchange('caller-1'), x.exchange('caller-1')]);
    assert.equal(a, 'up-caller-1-1');
    assert.equal(b, a);
    assert.equal(requests.length, 1, 'one exchange for concurrent requests');
    const r = requests[0]!;
    assert.equal(r.get('grant_type'), 'urn:ietf:params:oauth:grant-type:token-exchange');
    assert.equal(r.get('subject_token_type'), 'urn:ietf:params:oauth:token-type:access_token');
    assert.equal(r.get('resource'), 'https://up/mcp');
    assert.equal(r.get('audience'), 'https://up/mcp');
    assert.equal(r.get('scope'), 'read');
    assert.equal(authHeader, `Basic ${Buffer.from('gw:s3cret').toString('base64')}`);
    assert.equal(await x.exchange('caller-1'), a, 'cached');
    assert.equal(await x.exchange('caller-2'), 'up-caller-2-2', 'each caller its own token');
    now += 91_000; // 120 s minus the 30 s margin
    assert.equal(await x.exchange('caller-1'), 'up-caller-1-3', 'refreshed before expiry');
    await assert.rejects(x.exchange('bad'), (e: unknown) => e instanceof TokenExchangeError && e.refused);
  } finally {
    as.close();
  }
});
