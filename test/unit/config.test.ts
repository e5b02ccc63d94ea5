import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, ConfigError } from '../../src/config/load.js';

const minimal = `servers:\n  - name: everything\n    url: http://127.0.0.1:3001/mcp\n`;

test('defaults are filled in and named', () => {
  const c = parseConfig(minimal);
  assert.deepEqual(c.gateway.listen, { host: '127.0.0.1', port: 10000 });
  assert.equal(c.servers[0]!.path, '/mcp/everything');
  assert.deepEqual(c.servers[0]!.tools, { allow: ['*'], deny: [] });
  assert.equal(c.audit.sink, 'stdout');
  assert.ok(c.gateway.allowedHosts.includes('localhost:10000'), 'a loopback listener accepts only loopback Host headers');
  assert.ok(!c.gateway.allowedHosts.includes('*'));
  assert.deepEqual(c.sidecar.listen, { kind: 'tcp', host: '127.0.0.1', port: 9000 });
});

test('a non-loopback listener accepts any Host unless told otherwise', () => {
  const c = parseConfig(`gateway:\n  listen: 0.0.0.0:8080\n${minimal}`);
  assert.deepEqual(c.gateway.allowedHosts, ['*']);
});

test('audit.file alone selects the file sink; a unix socket sidecar parses', () => {
  const c = parseConfig(`${minimal}audit:\n  file: /var/log/a.jsonl\nsidecar:\n  listen: unix:/run/mcp.sock\n`);
  assert.equal(c.audit.sink, 'file');
  assert.equal(c.audit.file, '/var/log/a.jsonl');
  assert.deepEqual(c.sidecar.listen, { kind: 'unix', path: '/run/mcp.sock' });
});

const bad: { name: string; yaml: string; expect: RegExp }[] = [
  { name: 'no servers', yaml: 'gateway: {}\n', expect: /servers: required/ },
  { name: 'duplicate names', yaml: `${minimal}  - name: everything\n    url: http://127.0.0.1:3002/mcp\n`, expect: /:4:11 servers\[1\]\.name: duplicate server name "everything"/ },
  { name: 'unknown key', yaml: `${minimal}    tool:\n      allow: [x]\n`, expect: /:4:5 servers\[0\]\.tool: unknown key "tool"/ },
  { name: 'bad scheme', yaml: `servers:\n  - name: a\n    url: ftp://x/mcp\n`, expect: /servers\[0\]\.url: unsupported scheme ftp:/ },
  { name: 'credentials in URL', yaml: `servers:\n  - name: a\n    url: http://u:p@x/mcp\n`, expect: /credentials in the URL/ },
  { name: 'file sink without file', yaml: `${minimal}audit:\n  sink: file\n`, expect: /audit\.file: sink "file" needs/ },
  { name: 'duplicate YAML keys', yaml: `servers: []\nservers: []\n`, expect: /YAML: Map keys must be unique/ },
  { name: 'admin equals listen', yaml: `gateway:\n  listen: 127.0.0.1:1\n  admin: 127.0.0.1:1\n${minimal}`, expect: /gateway\.admin: the admin address must differ/ },
];
for (const c of bad) {
  test(`refused: ${c.name}`, () => {
    assert.throws(
      () => parseConfig(c.yaml, 'g.yaml'),
      (e: unknown) => e instanceof ConfigError && c.expect.test(e.message),
    );
  });
}

test('all problems are reported at once', () => {
  try {
    parseConfig(`gateway:\n  listen: x\nservers:\n  - name: A\n    url: y\n`, 'g.yaml');
    assert.fail('accepted');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.problems.length, 3);
  }
});

test('servers[].forward_cookies: off unless a server opts in', () => {
  const c = parseConfig(`${minimal}  - name: legacy\n    url: http://127.0.0.1:3002/mcp\n    forward_cookies: true\n`);
  assert.deepEqual(c.servers.map((s) => s.forwardCookies), [false, true]);
});
