// The ext_proc service over node:http2 directly, without a gRPC library: length-prefixed
// messages in, one reply frame per message out, grpc-status in the trailers. Only for
// measuring what grpc-js costs (bench/grpc-transport-cost.ts, setup 14 with
// BENCH_FLOOR_TRANSPORT=http2); it implements no deadline, compression or flow control
// beyond what node:http2 does itself.
import { createServer, type ServerHttp2Stream } from 'node:http2';
import { externalProcessorService } from '../../src/extproc/proto.js';
import type { ProcessingRequest, ProcessingResponse } from '../../src/extproc/messages.js';

const method = externalProcessorService().Process!;

/** `answer` gives the reply to each message and whether the stream ends after it. */
export function bareGrpcServer(host: string, port: number, answer: (req: ProcessingRequest) => { reply: ProcessingResponse; last: boolean }, ready: () => void): void {
  const server = createServer({ maxSessionMemory: 64 });
  server.on('stream', (stream: ServerHttp2Stream, headers) => {
    if (headers[':path'] !== method.path) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
      return;
    }
    let buf: Buffer = Buffer.alloc(0);
    let responded = false;
    let ended = false;
    const finish = () => {
      if (ended) return;
      ended = true;
      if (!responded) stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true });
      else stream.end();
    };
    stream.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (!ended && buf.length >= 5) {
        const len = buf.readUInt32BE(1);
        if (buf.length < 5 + len) break;
        const req = method.requestDeserialize(buf.subarray(5, 5 + len)) as ProcessingRequest;
        buf = buf.subarray(5 + len);
        const { reply, last } = answer(req);
        const body = method.responseSerialize(reply);
        const frame = Buffer.allocUnsafe(5 + body.length);
        frame[0] = 0;
        frame.writeUInt32BE(body.length, 1);
        body.copy(frame, 5);
        if (!responded) {
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          responded = true;
        }
        stream.write(frame);
        if (last) finish();
      }
    });
    stream.on('end', finish);
    stream.on('error', () => undefined);
  });
  server.listen(port, host, ready);
}
