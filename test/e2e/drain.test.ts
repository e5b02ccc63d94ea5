// Graceful drain under load: SIGTERM to `up` while clients call in a loop and an SSE
// answer is streaming. Envoy fails /ready and asks connections to close while it keeps
// serving; the sidecar keeps deciding; the stream runs to its end; then both stop, and
// every call a client got an answer to is in the audit file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startUpstream, type RunningUpstream } from '../../examples/upstream.js';
import { createPolicyTestServer } from '../fixtures/policy-server.js';
import { freePort } from '../support/gateway.js';

const CLI = ['--import', 'tsx', 'src/cli.ts'];
let upstream: RunningUpstream;
let dir: string;

before(async () => {
  upstream = await startUpstream({ createServer: () => createPolicyTestServer() });
  dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-drain-'));
});
after(async () => upstream?.close());

test('SIGTERM under load: Envoy drains while the sidecar decides, the open SSE stream finishes, no answered call is missing from the audit trail', async (t) => {
  const at = { listen: `127.0.0.1:${await freePort()}`, admin: `127.0.0.1:${await freePort()}`, sidecar: `127.0.0.1:${await freePort()}` };
  const auditFile = join(dir, 'audit.jsonl');
  const file = join(dir, 'gateway.yaml');
  await writeFile(
    file,
    stringify({
      gateway: { listen: at.listen, admin: at.admin, drain_time_ms: 1000, drain_timeout_ms: 20_000 },
      sidecar: { listen: at.sidecar },
      servers: [{ name: 'tools', url: upstream.url, tools: { allow: ['echo', 'get-report-slow'] } }],
      audit: { file: auditFile },
    }),
  );
  const child = spawn(process.execPath, [...CLI, 'up', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  try {
    const deadline = Date.now() + 30_000;
    while (!/mcp-gateway is up/.test(stderr)) {
      assert.ok(Date.now() < deadline, `gateway did not come up:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const url = new URL(`http://${at.listen}/mcp/tools`);
    const connect = async () => {
      const c = new Client({ name: 'drain', version: '1' });
      await c.connect(new StreamableHTTPClientTransport(url));
      return c;
    };

    // The stream that must survive: six progress events 300 ms apart.
    const streaming = await connect();
    let progress = 0;
    const slow = streaming.callTool({ name: 'get-report-slow', arguments: { steps: 6 } }, undefined, { onprogress: () => void progress++, timeout: 30_000 });

    // Load: four clients calling echo until the gateway is gone.
    let sigtermAt = Infinity;
    const answered: string[] = [];
    let answeredAfterSigterm = 0;
    const loop = async (n: number) => {
      const c = await connect();
      for (let i = 0; ; i++) {
        const message = `c${n}-${i}`;
        try {
          const r = await c.callTool({ name: 'echo', arguments: { message } });
          assert.match(JSON.stringify(r.content), new RegExp(message));
        } catch {
          return; // the listener has closed: no answer, so nothing owed to the audit trail
        }
        answered.push(message);
        if (Date.now() > sigtermAt) answeredAfterSigterm++;
      }
    };
    const loops = [0, 1, 2, 3].map(loop);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(progress < 6, 'the stream is still open at SIGTERM');

    sigtermAt = Date.now();
    child.kill('SIGTERM');
    // Envoy says it is draining on /ready while it still serves.
    let readyStatus = 0;
    while (readyStatus !== 503 && child.exitCode === null) {
      readyStatus = await fetch(`http://${at.admin}/ready`).then((r) => r.status, () => 0);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(readyStatus, 503, '/ready failed during the drain');

    const res = await slow;
    assert.deepEqual(JSON.parse((res.content as { text: string }[])[0]!.text), { done: 6 });
    assert.equal(progress, 6, 'every event of the open stream arrived');
    assert.equal(await exited, 0, stderr);
    await Promise.all(loops);
    assert.ok(answeredAfterSigterm > 0, 'calls were still decided and answered during the drain');
    assert.match(stderr, /"msg":"drained"/);
    t.diagnostic(`${answered.length} calls answered, ${answeredAfterSigterm} of them after SIGTERM`);

    const events = (await readFile(auditFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const echoEvents = events.filter((e) => e.target?.name === 'echo' && e.decision === 'allow');
    assert.equal(echoEvents.length, answered.length, `one audit event per answered call (${answered.length} answered, ${answeredAfterSigterm} after SIGTERM)`);
    for (const e of echoEvents) assert.equal(e.upstream_status, 200);
    const slowEvents = events.filter((e) => e.target?.name === 'get-report-slow');
    assert.equal(slowEvents.length, 1);
    assert.equal(slowEvents[0].upstream_status, 200);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
