// The per-caller-class visibility cache: what it remembers, what it must not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { VisibilityCache } from '../../src/policy/visibility-cache.js';
import type { PolicyBundle } from '../../src/policy/engine.js';
import type { ListItem, PolicyInput } from '../../src/policy/input.js';

/** A bundle whose visibility is `rule(groups, name)`, counting the items it evaluates. */
function fakeBundle(rule: (groups: string[], name: string) => boolean, revision = 'r1') {
  const b = {
    revision,
    evaluated: 0,
    failNext: false,
    visibilityFailures: 0,
    visibleSet(input: PolicyInput, items: readonly ListItem[]) {
      if (b.failNext) {
        b.failNext = false;
        b.visibilityFailures++;
        return new Set<string>();
      }
      b.evaluated += items.length;
      return new Set(items.filter((i) => rule(input.identity.groups, i.name)).map((i) => i.name));
    },
  };
  return b as typeof b & PolicyBundle;
}

const input = (groups: string[], subject = 'x') => ({ identity: { subject, groups }, mcp: {}, attributes: {} }) as unknown as PolicyInput;
const tools = (...names: string[]): ListItem[] => names.map((name) => ({ kind: 'tool', name, item: null }));
const rule = (groups: string[], name: string) => name === 'echo' || (groups.includes('admin') && name.startsWith('admin-')) || (groups.includes('analyst') && name.startsWith('get-'));

test('a class is evaluated once per item; other classes and other servers separately', () => {
  const b = fakeBundle(rule);
  const c = new VisibilityCache({ key: ['identity.groups'], maxClasses: 10, maxItems: 100 });
  const list = tools('echo', 'get-a', 'admin-reset');
  assert.deepEqual([...c.visibleSet(b, 's', input(['analyst'], 'alice'), list)].sort(), ['echo', 'get-a']);
  assert.equal(b.evaluated, 3);
  assert.deepEqual([...c.visibleSet(b, 's', input(['analyst'], 'bob'), list)].sort(), ['echo', 'get-a'], 'same class, other subject: from the cache');
  assert.equal(b.evaluated, 3);
  assert.deepEqual([...c.visibleSet(b, 's', input(['admin']), list)].sort(), ['admin-reset', 'echo']);
  assert.equal(b.evaluated, 6);
  c.visibleSet(b, 'other-server', input(['analyst']), list);
  assert.equal(b.evaluated, 9);
  // Only the new names of a longer list are evaluated.
  c.visibleSet(b, 's', input(['analyst']), tools('echo', 'get-a', 'admin-reset', 'get-b'));
  assert.equal(b.evaluated, 10);
});

test('a new bundle revision starts afresh; a failed evaluation is not remembered', () => {
  const c = new VisibilityCache({ key: ['identity.groups'], maxClasses: 10, maxItems: 100 });
  const b1 = fakeBundle(rule, 'r1');
  c.visibleSet(b1, 's', input(['analyst']), tools('echo'));
  const b2 = fakeBundle(() => false, 'r2');
  assert.deepEqual([...c.visibleSet(b2, 's', input(['analyst']), tools('echo'))], [], 'the new revision decides');
  const b3 = fakeBundle(rule, 'r3');
  b3.failNext = true;
  assert.deepEqual([...c.visibleSet(b3, 's', input(['analyst']), tools('echo'))], [], 'fails closed');
  assert.deepEqual([...c.visibleSet(b3, 's', input(['analyst']), tools('echo'))], ['echo'], 'and is evaluated again next time');
});

test('bounded: least recently used classes go first; a full class stops remembering', () => {
  const b = fakeBundle(rule);
  const c = new VisibilityCache({ key: ['identity.groups'], maxClasses: 2, maxItems: 2 });
  c.visibleSet(b, 's', input(['a']), tools('echo'));
  c.visibleSet(b, 's', input(['b']), tools('echo'));
  c.visibleSet(b, 's', input(['a']), tools('echo')); // a is recent again
  c.visibleSet(b, 's', input(['c']), tools('echo')); // evicts b
  const before = b.evaluated;
  c.visibleSet(b, 's', input(['a']), tools('echo'));
  assert.equal(b.evaluated, before, 'a kept');
  c.visibleSet(b, 's', input(['b']), tools('echo'));
  assert.equal(b.evaluated, before + 1, 'b evicted');
  const n = b.evaluated;
  c.visibleSet(b, 's', input(['a']), tools('x1', 'x2', 'x3'));
  c.visibleSet(b, 's', input(['a']), tools('x1', 'x2', 'x3'));
  assert.equal(b.evaluated, n + 6, 'over max_items nothing more is remembered');
});

test('property: cached answers equal uncached ones for any sequence of callers and lists', () => {
  const groups = fc.subarray(['admin', 'analyst', 'finance']);
  const names = fc.array(fc.constantFrom('echo', 'get-a', 'get-b', 'admin-reset', 'run-sql', 'admin-x'), { maxLength: 6 });
  fc.assert(
    fc.property(fc.array(fc.tuple(groups, names), { maxLength: 30 }), (calls) => {
      const cached = new VisibilityCache({ key: ['identity.groups'], maxClasses: 3, maxItems: 4 });
      const b = fakeBundle(rule);
      for (const [g, ns] of calls) {
        const list = tools(...ns);
        assert.deepEqual([...cached.visibleSet(b, 's', input(g), list)].sort(), [...b.visibleSet(input(g), list)].sort());
      }
    }),
  );
});

test('config: policy.visibility_cache names input paths; per-message paths are refused', async () => {
  const { parseConfig, ConfigError } = await import('../../src/config/load.js');
  const cfg = (cache: string) => `servers: [{name: t, url: "http://127.0.0.1:1/mcp"}]\npolicy:\n  visibility_cache: ${cache}\n`;
  const c = parseConfig(cfg('{key: [identity.groups, identity.claims.tenant]}'), 't');
  assert.deepEqual(c.policy.visibilityCache, { key: ['identity.groups', 'identity.claims.tenant'], maxClasses: 10_000, maxItems: 10_000 });
  assert.equal(parseConfig('servers: [{name: t, url: "http://127.0.0.1:1/mcp"}]\n', 't').policy.visibilityCache, undefined);
  for (const [bad, why] of [
    ['{key: [mcp.arguments.x]}', /varies per message/],
    ['{key: [mcp.request_id]}', /varies per message/],
    ['{key: []}', /name the input paths/],
    ['{key: [groups]}', /dot path/],
    ['{key: [identity.groups], max_classes: 0}', /./],
  ] as const)
    assert.throws(() => parseConfig(cfg(bad), 't'), (e: unknown) => e instanceof ConfigError && why.test(e.message), bad);
});
