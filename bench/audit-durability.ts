// What each audit.durability mode costs per event: N events through the real sink
// (pino → a file in the temp dir) per mode, against the buffered baseline measured
// in the same run.
//
//   npm run bench:audit                 # N=20000 (fsync: N/10), 3 rounds, best round per mode
//   npm run bench:audit -- 50000 5      # N, rounds
//
// "write()" is what the request path pays: the time inside sink.write(), with the event
// loop yielding every 64 events as a server's would. "with close" adds the final
// close(), which in buffered mode writes what is still in memory.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { createAuditSink } from '../src/audit/sink.js';
import { typicalAuditEvent as event } from './lib/typical-audit-event.js';
import type { AuditDurability } from '../src/config/types.js';

const N = Number(process.argv[2] ?? 20_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const MODES: AuditDurability[] = ['buffered', 'write_through', 'fsync'];

interface Result {
  mode: AuditDurability;
  events: number;
  writeUs: number;
  totalUs: number;
  bytes: number;
}

async function run(mode: AuditDurability, n: number, dir: string): Promise<Result> {
  const file = join(dir, `${mode}-${Math.random().toString(36).slice(2)}.jsonl`);
  const sink = createAuditSink({ sink: 'file', file, durability: mode });
  const events = Array.from({ length: n }, (_, i) => event(i));
  for (let i = 0; i < 200; i++) sink.write(events[i % n]!); // warm up; the file is open after this
  await new Promise((r) => setTimeout(r, 50));
  let inWrite = 0n;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    sink.write(events[i]!);
    inWrite += process.hrtime.bigint() - t;
    if ((i & 63) === 63) await yieldLoop();
  }
  await sink.close();
  const total = process.hrtime.bigint() - start;
  const bytes = statSync(file).size;
  return { mode, events: n, writeUs: Number(inWrite) / 1000 / n, totalUs: Number(total) / 1000 / n, bytes };
}

const dir = mkdtempSync(join(tmpdir(), 'mcp-gateway-bench-audit-'));
try {
  const best = new Map<AuditDurability, Result>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of MODES) {
      const r = await run(mode, mode === 'fsync' ? Math.max(100, Math.floor(N / 10)) : N, dir);
      const prev = best.get(mode);
      if (!prev || r.writeUs < prev.writeUs) best.set(mode, r);
    }
  }
  const base = best.get('buffered')!;
  const fmt = (x: number) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
  console.log(`audit sink, one ${Math.round(base.bytes / (base.events + 200))}-byte event per call, to ${dir} (best of ${ROUNDS} rounds)\n`);
  console.log('| durability | events | write() µs/event | write() events/s | × buffered | with close µs/event | × buffered |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const mode of MODES) {
    const r = best.get(mode)!;
    console.log(
      `| ${mode} | ${r.events} | ${fmt(r.writeUs)} | ${Math.round(1e6 / r.writeUs).toLocaleString('en-US')} | ${fmt(r.writeUs / base.writeUs)} | ${fmt(r.totalUs)} | ${fmt(r.totalUs / base.totalUs)} |`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
