// The whole exchange under fuzz: scripted ext_proc streams through the real gRPC
// server (adapter + core, as test/unit/extproc-stream.test.ts drives them), an Envoy
// model that decides which message Envoy would send next from the replies so far,
// and a reconstruction of what the client would receive.
import * as grpc from '@grpc/grpc-js';
import { externalProcessorService } from '../../src/extproc/proto.js';
import { startExtProcServer, type ExtProcServer } from '../../src/extproc/server.js';
import { randomBytes } from 'node:crypto';
import { ANONYMOUS, GatewayRuntime } from '../../src/gateway/runtime.js';
import { SessionBinder, callerKey } from '../../src/sessions/binding.js';
import { MemoryAuditSink } from '../../src/audit/sink.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/telemetry/log.js';
import type { AuditEvent } from '../../src/audit/event.js';
import type { ProcessingRequest, ProcessingResponse, CommonResponse } from '../../src/extproc/messages.js';

/** The fuzz config: one curated server (`s`) and one open one. Its rules are mirrored in mcp-messages.ts. */
export const CONFIG = `
gateway:
  # Small, so that SSE events over the cap (held back, then refused) are exercised too.
  max_response_bytes: 1024
servers:
  - name: s
    url: http://127.0.0.1:1/mcp
    tools:
      deny: [secret-*]
    prompts:
      allow: [greet, summarize-*]
    resources:
      deny: [test://secret/*, https://internal.example/*]
  - name: open
    url: http://127.0.0.1:1/mcp
`;

type Client = grpc.Client & { Process: () => grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse> };

export interface Harness {
  audit: MemoryAuditSink;
  client: Client;
  /** A session id the gateway sealed for the (anonymous) caller on server `s`, carrying UPSTREAM_SESSION. */
  sealedSession: string;
  /** The same, sealed for the other server (`open`): foreign on `s`. */
  sealedOpen: string;
  close(): Promise<void>;
}

/** The session id the fuzzed upstream hands out: the client must only ever see it sealed. */
export const UPSTREAM_SESSION = 'up-1';

export async function startHarness(): Promise<Harness> {
  const audit = new MemoryAuditSink();
  // Session ids are sealed and bound to the caller (as they are whenever a binder is configured).
  const binder = new SessionBinder([randomBytes(32)], 3600);
  const rt = new GatewayRuntime(parseConfig(CONFIG), audit, undefined, new Map(), new Map(), binder);
  const sealedSession = binder.seal(UPSTREAM_SESSION, callerKey(ANONYMOUS), 's');
  const sealedOpen = binder.seal(UPSTREAM_SESSION, callerKey(ANONYMOUS), 'open');
  // Errors the adapter logs (e.g. a phase error) are expected under fuzz: silent logger.
  const server: ExtProcServer = await startExtProcServer({ kind: 'tcp', host: '127.0.0.1', port: 0 }, () => rt, createLogger('silent'));
  const Ctor = grpc.makeGenericClientConstructor(externalProcessorService(), 'ExternalProcessor');
  const client = new Ctor(server.address, grpc.credentials.createInsecure()) as unknown as Client;
  return {
    audit,
    client,
    sealedSession,
    sealedOpen,
    async close() {
      client.close();
      await server.shutdown(200);
      rt.close();
    },
  };
}

export type Headers = [string, string][];
const headerMap = (h: Headers) => ({ headers: h.map(([key, v]) => ({ key, raw_value: Buffer.from(v, 'latin1') })) });

export const msg = {
  requestHeaders: (h: Headers, eos: boolean): ProcessingRequest => ({ request_headers: { headers: headerMap(h), end_of_stream: eos } }),
  requestBody: (b: Uint8Array, eos: boolean): ProcessingRequest => ({ request_body: { body: Buffer.from(b), end_of_stream: eos } }),
  requestTrailers: (h: Headers): ProcessingRequest => ({ request_trailers: { trailers: headerMap(h) } }),
  responseHeaders: (h: Headers, eos: boolean): ProcessingRequest => ({ response_headers: { headers: headerMap(h), end_of_stream: eos } }),
  responseBody: (b: Uint8Array, eos: boolean): ProcessingRequest => ({ response_body: { body: Buffer.from(b), end_of_stream: eos } }),
  responseTrailers: (h: Headers): ProcessingRequest => ({ response_trailers: { trailers: headerMap(h) } }),
};

/** A live stream: send one message, get its reply (undefined once the stream is over). */
export class Stream {
  private readonly call: grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>;
  private readonly queue: ProcessingResponse[] = [];
  private waiter: (() => void) | undefined;
  /** Set when the server ended the stream: undefined while open, null when it ended normally. */
  ended: grpc.ServiceError | null | undefined;
  readonly done: Promise<void>;

  constructor(client: Client) {
    this.call = client.Process();
    this.done = new Promise<void>((resolve) => {
      this.call.on('error', (e: grpc.ServiceError) => {
        this.ended = e;
        this.waiter?.();
        resolve();
      });
      this.call.on('end', () => {
        this.ended ??= null;
        this.waiter?.();
        resolve();
      });
    });
    this.call.on('data', (r: ProcessingResponse) => {
      this.queue.push(r);
      this.waiter?.();
    });
  }

  /** Sends `req` and waits for its reply; undefined when the stream ended instead. */
  async send(req: ProcessingRequest): Promise<ProcessingResponse | undefined> {
    if (this.ended !== undefined) return undefined;
    this.call.write(req);
    for (;;) {
      const r = this.queue.shift();
      if (r) return r;
      if (this.ended !== undefined) return undefined;
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = undefined;
    }
  }

  /** Half-closes (as Envoy does when the exchange is over) and waits for the final status. */
  async finish(): Promise<grpc.ServiceError | null> {
    if (this.ended === undefined) this.call.end();
    await this.done;
    return this.ended ?? null;
  }
}

// ---- the Envoy model -------------------------------------------------------------

/** One exchange as Envoy would present it, if the sidecar asked for every phase. */
export interface Exchange {
  requestHeaders: Headers;
  /** undefined: the request headers end the stream (no body). */
  requestBody: Uint8Array | undefined;
  requestTrailers: Headers | undefined;
  /** Envoy answers itself before the request is decided (a local reply), with these response headers. */
  localReply: Headers | undefined;
  responseHeaders: Headers;
  /** The upstream's body as it arrives, chunk by chunk (empty: headers end the response). */
  responseChunks: Uint8Array[];
}

/** What the client gets, as far as the sidecar decides it. */
export interface ClientView {
  /** An immediate response sent instead of anything else, and the phase that sent it. */
  immediate: { phase: string; status: number; body: string; contentType: string | undefined } | undefined;
  /** Whether the request was let through to the upstream (every request phase continued). */
  requestForwarded: boolean;
  /** The response status and content type the client sees (when the upstream answered). */
  status: string | undefined;
  contentType: string | undefined;
  /** The response body bytes the client sees. */
  body: Buffer;
  /** The replies, in order, with the phase each answered. */
  replies: { phase: string; reply: ProcessingResponse }[];
  /** The final gRPC status: null when the stream ended normally. */
  error: grpc.ServiceError | null;
  /** Audit events written for this stream. */
  events: AuditEvent[];
  /** A trailers reply that did not remove every trailer. */
  trailersKept: string[] | undefined;
  /** The Mcp-Session-Id the upstream got (after the request-headers reply), and the one the client got. */
  upstreamSession: string | undefined;
  clientSession: string | undefined;
}

const PHASES = ['request_headers', 'request_body', 'request_trailers', 'response_headers', 'response_body', 'response_trailers'] as const;

function common(reply: ProcessingResponse): CommonResponse | undefined {
  for (const p of ['request_headers', 'request_body', 'response_headers', 'response_body'] as const) if (reply[p]) return reply[p]!.response;
  return undefined;
}

function replyPhase(reply: ProcessingResponse): string {
  if (reply.immediate_response) return 'immediate_response';
  return PHASES.find((p) => reply[p] !== undefined) ?? 'none';
}

/** A header as the client reads it: repeated ones joined with ", " (as fetch does). */
function header(h: Headers, name: string): string | undefined {
  const vs = h.filter(([k]) => k === name).map(([, v]) => v);
  return vs.length ? vs.join(', ') : undefined;
}

/** Header value after a reply's mutation, or the original. */
function mutated(h: Headers, name: string, c: CommonResponse | undefined): string | undefined {
  const set = c?.header_mutation?.set_headers?.find((x) => x.header.key === name);
  if (set) return Buffer.from(set.header.raw_value).toString('latin1');
  if (c?.header_mutation?.remove_headers?.includes(name)) return undefined;
  return header(h, name);
}

/**
 * Drives one exchange through the sidecar as Envoy would: each message only when Envoy
 * would send it given the replies so far (processing mode, overrides, immediate
 * responses, the sidecar closing the stream); returns what the client would get.
 */
export async function runExchange(h: Harness, ex: Exchange): Promise<ClientView> {
  const before = h.audit.events.length;
  const s = new Stream(h.client);
  const view: ClientView = { immediate: undefined, requestForwarded: false, status: undefined, contentType: undefined, body: Buffer.alloc(0), replies: [], error: null, events: [], trailersKept: undefined, upstreamSession: undefined, clientSession: undefined };
  const send = async (phase: string, req: ProcessingRequest): Promise<ProcessingResponse | undefined> => {
    const r = await s.send(req);
    if (r) {
      view.replies.push({ phase, reply: r });
      if (r.immediate_response) {
        const ir = r.immediate_response;
        const ct = ir.headers?.set_headers?.find((x) => x.header.key === 'content-type');
        view.immediate = { phase, status: ir.status.code, body: Buffer.from(ir.body ?? []).toString('utf8'), contentType: ct ? Buffer.from(ct.header.raw_value).toString('latin1') : undefined };
      }
    }
    return r;
  };
  // Static processing mode (src/envoy/bootstrap.ts): response headers SKIPped, bodies NONE.
  let responseHeaderMode = 'SKIP';
  let responseBodyMode = 'NONE';
  let talking = true; // the sidecar is still in the stream
  const upstreamResponse = () => {
    view.status = ex.responseHeaders.find(([k]) => k === ':status')?.[1];
    view.contentType = header(ex.responseHeaders, 'content-type');
    view.clientSession = header(ex.responseHeaders, 'mcp-session-id');
  };
  const rawBody = () => (view.body = Buffer.concat(ex.responseChunks.map((c) => Buffer.from(c))));

  await (async () => {
    if (ex.localReply) {
      // Envoy answers on its own; the request never reaches the sidecar.
      const r = await send('response_headers', msg.responseHeaders(ex.localReply, true));
      if (!r) return;
      return;
    }
    const bodyFollows = ex.requestBody !== undefined;
    const r1 = await send('request_headers', msg.requestHeaders(ex.requestHeaders, !bodyFollows));
    if (!r1 || r1.immediate_response) return;
    view.upstreamSession = mutated(ex.requestHeaders, 'mcp-session-id', common(r1));
    if (r1.mode_override?.response_header_mode) responseHeaderMode = r1.mode_override.response_header_mode;
    if (r1.mode_override?.response_body_mode) responseBodyMode = r1.mode_override.response_body_mode;
    if (s.ended !== undefined) talking = false;
    if (bodyFollows && talking) {
      const r2 = await send('request_body', msg.requestBody(ex.requestBody!, ex.requestTrailers === undefined));
      if (!r2) return;
      if (r2.immediate_response) return;
      if (s.ended !== undefined) talking = false;
    }
    if (ex.requestTrailers && bodyFollows && talking) {
      const r3 = await send('request_trailers', msg.requestTrailers(ex.requestTrailers));
      if (!r3 || r3.immediate_response) return;
      const removed = r3.request_trailers?.header_mutation?.remove_headers ?? [];
      const kept = ex.requestTrailers.map(([k]) => k).filter((k) => !removed.includes(k));
      if (kept.length) view.trailersKept = kept;
      if (s.ended !== undefined) talking = false;
    }
    view.requestForwarded = true;
    upstreamResponse();
    const eos = ex.responseChunks.length === 0;
    let c: CommonResponse | undefined;
    if (talking && responseHeaderMode === 'SEND') {
      const r4 = await send('response_headers', msg.responseHeaders(ex.responseHeaders, eos));
      if (!r4 || r4.immediate_response) {
        view.status = undefined;
        view.clientSession = undefined;
        return;
      }
      c = common(r4);
      view.clientSession = mutated(ex.responseHeaders, 'mcp-session-id', c);
      view.contentType = mutated(ex.responseHeaders, 'content-type', c);
      if (r4.mode_override?.response_body_mode) responseBodyMode = r4.mode_override.response_body_mode;
      if (s.ended !== undefined) talking = false;
    }
    if (eos) return;
    if (!talking || responseBodyMode === 'NONE') return void rawBody();
    if (responseBodyMode === 'BUFFERED') {
      const whole = Buffer.concat(ex.responseChunks.map((x) => Buffer.from(x)));
      const r5 = await send('response_body', msg.responseBody(whole, true));
      if (!r5) return; // the stream failed: Envoy answers 500 (fail closed)
      if (r5.immediate_response) return void (view.status = undefined);
      const m = common(r5);
      const bm = m?.body_mutation;
      view.body = bm === undefined ? whole : 'clear_body' in bm ? Buffer.alloc(0) : Buffer.from(bm.body);
      const ct = m?.header_mutation?.set_headers?.find((x) => x.header.key === 'content-type');
      if (ct) view.contentType = Buffer.from(ct.header.raw_value).toString('latin1');
      return;
    }
    // STREAMED: one reply per chunk; once the sidecar leaves the stream, chunks pass as they are.
    const out: Buffer[] = [];
    for (let i = 0; i < ex.responseChunks.length; i++) {
      const chunk = Buffer.from(ex.responseChunks[i]!);
      if (!talking || s.ended !== undefined) {
        if (s.ended) break; // a gRPC error: Envoy resets the response (fail closed)
        out.push(chunk);
        continue;
      }
      const r = await send('response_body', msg.responseBody(chunk, i === ex.responseChunks.length - 1));
      if (!r) break;
      if (r.immediate_response) break;
      const bm = common(r)?.body_mutation;
      out.push(bm === undefined ? chunk : 'clear_body' in bm ? Buffer.alloc(0) : Buffer.from(bm.body));
    }
    view.body = Buffer.concat(out);
  })();
  view.error = await s.finish();
  view.events = h.audit.events.slice(before);
  return view;
}

/** Sends a fixed list of messages regardless of the replies (out-of-order fuzz); returns the replies and status. */
export async function runRaw(h: Harness, reqs: ProcessingRequest[]): Promise<{ replies: ProcessingResponse[]; error: grpc.ServiceError | null; events: AuditEvent[] }> {
  const before = h.audit.events.length;
  const s = new Stream(h.client);
  const replies: ProcessingResponse[] = [];
  for (const r of reqs) {
    const got = await s.send(r);
    if (!got) break;
    replies.push(got);
  }
  const error = await s.finish();
  return { replies, error, events: h.audit.events.slice(before) };
}

export { replyPhase };
