// The official MCP conformance suite (server scenarios), run directly against the
// project's fixture server and through the gateway in front of it. Fails on any
// scenario the gateway turns from pass into fail, or on a result worse than
// test/conformance/baseline.json. Details: test/conformance/run.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

test('conformance: the gateway turns no passing scenario into a failure', { timeout: 600_000 }, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/conformance/run.ts'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, out);
  const m = /Direct: (\d+)\/(\d+) scenarios pass · via gateway: (\d+)\/(\d+) · regressions: (\d+)/.exec(out);
  assert.ok(m, `no summary line in:\n${out}`);
  assert.equal(m[5], '0');
  assert.equal(m[3], m[1], 'as many scenarios pass through the gateway as directly');
  process.stdout.write(`# ${m[0]}\n`);
});
