// Aggregate names, cursors, resource owners and config checks: the logic beneath the aggregator.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCursor, encodeCursor, prefixed, splitName } from '../../src/aggregate/names.js';
import { ResourceOwners } from '../../src/aggregate/resource-owners.js';
import { parseConfig, ConfigError } from '../../src/config/load.js';
import { AGGREGATE_KEY_HEADER } from '../../src/aggregate/config.js';

const members = new Set(['bank', 'files', 'my-db']);

describe('names', () => {
  const cases: [string, string, { member: string; name: string } | undefined][] = [
    ['bank__echo', '__', { member: 'bank', name: 'echo' }],
    ['files__a__b', '__', { member: 'files', name: 'a__b' }],
    ['my-db.query', '.', { member: 'my-db', name: 'query' }],
    ['nope__echo', '__', undefined],
    ['bank__', '__', undefined],
    ['__echo', '__', undefined],
    ['echo', '__', undefined],
    ['bank_echo', '__', undefined],
  ];
  for (const [full, sep, want] of cases) test(`${JSON.stringify(full)} with ${JSON.stringify(sep)}`, () => assert.deepEqual(splitName(full, sep, members), want));
  test('prefixed and split are inverse', () => assert.deepEqual(splitName(prefixed('files', '__', 'x__y'), '__', members), { member: 'files', name: 'x__y' }));
});

describe('cursors', () => {
  test('round trip of every member\'s own cursor (or its first page)', () => {
    const c = encodeCursor([['bank', 'p2'], ['files', undefined]])!;
    assert.deepEqual(decodeCursor(c, members), [['bank', 'p2'], ['files', undefined]]);
  });
  test('nothing left: no cursor', () => assert.equal(encodeCursor([]), undefined));
  const bad = (doc: unknown) => Buffer.from(JSON.stringify(doc)).toString('base64url');
  const invalid: [string, string][] = [
    ['not base64url', 'a+b/c='],
    ['not JSON', Buffer.from('{').toString('base64url')],
    ['wrong version', bad({ v: 2, p: [['bank']] })],
    ['empty', bad({ v: 1, p: [] })],
    ['unknown member', bad({ v: 1, p: [['evil', 'x']] })],
    ['member twice', bad({ v: 1, p: [['bank', 'a'], ['bank', 'b']] })],
    ['cursor not a string', bad({ v: 1, p: [['bank', 7]] })],
    ['empty member cursor', bad({ v: 1, p: [['bank', '']] })],
    ['too long', 'A'.repeat(20_000)],
  ];
  for (const [what, c] of invalid) test(`refused: ${what}`, () => assert.throws(() => decodeCursor(c, members), (e: unknown) => e instanceof Error && (e as { code?: number }).code === -32602));
});

describe('resource owners', () => {
  test('listed, template, tool UI resource; the first lister owns a URI; one member with resources takes the rest', () => {
    const o = new ResourceOwners();
    o.listed('files', 'file:///a');
    o.listed('bank', 'file:///a');
    o.template('bank', 'bank://accounts/{id}');
    o.fromTool('files', { name: 't', _meta: { ui: { resourceUri: 'ui://files/viewer' } } });
    o.fromTool('bank', { name: 'u', _meta: { 'ui/resourceUri': 'ui://bank/old' } });
    assert.equal(o.ownerOf('file:///a', ['files', 'bank']), 'files');
    assert.equal(o.ownerOf('bank://accounts/42', ['files', 'bank']), 'bank');
    assert.equal(o.ownerOf('bank://accounts/42/x', ['files', 'bank']), undefined, 'a simple expression matches one segment');
    assert.equal(o.ownerOf('ui://files/viewer', ['files', 'bank']), 'files');
    assert.equal(o.ownerOf('ui://bank/old', ['files', 'bank']), 'bank');
    assert.equal(o.ownerOf('file:///unknown', ['files', 'bank']), undefined);
    assert.equal(o.ownerOf('file:///unknown', ['files']), 'files');
  });
  test('template text is matched literally outside expressions', () => {
    const o = new ResourceOwners();
    o.template('a', 'x://a.b/{p}');
    assert.equal(o.ownerOf('x://aXb/1', ['a', 'b']), undefined);
    assert.equal(o.ownerOf('x://a.b/1', ['a', 'b']), 'a');
  });
});

describe('aggregates config', () => {
  const base = `
servers:
  - { name: bank, url: http://127.0.0.1:3001/mcp }
  - { name: files, url: http://127.0.0.1:3002/mcp }
`;
  test('an aggregate becomes a virtual server whose upstream is the aggregator, with the key as its credential', () => {
    const c = parseConfig(`${base}gateway: { aggregator_listen: 127.0.0.1:9555 }\naggregates:\n  - { name: all, servers: [bank, files], tools: { deny: [bank__x] } }\n`);
    const all = c.servers.find((s) => s.name === 'all')!;
    assert.equal(all.path, '/mcp/all');
    assert.equal(all.url.href, 'http://127.0.0.1:9555/aggregate/all');
    assert.deepEqual(all.aggregate, { members: ['bank', 'files'], separator: '__' });
    assert.deepEqual(all.tools, { allow: ['*'], deny: ['bank__x'] });
    assert.equal(all.upstreamAuth.kind === 'static' && all.upstreamAuth.header, AGGREGATE_KEY_HEADER);
    assert.equal(c.servers.find((s) => s.name === 'bank')!.aggregate, undefined);
  });
  test('the top-level policy bundle governs the members, not the aggregate (unless it names its own)', () => {
    const c = parseConfig(`${base}policy: { bundle: /p/top.tar.gz }\naggregates:\n  - { name: all, servers: [bank, files] }\n  - { name: two, servers: [bank, files], policy: { bundle: /p/agg.tar.gz } }\n`);
    assert.equal(c.servers.find((s) => s.name === 'bank')!.policyBundle, '/p/top.tar.gz');
    assert.equal(c.servers.find((s) => s.name === 'all')!.policyBundle, undefined);
    assert.equal(c.servers.find((s) => s.name === 'two')!.policyBundle, '/p/agg.tar.gz');
  });
  const problems: [string, string, RegExp][] = [
    ['an unknown member', 'aggregates: [{ name: all, servers: [bank, nope] }]', /no server "nope"/],
    ['one member', 'aggregates: [{ name: all, servers: [bank] }]', /at least two servers/],
    ['a member twice', 'aggregates: [{ name: all, servers: [bank, bank] }]', /listed twice/],
    ['the name of a server', 'aggregates: [{ name: bank, servers: [bank, files] }]', /duplicate server name "bank"/],
    ['an aggregate of aggregates', 'aggregates: [{ name: all, servers: [bank, files] }, { name: more, servers: [all, bank] }]', /is an aggregate/],
    ['a member name holding the separator', 'aggregates: [{ name: all, servers: [bank, files], separator: "an" }]', /contains the separator "an"/],
    ['a bad separator', 'aggregates: [{ name: all, servers: [bank, files], separator: "a b" }]', /separator is 1-8 characters/],
    ['members unreachable under allowed_hosts', 'gateway: { listen: 0.0.0.0:10000, allowed_hosts: [mcp.example.com] }\naggregates: [{ name: all, servers: [bank, files] }]', /call their members at 127\.0\.0\.1:10000: add it to allowed_hosts/],
    ['a non-loopback aggregator', 'gateway: { aggregator_listen: 0.0.0.0:9555 }\naggregates: [{ name: all, servers: [bank, files] }]', /must listen on loopback/],
  ];
  for (const [what, yaml, message] of problems) {
    test(`refused: ${what}`, () => assert.throws(() => parseConfig(`${base}${yaml}\n`), (e: unknown) => e instanceof ConfigError && message.test(e.message)));
  }
});
