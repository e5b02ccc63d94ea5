// What approval gates cost a tools/call that needs no approval, in the sidecar, in-process:
// the whole Exchange (request headers, body, response headers, a small JSON answer) on a
// plain server (the baseline, same run) against the same server with an `approvals`
// section and a rule for other tools (the call is checked against the rule and passes).
//
//   node --import tsx bench/approvals-cost.ts            # N=20000 calls per point, 5 rounds, best round of each
//   node --import tsx bench/approvals-cost.ts 50000 7    # N, rounds
import { parseConfig } from '../src/config/load.js';
import { GatewayRuntime } from '../src/gateway/runtime.js';
import { Exchange } from '../src/gateway/exchange.js';
import type { AuditEvent, AuditSink } from '../src/audit/event.js';

const N = Number(process.argv[2] ?? 20_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const nullSink: AuditSink = { write: (_e: AuditEvent) => undefined, flush: async () => undefined, close: async () => undefined };

const runtime = (extra: string, top = '') =>
  new GatewayRuntime(parseConfig(`${top}servers:\n  - name: s\n    url: http://127.0.0.1:1/mcp\n    tools:\n      deny: ["admin_*"]\n${extra}`), nullSink, undefined);

const H = { ':method': 'POST', ':path': '/mcp/s', ':authority': 'localhost:10000', 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', 'mcp-session-id': 'sess-1' };
const REQ = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'search_orders', arguments: { customer_id: 'C001234', limit: 20 } } }));
const RESP_H = { ':status': '200', 'content-type': 'application/json' };
const RESP = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'ok' }] } }));
const conn = { clientAddress: '127.0.0.1:5555' };

function oneCall(rt: GatewayRuntime): void {
  const ex = new Exchange(rt);
  ex.requestHeaders(H, false, conn);
  const v = ex.requestBody(REQ);
  if (v instanceof Promise || v.kind !== 'continue') throw new Error(`not passed synchronously: ${JSON.stringify(v)}`);
  ex.responseHeaders(RESP_H, false);
  if (!ex.finished) ex.responseBody(RESP, true);
}

function time(rt: GatewayRuntime): number {
  for (let i = 0; i < 500; i++) oneCall(rt);
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) oneCall(rt);
  return Number(process.hrtime.bigint() - start) / 1000 / N;
}

const APPROVALS = 'approvals:\n  listen: 127.0.0.1:9903\n';
const points: [string, GatewayRuntime][] = [
  ['baseline: curated server, no approvals', runtime('')],
  ['+ approvals section, rule for other tools', runtime('    approvals:\n      - { tools: ["transfer_*", "pay"], approvers: ["group:finance"] }\n', APPROVALS)],
  ['baseline again (order and noise)', runtime('')],
];
const best = points.map(() => Infinity);
for (let r = 0; r < ROUNDS; r++) points.forEach(([, rt], i) => (best[i] = Math.min(best[i]!, time(rt))));
console.log(`tools/call through the Exchange, µs per call (best of ${ROUNDS} rounds of ${N}, Node ${process.version})\n`);
console.log(`${'setup'.padEnd(46)} ${'µs/call'.padStart(8)} ${'Δ vs baseline'.padStart(14)}`);
points.forEach(([name], i) => console.log(`${name.padEnd(46)} ${best[i]!.toFixed(2).padStart(8)} ${(i === 0 ? '' : `${best[i]! >= best[0]! ? '+' : ''}${(best[i]! - best[0]!).toFixed(2)}`).padStart(14)}`));
