// What an audit event costs when an ext_proc worker sends it to the primary (sidecar.workers
// > 1), against the single process writing it itself: N typical events, the CPU time
// (user + system) of every process involved, per event. Single: createAuditSink to a file.
// Workers: a forked child formats each line (ipcAuditSink) and sends it over the IPC channel;
// this process writes the lines to the same kind of file sink, as the primary does.
//   node --import tsx bench/workers-audit.ts [N] [rounds]
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { createAuditSink } from '../src/audit/sink.js';
import { Channel, type WireMessage } from '../src/workers/channel.js';
import { ipcAuditSink } from '../src/workers/ipc-audit.js';
import { typicalAuditEvent } from './lib/typical-audit-event.js';

const N = Number(process.argv[2] ?? 20_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'mcp-workers-audit-'));

/** Writes N events the way the request path does (the loop turns every 64 events). */
async function writeEvents(write: (i: number) => void): Promise<void> {
  for (let i = 0; i < N; i++) {
    write(i);
    if (i % 64 === 63) await yieldLoop();
  }
}

if (process.argv[2] === '--child') {
  const channel = new Channel((m) => void process.send!(m));
  process.on('message', (m: WireMessage) => channel.receive(m));
  channel.handle('run', async (n: number) => {
    const sink = ipcAuditSink(channel, 'buffered');
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      sink.write(typicalAuditEvent(i));
      if (i % 64 === 63) await yieldLoop();
    }
    await sink.close();
    const d = process.cpuUsage(t0);
    return d.user + d.system;
  });
  process.on('disconnect', () => process.exit(0));
  channel.notify('hello');
} else {
  const results: { single: number; workerSide: number; primarySide: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const single = createAuditSink({ sink: 'file', file: join(dir, `single-${round}.jsonl`), durability: 'buffered' });
    const s0 = process.cpuUsage();
    await writeEvents((i) => single.write(typicalAuditEvent(i)));
    await single.close();
    const sd = process.cpuUsage(s0);

    const child = fork(fileURLToPath(import.meta.url), ['--child'], { execArgv: ['--import', 'tsx'], serialization: 'advanced' });
    const channel = new Channel((m) => void child.send(m));
    child.on('message', (m: WireMessage) => channel.receive(m));
    await new Promise<void>((resolve) => channel.handle('hello', () => resolve()));
    const primary = createAuditSink({ sink: 'file', file: join(dir, `primary-${round}.jsonl`), durability: 'buffered' });
    let lines = 0;
    channel.handle('audit', (text: string) => {
      primary.writeLines(text);
      lines += text.split('\n').length - 1;
    });
    const p0 = process.cpuUsage();
    const childUs = await channel.call<number>('run', N);
    while (lines < N) await new Promise((r) => setTimeout(r, 5));
    await primary.close();
    const pd = process.cpuUsage(p0);
    child.disconnect();
    // The typical event itself is built in both: subtract nothing, compare like with like.
    results.push({ single: (sd.user + sd.system) / N, workerSide: childUs / N, primarySide: (pd.user + pd.system) / N });
  }
  const best = (k: keyof (typeof results)[0]) => Math.min(...results.map((r) => r[k]));
  process.stdout.write(`${N} events, best of ${ROUNDS} rounds, CPU µs per event (user + system)\n`);
  process.stdout.write(`  single process (build + format + write):          ${best('single').toFixed(1)}\n`);
  process.stdout.write(`  worker (build + format + send over IPC):          ${best('workerSide').toFixed(1)}\n`);
  process.stdout.write(`  primary (receive + write the lines):              ${best('primarySide').toFixed(1)}\n`);
  const delta = best('workerSide') + best('primarySide') - best('single');
  process.stdout.write(`  workers in all, against single:                   ${delta >= 0 ? '+' : '−'}${Math.abs(delta).toFixed(1)}\n`);
  rmSync(dir, { recursive: true, force: true });
}
