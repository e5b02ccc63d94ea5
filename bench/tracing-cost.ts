// What tracing costs one tools/call in the sidecar's core, in the same run as the same
// calls without it: Exchange objects driven phase by phase (request headers with a
// caller's traceparent, body, response headers, end), tracing off vs on at 100 %
// sampling with the real batch processor and OTLP/HTTP (protobuf) exporter posting to a
// sink in a child process (so its CPU is not counted here).
//
//   npm run bench:tracing-cost               # N=50000 calls, 5 rounds, best round of each
//   npm run bench:tracing-cost -- 100000 7   # N, rounds
//
// The CPU is the process's (user + system, so the exporter's encoding and HTTP requests
// count), per call. What it leaves out: the gRPC decoding and encoding around each phase,
// which tracing does not change; so the ratio here is an upper bound of the ratio for
// the whole sidecar (bench setup 7 over setup 6 measures that).
import { fork } from 'node:child_process';
import { parseConfig } from '../src/config/load.js';
import { GatewayRuntime } from '../src/gateway/runtime.js';
import { Exchange } from '../src/gateway/exchange.js';
import { GatewayTracing } from '../src/telemetry/tracing.js';
import type { AuditEvent, AuditSink } from '../src/audit/event.js';

const N = Number(process.argv[2] ?? 50_000);
const ROUNDS = Number(process.argv[3] ?? 5);

if (process.argv[2] === '--sink') {
  const { startOtlpSink } = await import('./lib/otlp-sink.js');
  const sink = await startOtlpSink();
  process.send!({ url: sink.url });
  process.on('message', () => process.send!({ requests: sink.requests, bytes: sink.bytes }));
} else {
  const child = fork(new URL(import.meta.url).pathname, ['--sink'], { execArgv: process.execArgv });
  const url = await new Promise<string>((r) => child.once('message', (m: { url: string }) => r(m.url)));

  const config = parseConfig(`
servers:
  - name: s
    url: http://127.0.0.1:1/mcp
    tools: { deny: [secret-*] }
telemetry:
  tracing: { endpoint: "${url}", sampler_ratio: 1 }
`);
  // Audit events go nowhere: this measures tracing against the rest of the decision.
  const audit: AuditSink = { write: (_e: AuditEvent) => undefined, flush: async () => undefined, close: async () => undefined };
  const tracing = new GatewayTracing(config.telemetry.tracing!);
  const plain = new GatewayRuntime(config, audit, undefined);
  const traced = new GatewayRuntime(config, audit, undefined, new Map(), new Map(), undefined, new Map(), undefined, tracing);
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get-balance', arguments: { account: 'ACC-1234' } } }));
  const response = { ':status': '200', 'content-type': 'application/json', 'content-length': '120' };

  const run = async (rt: GatewayRuntime): Promise<number> => {
    const before = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      const ex = new Exchange(rt);
      const h = { ':method': 'POST', ':path': '/mcp/s', ':authority': 'localhost', 'content-type': 'application/json', 'mcp-protocol-version': '2025-11-25', 'mcp-session-id': 'sess-1', traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${(i + 1).toString(16).padStart(16, '0')}-01` };
      await ex.requestHeaders(h, false, { clientAddress: '127.0.0.1:50000' });
      ex.requestBody(body);
      ex.responseHeaders(response, false);
      ex.close('complete');
      // Let the batch processor's timers and the exporter's requests run, as between requests.
      if (i % 256 === 0) await new Promise((r) => setImmediate(r));
    }
    if (rt === traced) await tracing.flush();
    const used = process.cpuUsage(before);
    return (used.user + used.system) / N;
  };

  let off = Infinity;
  let on = Infinity;
  await run(plain);
  await run(traced);
  for (let round = 0; round < ROUNDS; round++) {
    off = Math.min(off, await run(plain));
    on = Math.min(on, await run(traced));
  }
  const stats = await new Promise<{ requests: number; bytes: number }>((r) => {
    child.once('message', r);
    child.send('stats');
  });
  await tracing.shutdown();
  child.kill();
  console.log(`${N} tools/call exchanges, best of ${ROUNDS} rounds, Node ${process.version}`);
  console.log(`tracing off            ${off.toFixed(2).padStart(7)} µs CPU/call`);
  console.log(`tracing on (100 %)     ${on.toFixed(2).padStart(7)} µs CPU/call   +${(on - off).toFixed(2)} µs (${(((on - off) / off) * 100).toFixed(0)} % of the core's decision)`);
  console.log(`exported               ${stats.requests} OTLP requests, ${(stats.bytes / 1e6).toFixed(1)} MB`);
}
