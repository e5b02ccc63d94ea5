// What filtering the bench upstream's tools/list answer (502 tools, ≈ 94 kB) to the 52 curated
// ones costs the sidecar's response filter, in-process: parsed (JSON.parse, filter, JSON.stringify)
// against the byte path (src/mcp/list-scan.ts: scan, copy the kept items), on a first answer and
// on the same answer again under another id (src/curation/list-memo.ts), best of ROUNDS.
//
//   npm run bench:lists [-- ROUNDS]
import { compileCuration } from '../src/curation/curation.js';
import { LIST_METHODS } from '../src/mcp/protocol.js';
import { ResponseFilter } from '../src/gateway/response-filter.js';
import type { ServerRuntime } from '../src/gateway/runtime.js';
import type { PolicyInput } from '../src/policy/input.js';
import { CURATED_COUNT, CURATED_TOOL_GLOBS, TOOLS } from './lib/bench-server.js';

const ROUNDS = Number(process.argv[2] ?? 5);
const MIN_MS = 1000;

const body = Buffer.from(JSON.stringify({ result: { tools: TOOLS }, jsonrpc: '2.0', id: 7 }));
const curation = compileCuration({ tools: { allow: CURATED_TOOL_GLOBS, deny: [] }, prompts: { allow: ['*'], deny: [] }, resources: { allow: ['*'], deny: [] } });
const serverOf = (c: typeof curation) => ({ curation: c, policy: undefined, visibleSet: undefined, pins: undefined, screen: undefined, resultGuard: undefined }) as unknown as ServerRuntime;
const server = serverOf(curation);
const list = LIST_METHODS.get('tools/list')!;

type Path = 'parsed' | 'scanned' | 'remembered';

function filterOnce(path: Path): number {
  // A new Curation object has nothing remembered: every answer is scanned.
  const s = path === 'scanned' ? serverOf({ visible: curation.visible, isOpen: curation.isOpen }) : server;
  const f = new ResponseFilter({ server: s, request: { id: 7, list }, input: () => ({}) as PolicyInput, maxEventBytes: 1 << 22, listBytes: path !== 'parsed' }, 'json');
  const v = f.chunk(body, true);
  if (v instanceof Promise || v.kind !== 'continue' || !(v.body instanceof Uint8Array) || f.report.filtered?.visible !== CURATED_COUNT) throw new Error('the list was not filtered to the curated tools');
  return v.body.length;
}

function usPerList(path: Path): number {
  for (let i = 0; i < 200; i++) filterOnce(path);
  let n = 0;
  const start = process.hrtime.bigint();
  let ns = 0n;
  while (ns < BigInt(MIN_MS) * 1_000_000n) {
    for (let i = 0; i < 20; i++) filterOnce(path);
    n += 20;
    ns = process.hrtime.bigint() - start;
  }
  return Number(ns) / 1e3 / n;
}

const best: Record<Path, number> = { parsed: Infinity, scanned: Infinity, remembered: Infinity };
for (let r = 0; r < ROUNDS; r++) for (const p of Object.keys(best) as Path[]) best[p] = Math.min(best[p], usPerList(p));
console.log(`tools/list answer of ${TOOLS.length} tools (${body.length.toLocaleString('en-US')} bytes) filtered to ${CURATED_COUNT}, best of ${ROUNDS} rounds of ${MIN_MS} ms, Node ${process.version}`);
console.log('| path | µs per list | × parsed |');
console.log('| --- | ---: | ---: |');
const row = (what: string, p: Path) => console.log(`| ${what} | ${best[p].toFixed(1)} | ${(best[p] / best.parsed).toFixed(2)} |`);
row('parsed: JSON.parse, filter, JSON.stringify', 'parsed');
row('bytes, first answer: scan, copy the kept items', 'scanned');
row('bytes, the same answer again (another id): compare, copy the kept items', 'remembered');
