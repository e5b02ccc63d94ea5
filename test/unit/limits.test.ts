// The limits concern beneath the data path: which limits match a request, the counter keys,
// fixed-window math and Retry-After, in-process rates and slots, the limits step's refusal,
// policy-named limits in decisions, the ratelimit service config, and config validation.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, ConfigError } from '../../src/config/load.js';
import { compileLimit } from '../../src/limits/match.js';
import { msUntilReset, retryAfterSeconds, windowStart } from '../../src/limits/window.js';
import { LocalRates } from '../../src/limits/local-rates.js';
import { LocalConcurrency } from '../../src/limits/local-concurrency.js';
import { HeldSlots, heldKey } from '../../src/limits/held-slots.js';
import { Limiter, type LimiterBackends } from '../../src/limits/limiter.js';
import { descriptorOf, descriptorValue } from '../../src/limits/rls-client.js';
import { rateLimitServiceConfig } from '../../src/limits/ratelimit-config.js';
import { decide } from '../../src/gateway/limits-step.js';
import { refusalBody } from '../../src/gateway/refusal.js';
import { emptyAuditEvent } from '../../src/audit/event.js';
import { parseDecisionValue } from '../../src/policy/decision.js';
import type { Identity } from '../../src/identity/types.js';
import type { LimitFacts, RateCounter } from '../../src/limits/types.js';

const who = (subject: string, extra: Partial<Identity> = {}): Identity => ({ subject, issuer: undefined, groups: [], scopes: [], claims: {}, method: 'api_key', ...extra });
const facts = (over: Partial<LimitFacts> = {}): LimitFacts => ({ server: 'tools', method: 'tools/call', target: { kind: 'tool', name: 'search' }, identity: who('alice'), ...over });

function configWith(limits: unknown[], extra = ''): ReturnType<typeof parseConfig> {
  const yaml = `servers:\n  - name: tools\n    url: http://127.0.0.1:1/mcp\n  - name: docs\n    url: http://127.0.0.1:2/mcp\nrate_limits: ${JSON.stringify(limits)}\n${extra}`;
  return parseConfig(yaml, '<limits test>');
}
const limitsOf = (limits: unknown[]) => configWith(limits).limits.limits.map(compileLimit);

describe('matching and keys', () => {
  const cases: [string, Record<string, unknown>, Partial<LimitFacts>, boolean][] = [
    ['no match section: every request', {}, {}, true],
    ['server glob', { servers: ['tools'] }, { server: 'docs' }, false],
    ['method', { methods: ['tools/call'] }, { method: 'prompts/get', target: { kind: 'prompt', name: 'search' } }, false],
    ['tool glob', { tools: ['sea*'] }, {}, true],
    ['tools only match tool targets', { tools: ['search'] }, { method: 'prompts/get', target: { kind: 'prompt', name: 'search' } }, false],
    ['tools need a target', { tools: ['*'] }, { method: 'tools/list', target: undefined }, false],
    ['prompt glob', { prompts: ['summ*'] }, { method: 'prompts/get', target: { kind: 'prompt', name: 'summarize' } }, true],
    ['resource glob', { resources: ['file:///docs/*'] }, { method: 'resources/read', target: { kind: 'resource', name: 'file:///docs/a.md' } }, true],
    ['subject', { subjects: ['bot-*'] }, { identity: who('bot-7') }, true],
    ['subject other', { subjects: ['bot-*'] }, {}, false],
    ['any group', { groups: ['free'] }, { identity: who('x', { groups: ['paid', 'free'] }) }, true],
    ['auth method', { auth_methods: ['jwt'] }, {}, false],
    ['claim', { claims: { tenant: ['acme'] } }, { identity: who('x', { method: 'jwt', claims: { tenant: 'acme' } }) }, true],
    ['claim absent', { claims: { tenant: ['*'] } }, {}, false],
    ['all fields must match', { tools: ['search'], subjects: ['bob'] }, {}, false],
  ];
  for (const [name, match, f, expected] of cases) {
    test(name, () => {
      const [l] = limitsOf([{ name: 'l', match, requests_per_unit: 1, unit: 'second' }]);
      assert.equal(l!.matches(facts(f)), expected);
    });
  }

  test('key values follow the key, in order; a missing claim means the request is not counted', () => {
    const [l] = limitsOf([{ name: 'l', key: ['claim:tenant', 'caller', 'server', 'tool', 'method'], requests_per_unit: 1, unit: 'second' }]);
    assert.deepEqual(l!.values(facts({ identity: who('bob', { claims: { tenant: 'acme' } }) })), ['acme', 'bob', 'tools', 'search', 'tools/call']);
    assert.equal(l!.values(facts()), undefined);
    const [n] = limitsOf([{ name: 'n', key: ['claim:org'], requests_per_unit: 1, unit: 'second' }]);
    assert.deepEqual(n!.values(facts({ identity: who('bob', { claims: { org: 42 } }) })), ['42']);
    assert.equal(n!.values(facts({ identity: who('bob', { claims: { org: { nested: 1 } } }) })), undefined);
    const [t] = limitsOf([{ name: 't', key: ['tool'], requests_per_unit: 1, unit: 'second' }]);
    assert.deepEqual(t!.values(facts({ method: 'tools/list', target: undefined })), ['']);
    // A value over 256 characters counts under its digest: bounded keys, still one counter per value.
    const long = (c: string) => t!.values(facts({ target: { kind: 'tool', name: c.repeat(300) } }))![0]!;
    assert.match(long('a'), /^sha256:[0-9a-f]{64}$/);
    assert.equal(long('a'), long('a'));
    assert.notEqual(long('a'), long('b'));
    assert.equal(t!.values(facts({ target: { kind: 'tool', name: 'x'.repeat(256) } }))![0], 'x'.repeat(256));
  });
});

describe('fixed windows and Retry-After', () => {
  test('windows are aligned to the epoch', () => {
    assert.equal(windowStart(61_500, 60_000), 60_000);
    assert.equal(windowStart(60_000, 60_000), 60_000);
    assert.equal(msUntilReset(61_500, 60_000), 58_500);
    assert.equal(msUntilReset(59_999, 60_000), 1);
  });
  test('Retry-After is whole seconds, rounded up, at least 1', () => {
    assert.equal(retryAfterSeconds(1), 1);
    assert.equal(retryAfterSeconds(1000), 1);
    assert.equal(retryAfterSeconds(1001), 2);
    assert.equal(retryAfterSeconds(0), 1);
    assert.equal(retryAfterSeconds(58_500), 59);
  });
});

const counter = (over: Partial<RateCounter> = {}): RateCounter => ({ limit: 'l', source: 'config', dimensions: ['caller'], values: ['alice'], requestsPerUnit: 3, unit: 'minute', shadow: false, ...over });

describe('in-process rates', () => {
  test('exactly N per window, then refused with the time to the window end; a new window starts afresh', () => {
    let now = 120_000 + 15_000;
    const rates = new LocalRates(() => now);
    const results = Array.from({ length: 5 }, () => rates.take([counter()]).hit);
    assert.deepEqual(results.map((h) => h === undefined), [true, true, true, false, false]);
    assert.deepEqual(results[3], { limit: 'l', source: 'config', kind: 'rate', shadow: false, retryAfterMs: 45_000 });
    now = 180_000;
    assert.equal(rates.take([counter()]).hit, undefined);
  });
  test('keys are independent', () => {
    const rates = new LocalRates(() => 1000);
    for (let i = 0; i < 3; i++) rates.take([counter()]);
    assert.ok(rates.take([counter()]).hit);
    assert.equal(rates.take([counter({ values: ['bob'] })]).hit, undefined);
    assert.equal(rates.take([counter({ limit: 'other' })]).hit, undefined);
  });
  test('a refused request counts against none of its limits', () => {
    const rates = new LocalRates(() => 1000);
    const tight = counter({ limit: 'tight', requestsPerUnit: 1 });
    const loose = counter({ limit: 'loose', requestsPerUnit: 2 });
    assert.equal(rates.take([loose, tight]).hit, undefined);
    assert.equal(rates.take([loose, tight]).hit?.limit, 'tight');
    // loose has one left: the refused request did not take it.
    assert.equal(rates.take([loose]).hit, undefined);
    assert.equal(rates.take([loose]).hit?.limit, 'loose');
  });
  test('a shadow limit over its rate is reported and lets the request through', () => {
    const rates = new LocalRates(() => 1000);
    const s = counter({ shadow: true, requestsPerUnit: 1 });
    assert.deepEqual(rates.take([s]), { hit: undefined, shadowed: [] });
    const r = rates.take([s]);
    assert.equal(r.hit, undefined);
    assert.equal(r.shadowed[0]?.limit, 'l');
  });
  test('ended windows are forgotten, live ones never', () => {
    let now = 1000;
    const rates = new LocalRates(() => now);
    rates.take([counter({ unit: 'second' })]);
    const daily = counter({ limit: 'daily', unit: 'day', requestsPerUnit: 1 });
    rates.take([daily]);
    assert.equal(rates.size, 2);
    // A minute on: the second's window has ended, the day's has not (and still counts).
    now += 60_000;
    rates.take([counter({ values: ['other'] })]);
    assert.equal(rates.size, 2);
    assert.equal(rates.take([daily]).hit?.limit, 'daily');
    now += 2 * 86_400_000;
    rates.take([counter({ values: ['third'] })]);
    assert.equal(rates.size, 1);
  });
});

describe('in-process concurrency', () => {
  test('at most max in flight per key; a release frees a slot, once', () => {
    const c = new LocalConcurrency();
    const slot = { limit: 'cap', values: ['alice'], max: 2, shadow: false };
    const a = c.take([slot]);
    const b = c.take([slot]);
    const d = c.take([slot]);
    assert.ok('lease' in a && 'lease' in b);
    assert.ok('hit' in d);
    assert.equal(d.hit.kind, 'concurrency');
    assert.ok('lease' in c.take([{ ...slot, values: ['bob'] }]));
    a.lease.release();
    a.lease.release();
    assert.equal(c.inFlightOf('cap', ['alice']), 1);
    assert.ok('lease' in c.take([slot]));
  });
});

function limiterFor(limits: unknown[], rates: LimiterBackends['rates'] = new LocalRates(), failOpen = false): Limiter {
  const section = configWith(limits).limits;
  return new Limiter(section, { rates, ratesFailOpen: failOpen, concurrency: new LocalConcurrency(), concurrencyFailOpen: false, close: async () => {} });
}

describe('the limiter', () => {
  test('a request no limit matches is decided synchronously and holds nothing', () => {
    const l = limiterFor([{ name: 'docs', match: { servers: ['docs'] }, requests_per_unit: 1, unit: 'second' }]);
    const o = l.check(facts(), []);
    assert.ok(!(o instanceof Promise));
    assert.equal(o.kind, 'pass');
  });
  test('policy-named limits count under their own key', () => {
    const l = limiterFor([]);
    const p = [{ key: 'tenant-acme', requestsPerUnit: 1, unit: 'minute' as const, shadow: false }];
    assert.equal((l.check(facts(), p) as { kind: string }).kind, 'pass');
    const o = l.check(facts({ identity: who('bob') }), p);
    assert.ok(!(o instanceof Promise) && o.kind === 'limited');
    assert.equal(o.hit.limit, 'policy:tenant-acme');
    assert.equal(o.hit.source, 'policy');
  });
  test('stream caps count open GET streams only; request limits never count a stream', () => {
    const l = limiterFor([
      { name: 'streams', key: ['caller'], concurrency: 1, streams: true },
      { name: 'calls', key: ['caller'], concurrency: 1 },
    ]);
    assert.ok(l.capsStreams);
    const first = l.checkStream(facts());
    assert.ok(!(first instanceof Promise) && first.kind === 'pass');
    const second = l.checkStream(facts());
    assert.ok(!(second instanceof Promise) && second.kind === 'limited');
    assert.equal(second.hit.limit, 'streams');
    // The request cap is untouched by the open stream, and the stream cap by the call.
    const call = l.check(facts(), []);
    assert.ok(!(call instanceof Promise) && call.kind === 'pass');
    first.lease.release();
    assert.equal((l.checkStream(facts()) as { kind: string }).kind, 'pass');
    assert.equal(limiterFor([{ name: 'calls', concurrency: 1 }]).capsStreams, false);
  });
  test('a rates backend that fails: closed refuses as unavailable, open lets through', async () => {
    const down = { take: () => Promise.reject(new Error('connection refused')) };
    const limits = [{ name: 'l', requests_per_unit: 1, unit: 'second' }];
    const closed = await limiterFor(limits, down, false).check(facts(), []);
    assert.deepEqual({ kind: closed.kind, failOpen: (closed as { failOpen: boolean }).failOpen }, { kind: 'unavailable', failOpen: false });
    const open = await limiterFor(limits, down, true).check(facts(), []);
    assert.deepEqual({ kind: open.kind, failOpen: (open as { failOpen: boolean }).failOpen }, { kind: 'unavailable', failOpen: true });
  });
});

describe('the refusal', () => {
  test('429, Retry-After, JSON-RPC error with the id, reason, limit and retry_after_ms; audited', () => {
    const ev = emptyAuditEvent();
    const s = decide({ kind: 'limited', hit: { limit: 'per-caller', source: 'config', kind: 'rate', shadow: false, retryAfterMs: 1500 }, shadowed: [] }, 7, ev);
    assert.ok(s.refusal);
    assert.equal(s.refusal.httpStatus, 429);
    assert.deepEqual(s.refusal.headers, [['retry-after', '2']]);
    assert.deepEqual(JSON.parse(refusalBody(s.refusal)), {
      jsonrpc: '2.0',
      id: 7,
      error: { code: -32029, message: 'Rate limit "per-caller" exceeded; retry after 2 s', data: { limit: 'per-caller', retry_after_ms: 1500, reason: 'rate_limited' } },
    });
    assert.deepEqual(ev.rate_limit, { limit: 'per-caller', kind: 'rate', shadow: false, retry_after_ms: 1500 });
  });
  test('shadow: passes, audited as would_rate_limit', () => {
    const ev = emptyAuditEvent();
    const s = decide({ kind: 'pass', lease: { release() {} }, shadowed: [{ limit: 'trial', source: 'config', kind: 'rate', shadow: true, retryAfterMs: 10 }] }, 'a', ev);
    assert.equal(s.refusal, undefined);
    assert.equal(ev.reason, 'would_rate_limit');
    assert.deepEqual(ev.rate_limit, { limit: 'trial', kind: 'rate', shadow: true, retry_after_ms: 10 });
  });
  test('backend down, closed: 503 with Retry-After; open: passes, noted', () => {
    const ev = emptyAuditEvent();
    const s = decide({ kind: 'unavailable', backend: 'redis', message: 'x', failOpen: false, lease: { release() {} }, shadowed: [] }, 1, ev);
    assert.equal(s.refusal?.reason, 'rate_limit_unavailable');
    assert.equal(s.refusal?.httpStatus, 503);
    const ev2 = emptyAuditEvent();
    assert.equal(decide({ kind: 'unavailable', backend: 'service', message: 'x', failOpen: true, lease: { release() {} }, shadowed: [] }, 1, ev2).refusal, undefined);
    assert.deepEqual(ev2.rate_limit, { unavailable: 'service', fail_open: true });
  });
});

describe('policy-named limits in a decision', () => {
  test('parsed strictly', () => {
    const ok = parseDecisionValue({ allowed: true, rate_limits: [{ key: 'acme', requests_per_unit: 5, unit: 'minute' }, { key: 'b', requests_per_unit: 1, unit: 'day', shadow: true }] });
    assert.equal(ok.error, undefined);
    assert.deepEqual(ok.rateLimits, [
      { key: 'acme', requestsPerUnit: 5, unit: 'minute', shadow: false },
      { key: 'b', requestsPerUnit: 1, unit: 'day', shadow: true },
    ]);
    for (const bad of [
      { rate_limits: 'acme' },
      { rate_limits: [{ key: '', requests_per_unit: 5, unit: 'minute' }] },
      { rate_limits: [{ key: 'a', requests_per_unit: 0, unit: 'minute' }] },
      { rate_limits: [{ key: 'a', requests_per_unit: 1.5, unit: 'minute' }] },
      { rate_limits: [{ key: 'a', requests_per_unit: 1, unit: 'week' }] },
      { rate_limits: [{ key: 'a', requests_per_unit: 1, unit: 'minute', burst: 3 }] },
      { rate_limits: [{ key: 'a', requests_per_unit: 1, unit: 'minute', shadow: 'yes' }] },
      { rate_limits: Array.from({ length: 9 }, (_, i) => ({ key: `k${i}`, requests_per_unit: 1, unit: 'minute' })) },
    ]) {
      const d = parseDecisionValue({ allowed: true, ...bad });
      assert.equal(d.allowed, false, JSON.stringify(bad));
      assert.ok(d.error?.includes('rate_limits'), d.error);
      assert.deepEqual(d.rateLimits, []);
    }
  });
});

describe('the rate-limit service', () => {
  test('descriptors: the limit entry, then one entry per dimension; values escaped; policy limits carry their rate', () => {
    assert.deepEqual(descriptorOf(counter({ dimensions: ['caller', 'tool'], values: ['a_b', 'c%d'] })), {
      entries: [{ key: 'limit', value: 'l' }, { key: 'caller', value: 'a%5Fb' }, { key: 'tool', value: 'c%25d' }],
    });
    assert.deepEqual(descriptorOf(counter({ limit: 'policy:x', source: 'policy', dimensions: ['policy'], values: ['x'], unit: 'hour', requestsPerUnit: 9 })), {
      entries: [{ key: 'policy', value: 'x' }],
      limit: { requests_per_unit: 9, unit: 'HOUR' },
    });
    assert.notEqual(descriptorValue('a_b') + '_' + descriptorValue('c'), descriptorValue('a') + '_' + descriptorValue('b_c'));
  });
  test('its config: one tree per rate limit, nested by key, rate on the leaf; concurrency caps left out', () => {
    const c = configWith(
      [
        { name: 'per-caller', key: ['caller'], requests_per_unit: 100, unit: 'minute' },
        { name: 'per-tool', key: ['caller', 'tool'], requests_per_unit: 2, unit: 'second' },
        { name: 'global', requests_per_unit: 1000, unit: 'day' },
        { name: 'cap', concurrency: 2 },
      ],
      'rate_limit_service:\n  address: 127.0.0.1:8081\n  domain: edge',
    );
    assert.deepEqual(rateLimitServiceConfig(c), {
      domain: 'edge',
      descriptors: [
        { key: 'limit', value: 'per-caller', descriptors: [{ key: 'caller', rate_limit: { unit: 'minute', requests_per_unit: 100 } }] },
        { key: 'limit', value: 'per-tool', descriptors: [{ key: 'caller', descriptors: [{ key: 'tool', rate_limit: { unit: 'second', requests_per_unit: 2 } }] }] },
        { key: 'limit', value: 'global', rate_limit: { unit: 'day', requests_per_unit: 1000 } },
      ],
    });
  });
});

describe('configuration', () => {
  const problems = (limits: unknown[], extra = ''): string[] => {
    try {
      configWith(limits, extra);
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems.map((p) => `${p.path}: ${p.message}`);
    }
  };
  test('defaults', () => {
    const c = configWith([{ name: 'a', requests_per_unit: 1, unit: 'second' }], 'rate_limit_service:\n  address: 127.0.0.1:8081\nredis:\n  url: redis://127.0.0.1:6379');
    assert.deepEqual(c.limits.service, { address: { host: '127.0.0.1', port: 8081 }, domain: 'mcp-gateway', timeoutMs: 100, failureMode: 'closed' });
    assert.deepEqual(c.limits.redis, { url: 'redis://127.0.0.1:6379', timeoutMs: 100, leaseTtlMs: 30_000, failureMode: 'closed' });
    assert.equal(c.limits.limits[0]!.shadow, false);
  });
  const bad: [string, unknown[], string][] = [
    ['rate and concurrency', [{ name: 'a', requests_per_unit: 1, unit: 'second', concurrency: 1 }], 'rate_limits[0]: set either'],
    ['neither', [{ name: 'a' }], 'rate_limits[0]: set either'],
    ['rate without unit', [{ name: 'a', requests_per_unit: 1 }], 'rate_limits[0]: a rate needs both'],
    ['duplicate name', [{ name: 'a', concurrency: 1 }, { name: 'a', concurrency: 1 }], 'rate_limits[1].name: duplicate'],
    ['unknown server', [{ name: 'a', concurrency: 1, match: { servers: ['nope'] } }], 'rate_limits[0].match.servers[0]: no server'],
    ['two item kinds', [{ name: 'a', concurrency: 1, match: { tools: ['x'], prompts: ['y'] } }], 'rate_limits[0].match: a request addresses one kind'],
    ['bad dimension', [{ name: 'a', concurrency: 1, key: ['ip'] }], 'rate_limits[0].key[0]: expected caller'],
    ['repeated dimension', [{ name: 'a', concurrency: 1, key: ['caller', 'caller'] }], 'rate_limits[0].key: "caller" is listed twice'],
    ['unknown unit', [{ name: 'a', requests_per_unit: 1, unit: 'week' }], 'rate_limits[0].unit'],
    ['unknown key', [{ name: 'a', concurrency: 1, burst: 2 }], 'rate_limits[0].burst: unknown key'],
    ['a stream cap with a rate', [{ name: 'a', requests_per_unit: 1, unit: 'second', streams: true }], 'rate_limits[0].streams: streams: true caps open GET streams'],
    ['a stream cap matching tools', [{ name: 'a', concurrency: 1, streams: true, match: { tools: ['x'] } }], 'rate_limits[0].match: a GET stream carries no JSON-RPC message: tools'],
    ['a stream cap keyed by tool', [{ name: 'a', concurrency: 1, streams: true, key: ['caller', 'tool'] }], 'rate_limits[0].key: a GET stream carries no JSON-RPC message: tool'],
  ];
  for (const [name, limits, expected] of bad) {
    test(`refused: ${name}`, () => {
      const p = problems(limits);
      assert.ok(p.some((x) => x.startsWith(expected)), p.join('\n'));
    });
  }
  test('refused: a failure mode that is neither open nor closed', () => {
    const p = problems([], 'rate_limit_service:\n  address: 127.0.0.1:8081\n  failure_mode: maybe');
    assert.ok(p.some((x) => x.startsWith('rate_limit_service.failure_mode')), p.join('\n'));
  });
});

describe('slots held by requests in flight, for cancellations', () => {
  test('a cancellation releases the request\'s slots once, and only with the same server, session, caller and id', () => {
    const c = new LocalConcurrency();
    const slot = { limit: 'cap', values: ['alice'], max: 1, shadow: false };
    const taken = c.take([slot]);
    assert.ok('lease' in taken);
    const held = new HeldSlots();
    const forget = held.hold(heldKey('tools', 's1', 'alice', 7), taken.lease);
    for (const other of [heldKey('docs', 's1', 'alice', 7), heldKey('tools', 's2', 'alice', 7), heldKey('tools', 's1', 'bob', 7), heldKey('tools', 's1', 'alice', '7')]) {
      assert.equal(held.cancel(other), false, other);
    }
    assert.equal(c.inFlightOf('cap', ['alice']), 1);
    assert.equal(held.cancel(heldKey('tools', 's1', 'alice', 7)), true);
    assert.equal(c.inFlightOf('cap', ['alice']), 0);
    assert.equal(held.cancel(heldKey('tools', 's1', 'alice', 7)), false, 'once');
    forget();
    assert.equal(held.size, 0);
  });
  test('an exchange that ends forgets its entry, and not a later one under the same key', () => {
    const held = new HeldSlots();
    const first = held.hold('k', { release() {} });
    held.hold('k', { release() {} });
    first();
    assert.equal(held.size, 1);
  });
});
