// Child process: the floor of any Node.js ext_proc sidecar (setup 14). A grpc-js server
// with the project's ext_proc service definition and codec that decides nothing: every
// message is answered "continue, change nothing". It asks Envoy for the same phases the
// sidecar asks for on a governed exchange (EXCHANGE_MODE after the request headers; the
// response body buffered, or streamed for an event stream) and ends the stream when the
// response has ended, as src/extproc/stream.ts does. No parsing, identity, policy,
// curation or audit: what a sidecar costs before its own logic costs anything.
// BENCH_FLOOR_TRANSPORT=http2 serves it over node:http2 without grpc-js (bench/lib/bare-grpc.ts):
// the floor without the gRPC library.
//   node bench/lib/floor-main.js --listen 127.0.0.1:PORT
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { externalProcessorService } from '../../src/extproc/proto.js';
import { toProcessingResponse, type Phase } from '../../src/extproc/builders.js';
import { CONTINUE, type Verdict } from '../../src/gateway/verdict.js';
import type { ProcessingRequest, ProcessingResponse } from '../../src/extproc/messages.js';
import { bareGrpcServer } from './bare-grpc.js';

const BUFFERED: Verdict = { kind: 'continue', responseBodyMode: 'buffered' };
const STREAMED: Verdict = { kind: 'continue', responseBodyMode: 'streamed' };

/** The reply to one message, and whether the exchange is over after it. */
function answer(req: ProcessingRequest): { reply: ProcessingResponse; last: boolean } {
  const phase = (req.request ?? 'request_headers') as Phase;
  if (phase === 'response_headers') {
    if (req.response_headers?.end_of_stream) return { reply: toProcessingResponse(phase, CONTINUE), last: true };
    const type = req.response_headers?.headers?.headers?.find((h) => h.key === 'content-type');
    const sse = (type?.raw_value?.toString('latin1') ?? type?.value ?? '').startsWith('text/event-stream');
    return { reply: toProcessingResponse(phase, sse ? STREAMED : BUFFERED), last: false };
  }
  return { reply: toProcessingResponse(phase, CONTINUE), last: phase === 'response_body' && req.response_body?.end_of_stream === true };
}

const { values } = parseArgs({ options: { listen: { type: 'string' } } });
const [host, port] = (values.listen ?? '127.0.0.1:0').split(':') as [string, string];
if (process.env.BENCH_FLOOR_TRANSPORT === 'http2') bareGrpcServer(host, Number(port), answer, () => undefined);
else grpcJsServer();

function grpcJsServer(): void {
  // The sidecar's own server options (src/extproc/server.ts): a 94 kB list fits either way.
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 256 * 1024 * 1024,
    'grpc.max_send_message_length': 256 * 1024 * 1024,
    'grpc.keepalive_permit_without_calls': 1,
  });
  server.addService(externalProcessorService(), {
    Process: (call: grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>) => {
      let ended = false;
      call.on('data', (req: ProcessingRequest) => {
        if (ended) return;
        const { reply, last } = answer(req);
        call.write(reply);
        if (last) (ended = true), call.end();
      });
      call.on('end', () => ended || ((ended = true), call.end()));
      call.on('error', () => undefined);
    },
  });
  server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) {
      process.stderr.write(`floor: cannot listen on ${host}:${port}: ${err.message}\n`);
      process.exit(1);
    }
  });
  process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
}
