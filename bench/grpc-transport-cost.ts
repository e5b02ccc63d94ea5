// What the gRPC server library costs per ext_proc stream, against a bare HTTP/2 server
// speaking the same gRPC framing with the same codec. A server child process answers
// streams shaped like one tools/call (request headers, request body, response headers;
// one reply each, then the server ends the stream, as src/extproc/stream.ts does);
// the parent drives them with a grpc-js client, like Envoy, and reads the child's CPU.
//   node --import tsx bench/grpc-transport-cost.ts [--streams N] [--concurrency C] [--messages 2|3]
// --messages 2 leaves out the response headers (what skipping that phase would save).
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { externalProcessorService } from '../src/extproc/proto.js';
import { toProcessingResponse } from '../src/extproc/builders.js';
import { CONTINUE } from '../src/gateway/verdict.js';
import type { ProcessingRequest } from '../src/extproc/messages.js';
import { bareGrpcServer } from './lib/bare-grpc.js';

const method = externalProcessorService().Process!;
const { values } = parseArgs({ args: process.argv[2] === '--child' ? [] : process.argv.slice(2), options: { streams: { type: 'string' }, concurrency: { type: 'string' }, messages: { type: 'string' } } });
const MESSAGES = Number(values.messages ?? process.env.BENCH_GRPC_MESSAGES ?? 3);
const LAST = MESSAGES === 2 ? 'request_body' : 'response_headers';

function grpcJsServer(port: number, ready: () => void): void {
  const server = new grpc.Server();
  server.addService(externalProcessorService(), {
    Process: (call: grpc.ServerDuplexStream<ProcessingRequest, unknown>) => {
      call.on('data', (req: ProcessingRequest) => {
        call.write(toProcessingResponse(req.request as 'request_headers', CONTINUE));
        if (req.request === LAST) call.end();
      });
      call.on('error', () => undefined);
    },
  });
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), () => ready());
}

function bareServer(port: number, ready: () => void): void {
  bareGrpcServer('127.0.0.1', port, (req) => ({ reply: toProcessingResponse((req.request ?? 'request_headers') as 'request_headers', CONTINUE), last: req.request === LAST }), ready);
}

const header = (key: string, value: string) => ({ key, raw_value: Buffer.from(value, 'latin1') });
const REQUESTS = [
  { request_headers: { headers: { headers: [header(':path', '/mcp/json'), header(':method', 'POST'), header('content-type', 'application/json'), header('authorization', `Bearer ${'x'.repeat(600)}`), header('mcp-session-id', 's'.repeat(60))] } } },
  { request_body: { body: Buffer.from('{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}'), end_of_stream: true } },
  { response_headers: { headers: { headers: [header(':status', '200'), header('content-type', 'application/json')] } } },
];

async function drive(port: number, streams: number, concurrency: number): Promise<void> {
  const Client = grpc.makeGenericClientConstructor({ Process: method }, 'ExternalProcessor');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as { Process(): grpc.ClientDuplexStream<unknown, unknown> };
  let started = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const call = client.Process();
      let i = 0;
      call.on('data', () => {
        i++;
        if (i < MESSAGES) call.write(REQUESTS[i]);
        else call.end(); // Envoy's graceful close: half-close after the last reply
      });
      call.on('status', (s: grpc.StatusObject) => (s.code === 0 ? resolve() : reject(new Error(s.details))));
      call.on('error', reject);
      call.write(REQUESTS[0]);
    });
  const worker = async () => {
    while (started < streams) {
      started++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  (client as unknown as grpc.Client).close();
}

if (process.argv[2] === '--child') {
  const kind = process.argv[3]!;
  const port = Number(process.argv[4]);
  (kind === 'grpc-js' ? grpcJsServer : bareServer)(port, () => process.send!('ready'));
  let t0 = process.cpuUsage();
  process.on('message', (m) => {
    if (m === 'start') t0 = process.cpuUsage();
    else if (m === 'stop') {
      const d = process.cpuUsage(t0);
      process.send!({ us: d.user + d.system });
      setTimeout(() => process.exit(0), 50);
    }
  });
} else {
  const streams = Number(values.streams ?? 20_000);
  const concurrency = Number(values.concurrency ?? 16);
  const results: Record<string, number> = {};
  for (const kind of ['grpc-js', 'bare-http2', 'grpc-js', 'bare-http2']) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = fork(fileURLToPath(import.meta.url), ['--child', kind, String(port)], { execArgv: ['--import', 'tsx'], env: { ...process.env, BENCH_GRPC_MESSAGES: String(MESSAGES) } });
    await new Promise((r) => child.once('message', r));
    await drive(port, 2000, concurrency); // warm-up
    child.send('start');
    await drive(port, streams, concurrency);
    child.send('stop');
    const { us } = (await new Promise((r) => child.once('message', r))) as { us: number };
    const per = us / streams;
    results[kind] = Math.min(results[kind] ?? Infinity, per);
    process.stdout.write(`${kind.padEnd(12)} ${per.toFixed(1).padStart(7)} µs of server CPU per stream (${MESSAGES} messages each way)\n`);
  }
  process.stdout.write(`bare ÷ grpc-js: ${(results['bare-http2']! / results['grpc-js']!).toFixed(2)} (best of two each)\n`);
}
