// The official MCP conformance suite (server scenarios), run directly against a
// reference server and through the gateway in front of it, once per leg: the stable
// suite (0.1.x) against the project's fixture server (SDK 1.x), and the 0.2.x suite once
// per protocol revision (2025-03-26 … 2026-07-28, each at its own wire) against the
// project's reference server (test/fixtures/reference-server.ts, SDK 2.x). Fails on any
// scenario or check the gateway turns from pass into fail, or on a result worse than the
// leg's baseline (test/conformance/baseline*.json).
// Details: test/conformance/run.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { SPEC_VERSIONS } from '../conformance/run.js';

test('conformance: the gateway turns no passing scenario into a failure, on any protocol revision', { timeout: 600_000 }, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/conformance/run.ts'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, out);
  const lines = [...out.matchAll(/^\[(\S+)\] Direct: (\d+)\/(\d+) scenarios pass · via gateway: (\d+)\/(\d+) · regressions: (\d+)$/gm)];
  assert.deepEqual(
    lines.map((m) => m[1]),
    ['stable', ...SPEC_VERSIONS],
    `one summary line per leg in:\n${out}`,
  );
  for (const m of lines) {
    assert.equal(m[6], '0', `${m[1]}: regressions`);
    // No regression means every scenario passing directly passes through the gateway too.
    assert.ok(Number(m[4]) >= Number(m[2]), `${m[1]}: fewer scenarios pass through the gateway than directly`);
    process.stdout.write(`# ${m[0]}\n`);
  }
});
