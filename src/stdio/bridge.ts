// The bridge of one stdio server: a streamable HTTP endpoint on loopback that Envoy
// routes to like any upstream, with the stdio program's processes behind it.
// - A POST `initialize` without a session opens an MCP session (its own process in
//   per_session mode, the shared one in shared mode); the bridge issues its Mcp-Session-Id.
// - A request without a session (2026-07-28, stateless) goes to one shared "stateless"
//   process of the server: the bridge cannot tell callers apart, so isolation between
//   callers is what sessions give.
// - Requests are answered as SSE (server messages of the call ride along) when the client
//   accepts it, JSON otherwise; GET opens the session's stream for server-initiated
//   messages; DELETE ends the session (and stops its process).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../telemetry/log.js';
import type { StdioServerConfig } from './config.js';
import { Channel, stdioError, type Peer, type RequestId } from './channel.js';
import { GivenUpError, PoolFullError, ProcessPool } from './pool.js';
import { ProgramStartError, startProgram, type JsonRpcMessage, type Program, type ProgramExit } from './program.js';

export interface BridgeOptions {
  server: string;
  config: StdioServerConfig;
  log: Logger;
  /** Default: config.port (0: a free one). */
  port?: number;
  /** The endpoint's path (Envoy rewrites the virtual server's path to it). */
  path?: string;
  maxRequestBytes?: number;
  /** Starts one process (default: the configured program); tests substitute. */
  start?: () => Program;
}

export interface StdioBridge {
  readonly server: string;
  /** `http://127.0.0.1:<port><path>`. */
  readonly url: URL;
  stats(): BridgeStats;
  stop(): Promise<void>;
}

export interface BridgeStats {
  /** Processes and sessions now. */
  processes: number;
  sessions: number;
  /** Since the bridge started: processes started, and how they ended. */
  started: number;
  crashed: number;
  stopped: number;
  /** Sessions or requests the bridge answered with an error of its own, by reason. */
  refused: Record<string, number>;
}

/** One open HTTP answer: the final answer ends it; an SSE one also carries server messages. */
interface Stream {
  readonly sse: boolean;
  readonly res: ServerResponse;
  answer(msg: JsonRpcMessage): void;
}

const sseStream = (res: ServerResponse): Stream => ({ sse: true, res, answer: (msg) => void res.end(sseEvent(msg)) });
const jsonStream = (res: ServerResponse, headers: (msg: JsonRpcMessage) => Record<string, string> = () => ({})): Stream => ({
  sse: false,
  res,
  answer: (msg) => answerJson(res, errorStatus(msg), msg, headers(msg)),
});

/** The open HTTP answers of one caller, by the request they answer, and its GET stream. */
class Caller implements Peer {
  readonly streams = new Map<string, Stream>();
  get: ServerResponse | undefined;
  constructor(
    private readonly onDrop: (msg: JsonRpcMessage) => void,
    private readonly onClosed?: (exit: ProgramExit) => void,
  ) {}

  deliver(msg: JsonRpcMessage, related?: RequestId): void {
    const target = related !== undefined ? this.streams.get(keyOf(related)) : undefined;
    if (msg.method === undefined) {
      if (!target) return;
      this.streams.delete(keyOf(related));
      return target.answer(msg);
    }
    // A server message: the stream of its request, else the GET stream, else the latest SSE answer.
    const sse = target?.sse ? target.res : (this.get ?? [...this.streams.values()].filter((s) => s.sse).at(-1)?.res);
    if (sse) sse.write(sseEvent(msg));
    else this.onDrop(msg);
  }

  closed(exit: ProgramExit): void {
    this.get?.end();
    this.get = undefined;
    this.onClosed?.(exit);
  }
}

interface Session {
  id: string;
  caller: Caller;
  channel: Channel;
  dedicated: boolean;
}

const keyOf = (id: unknown) => (typeof id === 'string' ? `s${id}` : `n${String(id)}`);
const sseEvent = (msg: JsonRpcMessage) => `event: message\ndata: ${JSON.stringify(msg)}\n\n`;
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' };

/** The HTTP status a bridge error goes with (a program's own errors are 200, as over any transport). */
function errorStatus(msg: JsonRpcMessage): number {
  const reason = ((msg.error as { data?: { reason?: string } } | undefined)?.data?.reason) ?? '';
  return reason === 'stdio_pool_full' || reason === 'stdio_unavailable' ? 503 : reason === 'stdio_start_failed' || reason === 'stdio_exited' ? 502 : 200;
}

function answerJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function httpError(res: ServerResponse, status: number, code: number, message: string, id: RequestId | null = null): void {
  answerJson(res, status, { jsonrpc: '2.0', id, error: { code, message } });
}

async function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) return undefined;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startBridge(opts: BridgeOptions): Promise<StdioBridge> {
  const { server, config, log } = opts;
  const path = opts.path ?? '/mcp';
  const maxBody = opts.maxRequestBytes ?? 4 * 1024 * 1024;
  const sessions = new Map<string, Session>();
  const channels = new Map<Program, Channel>();
  const counts = { started: 0, crashed: 0, stopped: 0, refused: {} as Record<string, number> };
  const startOne = opts.start ?? (() => startProgram(server, config, log));
  const start = () => {
    const p = startOne();
    counts.started++;
    void p.exited.then((e) => (e.stopped ? counts.stopped++ : counts.crashed++));
    return p;
  };
  const pool: ProcessPool<Program> = new ProcessPool(start, config, {
    isBusy: (p) => (channels.get(p)?.inFlight ?? 0) > 0,
    onIdle: (p) => log.info({ server, pid: p.pid, idleTimeoutMs: config.idleTimeoutMs }, 'stdio server idle; stopping it (its session ends)'),
  });
  const channelOf = (p: Program, rewrite: boolean): Channel => {
    let c = channels.get(p);
    if (!c) {
      c = new Channel(p, rewrite, () => pool.healthy(p), () => pool.touch(p));
      channels.set(p, c);
      void p.exited.then(() => channels.delete(p));
    }
    return c;
  };
  const dropped = (msg: JsonRpcMessage) => log.debug({ server, method: msg.method }, 'stdio server message with no open stream to carry it; dropped');

  /** A channel for a new session, or the bridge error the caller gets instead. */
  const openChannel = async (slot: 'sessions' | 'stateless' | undefined): Promise<Channel | { reason: 'stdio_pool_full' | 'stdio_start_failed' | 'stdio_unavailable'; message: string }> => {
    try {
      return slot === undefined ? channelOf(pool.dedicated(), false) : channelOf(await pool.shared(slot), true);
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof PoolFullError) return { reason: 'stdio_pool_full', message };
      if (err instanceof GivenUpError) return { reason: 'stdio_unavailable', message };
      if (err instanceof ProgramStartError) log.error({ server, command: config.command }, message);
      else log.error({ server, err }, 'stdio server could not be started');
      return { reason: 'stdio_start_failed', message };
    }
  };

  const endSession = (s: Session) => {
    if (sessions.get(s.id) !== s) return;
    sessions.delete(s.id);
    s.caller.get?.end();
    s.channel.detach(s.caller);
    if (s.dedicated) void s.channel.program.stop();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://bridge');
    if (url.pathname !== path) return httpError(res, 404, -32000, 'not found');
    // Envoy sets Host to the bridge's own address; anything else is not Envoy (a DNS-rebinding page, say).
    const host = req.headers.host ?? '';
    const port = (http.address() as AddressInfo).port;
    if (![`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(host)) return httpError(res, 403, -32600, 'this bridge answers its gateway only');
    const sid = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(sid) ? sid[0] : sid;
    const session = sessionId === undefined ? undefined : sessions.get(sessionId);
    if (sessionId !== undefined && !session) return httpError(res, 404, -32001, 'Session not found');
    if (req.method === 'GET') return openGet(session, req, res);
    if (req.method === 'DELETE') {
      if (!session) return httpError(res, 400, -32600, 'DELETE needs an Mcp-Session-Id');
      endSession(session);
      return void res.writeHead(200).end();
    }
    if (req.method !== 'POST') return void res.writeHead(405, { allow: 'GET, POST, DELETE' }).end();
    if (!(req.headers['content-type'] ?? '').includes('application/json')) return httpError(res, 415, -32600, 'Content-Type must be application/json');
    const raw = await readBody(req, maxBody);
    if (raw === undefined) return httpError(res, 413, -32600, `request body over ${maxBody} bytes`);
    let msg: JsonRpcMessage;
    try {
      msg = JSON.parse(raw) as JsonRpcMessage;
    } catch {
      return httpError(res, 400, -32700, 'Parse error');
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg) || msg.jsonrpc !== '2.0') return httpError(res, 400, -32600, 'expected one JSON-RPC 2.0 message');
    const isRequest = typeof msg.method === 'string' && Object.hasOwn(msg, 'id');
    const id = isRequest ? (msg.id as RequestId) : null;

    let channel: Channel;
    let caller: Caller;
    let newSession: Session | undefined;
    if (session) {
      ({ channel, caller } = session);
    } else {
      const initialize = isRequest && msg.method === 'initialize';
      const opened = await openChannel(initialize ? (config.mode === 'shared' ? 'sessions' : undefined) : 'stateless');
      if (!(opened instanceof Channel)) {
        counts.refused[opened.reason] = (counts.refused[opened.reason] ?? 0) + 1;
        log.warn({ server, reason: opened.reason }, opened.message);
        return answerJson(res, opened.reason === 'stdio_start_failed' ? 502 : 503, stdioError(id, opened.reason, opened.message));
      }
      channel = opened;
      if (initialize) {
        caller = new Caller(dropped, () => endSession(s));
        const s: Session = { id: randomUUID(), channel, dedicated: config.mode !== 'shared', caller };
        newSession = s;
      } else {
        caller = new Caller(dropped);
      }
      channel.attach(caller);
    }

    if (!isRequest) {
      // A notification, or an answer to a request of the program's.
      if (typeof msg.method === 'string') channel.notify(caller, msg);
      else if (!channel.answer(caller, msg)) return httpError(res, 400, -32600, 'no request of the server is waiting for this answer');
      if (!session) channel.detach(caller);
      return void res.writeHead(202).end();
    }
    const sse = !newSession && (req.headers.accept ?? '').includes('text/event-stream');
    const key = keyOf(id);
    if (caller.streams.has(key)) return answerJson(res, 200, stdioError(id, 'stdio_duplicate_id', `request id ${JSON.stringify(id)} is already in flight`));
    if (newSession) {
      // The session exists once the program answered initialize without an error; the answer carries its id.
      const s = newSession;
      caller.streams.set(key, jsonStream(res, (answer): Record<string, string> => {
        if (answer.error !== undefined) {
          abandon(s);
          return {};
        }
        sessions.set(s.id, s);
        return { 'mcp-session-id': s.id };
      }));
    } else {
      if (sse) res.writeHead(200, SSE_HEADERS);
      caller.streams.set(key, sse ? sseStream(res) : jsonStream(res));
    }
    res.on('close', () => {
      // The client went away before the answer: the program is told to stop working on it.
      if (caller.streams.get(key)?.res === res) {
        caller.streams.delete(key);
        channel.cancel(caller, id!);
        if (newSession && !sessions.has(newSession.id)) abandon(newSession);
      }
      if (!session && !newSession) channel.detach(caller);
    });
    channel.request(caller, msg);
  };

  /** A session that never came to be (initialize failed): its process goes too. */
  const abandon = (s: Session) => {
    s.channel.detach(s.caller);
    if (s.dedicated) void s.channel.program.stop();
  };

  const openGet = (session: Session | undefined, req: IncomingMessage, res: ServerResponse) => {
    if (!session) return void res.writeHead(405, { allow: 'POST' }).end();
    if (!(req.headers.accept ?? '').includes('text/event-stream')) return httpError(res, 406, -32600, 'GET needs Accept: text/event-stream');
    if (session.caller.get) return httpError(res, 409, -32600, 'this session already has a GET stream');
    res.writeHead(200, SSE_HEADERS);
    res.flushHeaders();
    session.caller.get = res;
    res.on('close', () => {
      if (session.caller.get === res) session.caller.get = undefined;
    });
  };

  const http = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ server, err }, 'stdio bridge request failed');
      if (!res.headersSent) httpError(res, 500, -32603, 'internal error in the stdio bridge');
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port ?? config.port, '127.0.0.1', () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  log.debug({ server, port, command: config.command, mode: config.mode }, 'stdio bridge listening');
  return {
    server,
    url: new URL(`http://127.0.0.1:${port}${path}`),
    stats: () => ({ processes: pool.size, sessions: sessions.size, ...counts, refused: { ...counts.refused } }),
    async stop() {
      http.closeAllConnections();
      await Promise.all([new Promise<void>((r) => http.close(() => r())), pool.stopAll()]);
    },
  };
}
