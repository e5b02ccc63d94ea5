import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileCuration } from '../../src/curation/curation.js';
import { compileGlobs } from '../../src/curation/glob.js';
import { filterListResult } from '../../src/curation/filter-list.js';
import { LIST_METHODS, targetOf, caseCollision } from '../../src/mcp/protocol.js';
import { createRedactor } from '../../src/audit/redact.js';

const open = { allow: ['*'], deny: [] };
const cur = compileCuration({ tools: { allow: ['echo', 'get-*'], deny: ['get-env'] }, prompts: open, resources: { allow: ['*'], deny: ['file:///etc/*'] } });

test('globs: * spans anything including "/", ? one character, the rest literal', () => {
  const g = compileGlobs(['a*', 'b?c', 'x.y', 'file:///tmp/*']);
  for (const [v, want] of [['abc', true], ['a', true], ['bxc', true], ['bc', false], ['xzy', false], ['x.y', true], ['file:///tmp/a/b', true], ['file:///tmpa', false]] as const) {
    assert.equal(g.test(v), want, v);
  }
});

const table: [string, string, boolean][] = [
  ['tool', 'echo', true],
  ['tool', 'get-sum', true],
  ['tool', 'get-env', false],
  ['tool', 'GET-ENV', false],
  ['tool', 'get-env ', false],
  ['tool', 'get-env\u200b', false],
  ['tool', 'ｇｅｔ-ｅｎｖ', false],
  ['tool', 'Echo', false],
  ['tool', 'echo2', false],
  ['tool', 'other', false],
  ['prompt', 'anything', true],
  ['resource', 'file:///etc/passwd', false],
  ['resource', 'FILE:///ETC/passwd', false],
  ['resource', 'file:///home/x', true],
];
for (const [kind, name, want] of table) {
  test(`visible(${kind}, ${JSON.stringify(name)}) = ${want}`, () => assert.equal(cur.visible(kind as 'tool', name), want));
}

test('list filtering keeps the cursor and drops unnamed items', () => {
  const out = filterListResult({ tools: [{ name: 'echo' }, { name: 'get-env' }, { nope: 1 }, { name: 'get-sum' }], nextCursor: 'c2' }, LIST_METHODS.get('tools/list')!, cur);
  assert.ok(!('error' in out));
  assert.deepEqual(out.result, { tools: [{ name: 'echo' }, { name: 'get-sum' }], nextCursor: 'c2' });
  assert.equal(out.returned, 4);
  assert.equal(out.visible, 2);
  const same = filterListResult({ tools: [{ name: 'echo' }] }, LIST_METHODS.get('tools/list')!, cur);
  assert.ok(!('error' in same) && !same.changed);
  assert.ok('error' in filterListResult({ tools: 'x' }, LIST_METHODS.get('tools/list')!, cur));
});

test('targets: calls, reads, subscriptions and completion refs', () => {
  assert.deepEqual(targetOf('tools/call', { name: 'x' }), { ok: true, target: { kind: 'tool', name: 'x' } });
  assert.deepEqual(targetOf('resources/subscribe', { uri: 'u' }), { ok: true, target: { kind: 'resource', name: 'u' } });
  assert.deepEqual(targetOf('completion/complete', { ref: { type: 'ref/prompt', name: 'p' } }), { ok: true, target: { kind: 'prompt', name: 'p' } });
  assert.equal(targetOf('tools/call', { name: 5 }).ok, false);
  assert.equal(targetOf('tools/call', undefined).ok, false);
  assert.deepEqual(targetOf('tools/list', undefined), { ok: true, target: undefined });
});

test('case collisions with known methods are detected', () => {
  assert.equal(caseCollision('Tools/Call'), 'tools/call');
  assert.equal(caseCollision('tools/call'), undefined);
  assert.equal(caseCollision('vendor/thing'), undefined);
});

test('methods that only look like a known one (found by the fuzzer) are refused as collisions', () => {
  for (const m of ['tools/call ', ' tools/call', 'tools/call\u200b', 'tools\u00ad/call', 'ｔｏｏｌｓ/ｃａｌｌ', 'TOOLS/CALL\ufeff', 'resources/read\u202e']) {
    assert.ok(caseCollision(m) !== undefined, JSON.stringify(m));
  }
});

test('redaction is case-insensitive, deep, and leaves the input alone', () => {
  const r = createRedactor({ names: ['password', 'token'] });
  const input = { user: 'a', Password: 'p', nested: [{ TOKEN: 't', ok: 1 }], __proto__x: 1 };
  assert.deepEqual(r(input), { user: 'a', Password: '[REDACTED]', nested: [{ TOKEN: '[REDACTED]', ok: 1 }], __proto__x: 1 });
  assert.equal(input.Password, 'p');
});
