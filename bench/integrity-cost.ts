// What tool integrity and guardrails cost one tools/call in the sidecar, in-process:
// the whole Exchange (request headers, body, response headers, a JSON answer of ~1 KB)
// on a plain curated server (the baseline, same run) against the same server with
// argument validation (pinning: enforce + validate_arguments: enforce), with result
// scanning (scan_results, redact, a clean result and one with an e-mail to redact), and
// with both.
//
//   npm run bench:integrity            # N=20000 calls per point, 5 rounds, best round of each
//   npm run bench:integrity -- 50000 7 # N, rounds
import { parseConfig } from '../src/config/load.js';
import { GatewayRuntime } from '../src/gateway/runtime.js';
import { Exchange } from '../src/gateway/exchange.js';
import type { AuditEvent, AuditSink } from '../src/audit/event.js';
import { ServerPins } from '../src/integrity/pins.js';
import { emptyServerLock, lockEntry } from '../src/integrity/lockfile.js';
import { PINNED_LISTS, definitionOf } from '../src/integrity/definition.js';

const N = Number(process.argv[2] ?? 20_000);
const ROUNDS = Number(process.argv[3] ?? 5);

const TOOL = {
  name: 'search_orders',
  description: 'Searches the orders of a customer.',
  inputSchema: {
    type: 'object',
    properties: {
      customer_id: { type: 'string', pattern: '^C[0-9]{6}$' },
      status: { enum: ['open', 'shipped', 'cancelled'] },
      limit: { type: 'integer', minimum: 1, maximum: 100 },
      filters: { type: 'object', properties: { since: { type: 'string' }, min_total: { type: 'number' } }, additionalProperties: false },
    },
    required: ['customer_id'],
    additionalProperties: false,
  },
};
const ARGS = { customer_id: 'C001234', status: 'open', limit: 20, filters: { since: '2026-01-01', min_total: 10 } };
const row = (i: number) => `order O-${100000 + i}: 3 items, total 129.90 EUR, status open, shipped to warehouse 7, note: deliver before noon`;
const CLEAN = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: Array.from({ length: 9 }, (_, i) => row(i)).join('\n') }] } });
const WITH_PII = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: Array.from({ length: 9 }, (_, i) => row(i)).join('\n') + '\ncontact: alice.martin@example.org' }] } });

const nullSink: AuditSink = { write: (_e: AuditEvent) => undefined, flush: async () => undefined, close: async () => undefined };

function runtime(extra: string, pinned: boolean): GatewayRuntime {
  const config = parseConfig(`lockfile: /dev/null\nservers:\n  - name: s\n    url: http://127.0.0.1:1/mcp\n    tools:\n      deny: ["admin_*"]\n${extra}`);
  const lock = emptyServerLock();
  lock.tool.set(TOOL.name, lockEntry(definitionOf(PINNED_LISTS[0]!, TOOL)));
  const pins = pinned ? new Map([['s', new ServerPins(lock, 'enforce', true)]]) : new Map();
  return new GatewayRuntime(config, nullSink, undefined, new Map(), new Map(), undefined, pins);
}

const H = { ':method': 'POST', ':path': '/mcp/s', ':authority': 'localhost:10000', 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', 'mcp-session-id': 'sess-1' };
const REQ = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: TOOL.name, arguments: ARGS } }));
const RESP_H = { ':status': '200', 'content-type': 'application/json' };
const conn = { clientAddress: '127.0.0.1:5555' };

function oneCall(rt: GatewayRuntime, body: Buffer): void {
  const ex = new Exchange(rt);
  ex.requestHeaders(H, false, conn);
  const v = ex.requestBody(REQ);
  // No limits are configured here, so the verdict is synchronous.
  if (v instanceof Promise || v.kind !== 'continue') throw new Error(`refused: ${JSON.stringify(v)}`);
  ex.responseHeaders(RESP_H, false);
  if (!ex.finished) ex.responseBody(body, true);
}

function time(rt: GatewayRuntime, body: Buffer): number {
  for (let i = 0; i < 500; i++) oneCall(rt, body);
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) oneCall(rt, body);
  return Number(process.hrtime.bigint() - start) / 1000 / N;
}

const clean = Buffer.from(CLEAN);
const pii = Buffer.from(WITH_PII);
const points: [string, GatewayRuntime, Buffer][] = [
  ['baseline: curated server', runtime('', false), clean],
  ['+ validate_arguments (pinning: enforce)', runtime('    pinning: enforce\n    validate_arguments: enforce\n', true), clean],
  ['+ scan_results, clean 1 KB result', runtime('    scan_results: {}\n', false), clean],
  ['+ scan_results, result with an e-mail (redacted)', runtime('    scan_results: {}\n', false), pii],
  ['+ both, clean result', runtime('    pinning: enforce\n    validate_arguments: enforce\n    scan_results: {}\n', true), clean],
  // The baseline again, last in each round: how much of a difference is order and noise.
  ['baseline again (order and noise)', runtime('', false), clean],
];
const best = points.map(() => Infinity);
for (let r = 0; r < ROUNDS; r++) points.forEach(([, rt, body], i) => (best[i] = Math.min(best[i]!, time(rt, body))));
console.log(`tools/call through the Exchange, µs per call (best of ${ROUNDS} rounds of ${N}, Node ${process.version})\n`);
console.log(`${'setup'.padEnd(52)} ${'µs/call'.padStart(8)} ${'Δ vs baseline'.padStart(14)}`);
points.forEach(([name], i) => console.log(`${name.padEnd(52)} ${best[i]!.toFixed(2).padStart(8)} ${(i === 0 ? '' : `+${(best[i]! - best[0]!).toFixed(2)}`).padStart(14)}`));
