// The catalog's pieces beneath the e2e: the server.json entry (authorization metadata
// under _meta, the registry's field limits) and the tool source's cache.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { serverResponse, CATALOG_META_KEY, SERVER_SCHEMA_URL } from '../../src/catalog/registry-shape.js';
import { ToolSource } from '../../src/catalog/tool-source.js';
import { emptyServerLock, lockEntry } from '../../src/integrity/lockfile.js';

const oauthConfig = parseConfig(`gateway:
  public_url: https://mcp.example.com
  catalog: { namespace: com.example }
auth:
  jwt: { issuer: https://idp.example.com, jwks_url: https://idp.example.com/jwks }
oauth:
  authorization_servers: [https://idp.example.com]
  scopes_supported: [mcp.read]
servers:
  - name: weather
    url: http://127.0.0.1:3001/mcp
    catalog: { description: Forecasts }
`);

describe('server.json entries', () => {
  test('name, remote URL, description, and the RFC 9728 metadata URL under _meta', () => {
    const s = oauthConfig.servers[0]!;
    const e = serverResponse(oauthConfig, s, [{ name: 'forecast', description: 'f', definition: { name: 'forecast' } }], { source: 'upstream', tools: [] });
    assert.equal(e.server.$schema, SERVER_SCHEMA_URL);
    assert.equal(e.server.name, 'com.example/weather');
    assert.match(e.server.name, /^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+$/);
    assert.equal(e.server.description, 'Forecasts');
    assert.deepEqual(e.server.remotes, [{ type: 'streamable-http', url: 'https://mcp.example.com/mcp/weather' }], 'with OAuth, clients discover how to authenticate from the 401');
    const m = e._meta[CATALOG_META_KEY] as Record<string, any>;
    assert.deepEqual(m.tools, [{ name: 'forecast', description: 'f' }]);
    assert.equal(m.authorization.resourceMetadata, 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp/weather');
    assert.equal(m.authorization.resource, 'https://mcp.example.com/mcp/weather');
    assert.deepEqual(m.authorization.authorizationServers, ['https://idp.example.com']);
  });

  test('the registry\'s limits hold at config load (description at most 100 characters)', () => {
    assert.throws(() => parseConfig(`servers:\n  - name: a\n    url: http://127.0.0.1:1/mcp\n    catalog: { description: "${'d'.repeat(101)}" }\n`), /servers\[0\]\.catalog\.description/);
  });

  test('an unavailable tool list says why and lists no tools', () => {
    const e = serverResponse(oauthConfig, oauthConfig.servers[0]!, undefined, { source: 'unavailable', reason: 'down' });
    const m = e._meta[CATALOG_META_KEY] as Record<string, unknown>;
    assert.equal(m.tools, undefined);
    assert.equal(m.toolsUnavailable, 'down');
  });
});

describe('the tool source', () => {
  const config = parseConfig(`servers:\n  - name: s\n    url: http://127.0.0.1:1/mcp\n`);
  test('reads an upstream once per TTL, shares concurrent reads, retries a failure sooner', async () => {
    let now = 0;
    let reads = 0;
    let fail = false;
    const source = new ToolSource(60_000, async () => {
      reads++;
      if (fail) throw new Error('unreachable');
      const lock = emptyServerLock();
      lock.tool.set('t', lockEntry({ description: 'd', inputSchema: { type: 'object' } }));
      return lock;
    }, () => now);
    const s = config.servers[0]!;
    const [a, b] = await Promise.all([source.toolsOf(s), source.toolsOf(s)]);
    assert.equal(reads, 1);
    assert.deepEqual(a, b);
    assert.equal(a.source, 'upstream');
    now = 59_000;
    await source.toolsOf(s);
    assert.equal(reads, 1);
    now = 61_000;
    fail = true;
    assert.equal((await source.toolsOf(s)).source, 'unavailable');
    assert.equal(reads, 2);
    now = 62_000;
    await source.toolsOf(s);
    assert.equal(reads, 2, 'a failure is remembered briefly');
    fail = false;
    now = 67_000;
    assert.equal((await source.toolsOf(s)).source, 'upstream');
    assert.equal(reads, 3);
  });
});
