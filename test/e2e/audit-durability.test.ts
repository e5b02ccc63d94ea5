// What each audit.durability mode keeps when the process is SIGKILLed: real
// processes writing through the real sink (test/fixtures/audit-writer.ts).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, ConfigError } from '../../src/config/load.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-audit-'));
});

test('audit.durability: buffered by default; write_through and fsync accepted; anything else refused', () => {
  const minimal = `servers:\n  - name: everything\n    url: http://127.0.0.1:3001/mcp\n`;
  assert.equal(parseConfig(minimal).audit.durability, 'buffered');
  for (const mode of ['buffered', 'write_through', 'fsync']) assert.equal(parseConfig(`${minimal}audit:\n  durability: ${mode}\n`).audit.durability, mode);
  assert.throws(
    () => parseConfig(`${minimal}audit:\n  durability: sync\n`),
    (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.path === 'audit.durability'),
  );
});

interface Writer {
  /** Resolves when the script is done (the process then blocks until killed). */
  ready: Promise<void>;
  kill(): Promise<void>;
}

function writer(durability: string, file: string, script: string): Writer {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/audit-writer.ts', durability, file, script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('ready\n')) resolve();
    });
    void exited.then(() => reject(new Error(`audit writer exited early:\n${err}`)));
  });
  ready.catch(() => undefined);
  return {
    ready,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The request_id sequence numbers of the complete lines, and an unterminated tail if any. */
async function lines(file: string): Promise<{ seqs: number[]; tail: string }> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const parts = text.split('\n');
  const tail = parts.pop()!;
  const seqs = parts.map((l) => {
    const e = JSON.parse(l) as { log: string; request_id: string };
    assert.equal(e.log, 'audit');
    return Number(/^seq-(\d+)$/.exec(e.request_id)![1]);
  });
  return { seqs, tail };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

for (const mode of ['write_through', 'fsync']) {
  test(`${mode}: every event written before SIGKILL is in the file and parses`, async () => {
    const file = join(dir, `${mode}.jsonl`);
    const m = mode === 'fsync' ? 200 : 2000;
    const w = writer(mode, file, `write:${m}`);
    await w.ready;
    await w.kill();
    const { seqs, tail } = await lines(file);
    assert.equal(tail, '');
    assert.deepEqual(seqs, range(m));
  });
}

test('write_through: SIGKILL in the middle of a burst leaves a gapless prefix of the events', async () => {
  const file = join(dir, 'burst.jsonl');
  const w = writer('write_through', file, 'forever');
  const deadline = Date.now() + 20_000;
  while (((await stat(file).catch(() => undefined))?.size ?? 0) < 256 * 1024) {
    assert.ok(Date.now() < deadline, 'the writer did not write');
    await new Promise((r) => setTimeout(r, 20));
  }
  await w.kill();
  const { seqs, tail } = await lines(file);
  assert.ok(seqs.length > 100);
  assert.deepEqual(seqs, range(seqs.length), 'no event is missing or out of order');
  // A SIGKILL can land inside write(2): at most the last line may be cut short.
  assert.ok(tail.length < 4096, 'only the line being written can be incomplete');
});

test(`buffered: SIGKILL loses the events of the last flush interval (≤ 250 ms), and only those`, async () => {
  const file = join(dir, 'buffered.jsonl');
  // 100 events, then two flush intervals: all on disk. Then 3 more (under the 4 KiB batch
  // size) and no timer tick before the kill: those are the ones lost.
  const w = writer('buffered', file, 'write:100,settle,write:3');
  await w.ready;
  await w.kill();
  const { seqs, tail } = await lines(file);
  assert.equal(tail, '');
  assert.deepEqual(seqs, range(100));
});
