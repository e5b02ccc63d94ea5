// Child process: the benchmark upstream, twice (same server, two transports):
//   json  enableJsonResponse: every POST is answered with application/json
//   sse   every POST is answered with a text/event-stream (progress, then the result)
// Prints one JSON line {"json": url, "sse": url} on stdout when both listen.
//
// Sessions opened by the sessions workload (clientInfo.name "bench-ephemeral") are
// closed by the server a second after they are initialized, so 10,000 sessions do
// not pile up here; pooled sessions ("bench-pool") live as long as the process.
//
// Resumability is switched off: startUpstream gives every session an in-memory event
// store that keeps its last 10,000 messages, including every 94 kB tools/list result
// (JSON responses are stored too), which grows this process by gigabytes within a
// minute of the list workload. The benchmark never resumes a stream, so each
// transport's store is swapped for one that numbers events and keeps nothing (SSE
// events still carry ids, as with the real store).
//
// And the SDK (1.32) never releases a JSON-mode request once answered: its
// _streamMapping entry keeps the resolved Response (body included) for the life of
// the session. The sweeper below drops the entries whose requests are all answered;
// without it the pooled sessions hold every tools/list result they ever returned.
import type { EventStore, StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { startUpstream, type McpServerLike, type RunningUpstream } from '../../examples/upstream.js';
import { createBenchServer } from './bench-server.js';

let eventNo = 0;
const KEEP_NOTHING: EventStore = {
  storeEvent: async (streamId) => `${streamId}_${++eventNo}`,
  replayEventsAfter: async () => '',
};

/** The parts of the SDK's (1.32) web-standard transport this file reaches into. */
interface Inner {
  _eventStore?: EventStore;
  _closed?: boolean;
  _streamMapping?: Map<string, { resolveJson?: unknown }>;
  _requestToStreamMapping?: Map<unknown, string>;
}
const transports = new Set<Inner>();

function tame(t: StreamableHTTPServerTransport): void {
  const inner = (t as unknown as { _webStandardTransport?: Inner })._webStandardTransport;
  if (!inner || !inner._eventStore || !(inner._streamMapping instanceof Map) || !(inner._requestToStreamMapping instanceof Map)) {
    throw new Error('the SDK transport changed shape: bench/lib/upstream-main.ts cannot switch its event store off or release answered requests');
  }
  inner._eventStore = KEEP_NOTHING;
  transports.add(inner);
}

/** Drops answered JSON-mode requests the SDK keeps (see above). */
function releaseAnswered(): void {
  for (const inner of transports) {
    if (inner._closed) {
      transports.delete(inner);
      continue;
    }
    const pending = new Set(inner._requestToStreamMapping!.values());
    for (const [streamId, stream] of inner._streamMapping!) if (stream.resolveJson && !pending.has(streamId)) inner._streamMapping!.delete(streamId);
  }
}

const EPHEMERAL = 'bench-ephemeral';
const ephemeral: { close(): Promise<void>; at: number }[] = [];

function factory(): { server: McpServerLike } {
  const { server } = createBenchServer();
  server.oninitialized = () => {
    if (server.getClientVersion()?.name === EPHEMERAL) ephemeral.push({ close: () => server.close(), at: Date.now() });
  };
  return {
    server: {
      connect: (t: StreamableHTTPServerTransport) => (tame(t), server.connect(t)),
      close: () => server.close(),
    },
  };
}

const json = await startUpstream({ port: Number(process.env.BENCH_UPSTREAM_JSON_PORT ?? 0), jsonResponse: true, createServer: factory });
const sse = await startUpstream({ port: Number(process.env.BENCH_UPSTREAM_SSE_PORT ?? 0), jsonResponse: false, createServer: factory });
const upstreams: RunningUpstream[] = [json, sse];

const sweeper = setInterval(() => {
  // startUpstream records every request for the tests; the benchmark does not need them.
  for (const u of upstreams) u.received.length = 0;
  releaseAnswered();
  const cutoff = Date.now() - 1000;
  while (ephemeral.length && ephemeral[0]!.at < cutoff) void ephemeral.shift()!.close().catch(() => undefined);
}, 250);

process.stdout.write(`${JSON.stringify({ json: json.url, sse: sse.url })}\n`);

const stop = async () => {
  clearInterval(sweeper);
  await Promise.allSettled(upstreams.map((u) => u.close()));
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.on('disconnect', () => void stop());
