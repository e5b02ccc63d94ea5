// Approval gates beneath the data path: the digest, the stores' transitions (memory and a
// real Redis, races included), the gate's life of a request, the policy's approval member,
// the sign-in cookies and the page's escaping.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { callDigest, type CallFacts } from '../../src/approvals/digest.js';
import { MemoryApprovalStore } from '../../src/approvals/memory-store.js';
import { RedisApprovalStore } from '../../src/approvals/redis-store.js';
import type { ApprovalStore } from '../../src/approvals/store.js';
import type { ApprovalFacts } from '../../src/approvals/record.js';
import { ApprovalGate, newApprovalId, type GatedCall } from '../../src/approvals/gate.js';
import { parseDecisionValue } from '../../src/policy/decision.js';
import { mayDecide } from '../../src/approvals/approvers.js';
import { CookieSigner, parseCookies, SIGN_IN_COOKIE, CSRF_COOKIE } from '../../src/approvals/cookies.js';
import { approvalPage, escapeHtml } from '../../src/approvals/page.js';
import { MemoryAuditSink } from '../../src/audit/sink.js';
import type { ApprovalsConfig } from '../../src/approvals/config.js';
import type { Identity } from '../../src/identity/types.js';
import { startRedis, type RunningRedis } from '../support/limit-services.js';

const call: CallFacts = { caller: 'api_key\0\0alice', server: 'pay', method: 'tools/call', target: { kind: 'tool', name: 'transfer' }, arguments: { amount: 900, to: 'acme' } };

describe('digest', () => {
  test('the same call is the same digest, whatever the key order', () => {
    assert.equal(callDigest(call), callDigest({ ...call, arguments: { to: 'acme', amount: 900 } }));
    assert.match(callDigest(call), /^sha256:[0-9a-f]{64}$/);
  });
  test('another caller, server, tool or argument value is another digest', () => {
    const d = callDigest(call);
    for (const other of [
      { ...call, caller: 'api_key\0\0bob' },
      { ...call, server: 'pay2' },
      { ...call, target: { kind: 'tool', name: 'transfer2' } },
      { ...call, arguments: { amount: 901, to: 'acme' } },
      { ...call, arguments: { amount: 900, to: 'acme', memo: '' } },
      { ...call, arguments: undefined },
    ]) assert.notEqual(callDigest(other), d);
  });
});

function facts(over: Partial<ApprovalFacts> = {}, now = 1_000_000): ApprovalFacts {
  return {
    id: newApprovalId(),
    digest: callDigest(call),
    caller: { key: call.caller, subject: 'alice', method: 'api_key', issuer: undefined },
    server: 'pay',
    method: 'tools/call',
    target: { kind: 'tool', name: 'transfer' },
    arguments: { amount: 900, to: 'acme', tags: [], extra: {} },
    reason: 'payment over 500',
    approvers: ['group:finance'],
    source: 'config',
    createdMs: now,
    expiresMs: now + 60_000,
    ...over,
  };
}

function storeSuite(name: string, make: () => ApprovalStore) {
  describe(`${name} store`, () => {
    let store: ApprovalStore;
    before(() => (store = make()));
    after(() => store.close());
    const t0 = 1_000_000;

    test('open creates one pending request per digest; a second open finds it', async () => {
      const f = facts({ digest: `sha256:${name}-a` });
      const a = await store.open(f, t0);
      assert.equal(a.created, true);
      assert.equal(a.record.status, 'pending');
      assert.deepEqual(a.record.arguments, { amount: 900, to: 'acme', tags: [], extra: {} }, 'arguments round-trip exactly (empty array and object kept)');
      const b = await store.open(facts({ digest: f.digest }), t0 + 1);
      assert.equal(b.created, false);
      assert.equal(b.record.id, f.id);
    });

    test('approve once, use once: then the digest is free for a new request', async () => {
      const f = facts({ digest: `sha256:${name}-b` });
      await store.open(f, t0);
      const d = await store.decide(f.id, 'approved', 'carol', 'ok', t0 + 10);
      assert.equal(d.ok, true);
      assert.equal(d.record?.decidedBy, 'carol');
      assert.equal((await store.decide(f.id, 'denied', 'dave', undefined, t0 + 11)).ok, false, 'a decision is final');
      assert.equal(await store.consume(f.id, f.digest, t0 + 20), true);
      assert.equal(await store.consume(f.id, f.digest, t0 + 21), false, 'used once');
      assert.equal((await store.get(f.id))?.status, 'used');
      const again = await store.open(facts({ digest: f.digest }), t0 + 30);
      assert.equal(again.created, true);
      assert.notEqual(again.record.id, f.id);
    });

    test('a pending request cannot be used; a denied one neither; release frees the digest', async () => {
      const f = facts({ digest: `sha256:${name}-c` });
      await store.open(f, t0);
      assert.equal(await store.consume(f.id, f.digest, t0 + 1), false);
      assert.equal((await store.decide(f.id, 'denied', 'carol', 'no', t0 + 2)).ok, true);
      assert.equal(await store.consume(f.id, f.digest, t0 + 3), false);
      const still = await store.open(facts({ digest: f.digest }), t0 + 4);
      assert.equal(still.record.id, f.id, 'the denial is reported until released');
      await store.release(f.id, f.digest);
      assert.equal((await store.open(facts({ digest: f.digest }), t0 + 5)).created, true);
    });

    test('past its TTL a request can neither be decided nor used', async () => {
      const f = facts({ digest: `sha256:${name}-d` });
      await store.open(f, t0);
      assert.equal((await store.decide(f.id, 'approved', 'carol', undefined, f.expiresMs)).ok, false);
      const g = facts({ digest: `sha256:${name}-e` });
      await store.open(g, t0);
      await store.decide(g.id, 'approved', 'carol', undefined, t0 + 1);
      assert.equal(await store.consume(g.id, g.digest, g.expiresMs + 1), false);
    });

    test('twenty concurrent uses of one approval: exactly one wins', async () => {
      const f = facts({ digest: `sha256:${name}-race` });
      await store.open(f, t0);
      await store.decide(f.id, 'approved', 'carol', undefined, t0 + 1);
      const wins = await Promise.all(Array.from({ length: 20 }, () => store.consume(f.id, f.digest, t0 + 2)));
      assert.equal(wins.filter(Boolean).length, 1);
    });

    test('ten concurrent first calls open one request', async () => {
      const digest = `sha256:${name}-open-race`;
      const opened = await Promise.all(Array.from({ length: 10 }, () => store.open(facts({ digest }), t0)));
      assert.equal(opened.filter((o) => o.created).length, 1);
      assert.equal(new Set(opened.map((o) => o.record.id)).size, 1);
    });

    test('URL-elicitation capable sessions are remembered', async () => {
      await store.markUrlCapable(`s-${name}`, 60_000);
      assert.equal(await store.isUrlCapable(`s-${name}`), true);
      assert.equal(await store.isUrlCapable(`other-${name}`), false);
    });
  });
}

let redis: RunningRedis;
before(async () => (redis = await startRedis()));
after(() => redis?.stop());
storeSuite('memory', () => new MemoryApprovalStore());
storeSuite('redis', () => new RedisApprovalStore({ url: redis.url, timeoutMs: 2000 }));

const CFG: ApprovalsConfig = { listen: { host: '127.0.0.1', port: 0 }, publicUrl: 'https://approvals.test', store: { kind: 'memory' }, allowSelfApproval: false, ttlS: 60, loginTtlS: 3600, webhook: undefined, servePage: true };
const alice: Identity = { subject: 'alice', issuer: undefined, groups: ['dev'], scopes: [], claims: {}, method: 'api_key' };
const carol: Identity = { subject: 'carol', issuer: undefined, groups: ['finance'], scopes: [], claims: {}, method: 'api_key' };

describe('gate', () => {
  const gated = (args: unknown): GatedCall => ({ identity: alice, server: 'pay', method: 'tools/call', target: { kind: 'tool', name: 'transfer' }, arguments: args, shownArguments: args, demand: { approvers: ['group:finance'], reason: 'payment', ttlS: undefined, source: 'config' } });

  test('pending → approved → passes once → the next identical call needs a new approval', async () => {
    let now = 5_000;
    const audit = new MemoryAuditSink();
    const gate = new ApprovalGate(CFG, new MemoryApprovalStore(), audit, () => {}, () => now);
    const first = await gate.check(gated({ amount: 1 }));
    assert.equal(first.kind, 'pending');
    if (first.kind !== 'pending') return;
    assert.equal(first.url, `https://approvals.test/approvals/${first.record.id}`);
    assert.equal(audit.events.at(-1)?.type, 'approval.requested');
    const retry = await gate.check(gated({ amount: 1 }));
    assert.equal(retry.kind === 'pending' && retry.record.id, first.record.id, 'a retry while pending: the same request');
    const other = await gate.check(gated({ amount: 2 }));
    assert.notEqual(other.kind === 'pending' && other.record.id, first.record.id, 'other arguments: another request');
    await gate.store.decide(first.record.id, 'approved', 'carol', undefined, ++now);
    assert.equal((await gate.check(gated({ amount: 2 }))).kind, 'pending', 'the approval does not cover other arguments');
    assert.equal((await gate.check(gated({ amount: 1 }))).kind, 'pass');
    assert.equal(audit.events.at(-1)?.type, 'approval.used');
    const next = await gate.check(gated({ amount: 1 }));
    assert.ok(next.kind === 'pending' && next.record.id !== first.record.id, 'used once: a new request');
  });

  test('denied and expired are final once, then the call may ask again', async () => {
    let now = 5_000;
    const gate = new ApprovalGate(CFG, new MemoryApprovalStore(), new MemoryAuditSink(), () => {}, () => now);
    const a = await gate.check(gated({ x: 1 }));
    assert.ok(a.kind === 'pending');
    await gate.store.decide(a.record.id, 'denied', 'carol', 'too much', now);
    const d = await gate.check(gated({ x: 1 }));
    assert.ok(d.kind === 'final' && d.state === 'denied' && d.record.comment === 'too much');
    assert.equal((await gate.check(gated({ x: 1 }))).kind, 'pending');
    const b = await gate.check(gated({ y: 1 }));
    now += 61_000;
    const e = await gate.check(gated({ y: 1 }));
    assert.ok(b.kind === 'pending' && e.kind === 'final' && e.state === 'expired');
  });

  test('a store that fails makes the gate say unavailable (the step fails closed)', async () => {
    const broken = new MemoryApprovalStore();
    broken.open = () => Promise.reject(new Error('down'));
    const gate = new ApprovalGate(CFG, broken, new MemoryAuditSink(), () => {});
    assert.deepEqual(await gate.check(gated({})), { kind: 'unavailable', message: 'down' });
  });
});

describe('who may decide', () => {
  const record = { ...facts(), status: 'pending' as const, decidedBy: undefined, decidedMs: undefined, comment: undefined, usedMs: undefined };
  test('a named group or subject may; anyone else may not; the caller may not unless allowed', () => {
    assert.equal(mayDecide(carol, record, false).ok, true);
    assert.equal(mayDecide({ ...carol, groups: [] }, record, false).ok, false);
    assert.equal(mayDecide({ ...carol, groups: [] }, { ...record, approvers: ['subject:carol'] }, false).ok, true);
    const self = { ...alice, groups: ['finance'] };
    assert.match((mayDecide(self, record, false) as { why: string }).why, /someone else/);
    assert.equal(mayDecide(self, record, true).ok, true);
  });
});

describe('policy approval member', () => {
  test('a well-formed demand is carried with an allow', () => {
    const d = parseDecisionValue({ allowed: true, approval: { required: true, approvers: ['group:finance'], reason: 'over 500', ttl_s: 120 } });
    assert.equal(d.allowed, true);
    assert.deepEqual(d.approval, { approvers: ['group:finance'], reason: 'over 500', ttlS: 120, source: 'policy' });
    assert.equal(parseDecisionValue({ allowed: true, approval: { required: false } }).approval, undefined);
  });
  for (const [what, approval] of [
    ['no approvers', { required: true }],
    ['a bad approver', { required: true, approvers: ['finance'] }],
    ['an unknown key', { required: true, approvers: ['group:x'], who: 1 }],
    ['a bad ttl', { required: true, approvers: ['group:x'], ttl_s: 0 }],
    ['not an object', true],
  ] as const) {
    test(`a malformed demand (${what}) denies`, () => {
      const d = parseDecisionValue({ allowed: true, approval });
      assert.equal(d.allowed, false);
      assert.match(d.error ?? '', /"approval"/);
    });
  }
});

describe('sign-in cookies', () => {
  const signer = new CookieSigner(Buffer.alloc(32, 7), true);
  test('a signed sign-in reads back; a tampered or expired one does not', () => {
    const header = signer.signIn(carol, 60, 1000);
    assert.match(header, /HttpOnly; SameSite=Strict; Secure$/);
    const value = header.split(';')[0]!.slice(SIGN_IN_COOKIE.length + 1);
    assert.equal(signer.approver(new Map([[SIGN_IN_COOKIE, value]]), 2000)?.subject, 'carol');
    assert.equal(signer.approver(new Map([[SIGN_IN_COOKIE, value]]), 61_001), undefined);
    const [body, mac] = value.split('.');
    const forged = Buffer.from(JSON.stringify({ subject: 'mallory', method: 'api_key', groups: ['finance'], expMs: 9e15 })).toString('base64url');
    assert.equal(signer.approver(new Map([[SIGN_IN_COOKIE, `${forged}.${mac}`]]), 2000), undefined);
    assert.equal(signer.approver(new Map([[SIGN_IN_COOKIE, `${body}.x${mac!.slice(1)}`]]), 2000), undefined);
    assert.equal(new CookieSigner(Buffer.alloc(32, 8), true).approver(new Map([[SIGN_IN_COOKIE, value]]), 2000), undefined, 'another key');
  });
  test('the CSRF token is bound to the browser cookie', () => {
    const { value } = signer.newCsrf();
    const cookies = parseCookies(`a=b; ${CSRF_COOKIE}=${value}`);
    assert.equal(signer.csrfValid(cookies, signer.csrfToken(value)), true);
    assert.equal(signer.csrfValid(cookies, signer.csrfToken('other')), false);
    assert.equal(signer.csrfValid(new Map(), signer.csrfToken(value)), false);
    assert.equal(signer.csrfValid(cookies, undefined), false);
  });
});

describe('page', () => {
  test('everything from callers, upstreams and policies is escaped', () => {
    const evil = '<script>alert(1)</script>"\'&';
    const record = {
      ...facts({ target: { kind: 'tool', name: evil }, arguments: { [evil]: evil }, reason: evil, approvers: [`group:${evil}`], caller: { key: 'k', subject: evil, method: 'api_key', issuer: evil } }),
      status: 'denied' as const, decidedBy: evil, decidedMs: 1, comment: evil, usedMs: undefined,
    };
    const html = approvalPage({ record, nowMs: 0, viewer: undefined, notAllowed: undefined, details: true, csrf: evil, notice: evil });
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /"'&<\/script>/);
    assert.ok(html.includes(escapeHtml(evil)));
    assert.equal(escapeHtml(`<a href="x" onclick='y'>&`), '&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;');
  });
  test('a pending request shows only its status and the sign-in form; a signed-in approver the details and the decision form with the CSRF token', () => {
    const record = { ...facts(), status: 'pending' as const, decidedBy: undefined, decidedMs: undefined, comment: undefined, usedMs: undefined };
    const anonymous = approvalPage({ record, nowMs: record.createdMs, viewer: undefined, notAllowed: undefined, details: false, csrf: 'tok' });
    assert.match(anonymous, /name="credential"/);
    assert.doesNotMatch(anonymous, /acme|alice|transfer/, 'the URL alone shows no details');
    const viewer = { subject: 'carol', method: 'api_key' as const, issuer: undefined, groups: ['finance'], expMs: 9e15 };
    const html = approvalPage({ record, nowMs: record.createdMs, viewer, notAllowed: undefined, details: true, csrf: 'tok' });
    assert.match(html, /acme/);
    assert.match(html, /value="approve"/);
    assert.match(html, /name="csrf" value="tok"/);
    assert.doesNotMatch(approvalPage({ record, nowMs: record.expiresMs, viewer, notAllowed: undefined, details: true, csrf: 'tok' }), /value="approve"/, 'expired: no decision form');
  });
});
