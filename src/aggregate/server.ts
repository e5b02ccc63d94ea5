// The aggregator: an HTTP server on loopback that is the upstream of every aggregate's virtual
// server (`/aggregate/<name>`). Only requests carrying the aggregate key (set by the sidecar)
// are served. Per client session it holds an AggregateSession (one member session per member,
// through Envoy's listener, as the caller); the session ends on DELETE, when a member is lost,
// or after sessions.ttl_s without a request.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import type { GatewayConfig, HostPort } from '../config/types.js';
import type { Logger } from '../telemetry/log.js';
import { AGGREGATE_KEY_HEADER, AGGREGATOR_PATH_PREFIX, listenerBase } from './config.js';
import { AggregateSession } from './session.js';
import { keyMatches } from './key.js';
import { JsonRpcErrorCode } from '../mcp/errors.js';
import { STATELESS_PROTOCOL_VERSIONS, SUPPORTED_PROTOCOL_VERSIONS, metaProtocolVersion } from '../mcp/protocol.js';

const VERSION = '0.1.0';
/** How often idle sessions are looked for. */
const SWEEP_MS = 60_000;
/** Open aggregate sessions at most (each holds one session per member): a new one beyond is refused. */
const MAX_SESSIONS = 10_000;

export interface Aggregator {
  readonly address: HostPort;
  /** Open aggregate sessions (for tests and readiness). */
  readonly sessions: number;
  /** A reloaded config: new sessions use its aggregates and members; open ones keep theirs. */
  update(config: GatewayConfig): void;
  close(): Promise<void>;
}

interface Open {
  aggregate: string;
  transport: StreamableHTTPServerTransport;
  session: AggregateSession;
  lastUsed: number;
}

/** The request headers that carry the caller's credentials, to pass to each member. */
function credentialHeaderNames(config: GatewayConfig): string[] {
  return [...new Set(['authorization', 'proxy-authorization', config.auth.apiKeys?.header ?? 'x-api-key'])];
}

function rpcError(res: ServerResponse, status: number, code: number, message: string, id: unknown = null): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }));
}

async function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > max) return undefined;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The `_meta` protocol version of a stateless request (2026-07-28), if the body carries one. */
function statelessVersion(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const params = (body as { params?: unknown }).params;
  if (params === null || typeof params !== 'object' || Array.isArray(params)) return undefined;
  const v = metaProtocolVersion(params as Record<string, unknown>);
  return typeof v === 'string' ? v : undefined;
}

export async function startAggregator(initial: GatewayConfig, opts: { key: string; log: Logger }): Promise<Aggregator> {
  let config = initial;
  const log = opts.log.child({ component: 'aggregator' });
  const open = new Map<string, Open>();

  const end = (id: string, why: string) => {
    const o = open.get(id);
    if (!o) return;
    open.delete(id);
    log.info({ aggregate: o.aggregate, session: id, why }, 'aggregate session closed');
    void o.transport.close().catch(() => undefined);
    void o.session.close();
  };

  /**
   * A lost member: the session takes no new request now (404), and closes once the request that
   * found the loss has its answer (closing at once would cut that answer off).
   */
  const endAfterAnswer = (id: string, why: string) => {
    const o = open.get(id);
    if (!o) return;
    open.delete(id);
    const close = () => {
      clearTimeout(fallback);
      open.set(id, o);
      end(id, why);
    };
    const fallback = setTimeout(close, 5000);
    const send = o.transport.send.bind(o.transport);
    o.transport.send = async (message, options) => {
      await send(message, options);
      if ('id' in message && ('result' in message || 'error' in message)) close();
    };
  };

  const start = async (name: string, credentials: Record<string, string>, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> => {
    if (open.size >= MAX_SESSIONS) return rpcError(res, 503, ErrorCode.InternalError, `Too many open aggregate sessions (${MAX_SESSIONS}); try again later`, (body as { id?: unknown }).id ?? null);
    const agg = config.servers.find((s) => s.name === name)!;
    const base = listenerBase(config.gateway.listen);
    const members = agg.aggregate!.members.map((m) => ({ name: m, url: new URL(`${base}${config.servers.find((s) => s.name === m)!.path}`) }));
    let id: string | undefined;
    let session: AggregateSession;
    try {
      session = await AggregateSession.open({ aggregate: name, separator: agg.aggregate!.separator, members, version: VERSION, onLost: (err) => id !== undefined && endAfterAnswer(id, err.message) }, credentials);
    } catch (err) {
      const e = err as { code?: unknown; message: string };
      log.warn({ aggregate: name, err: e.message }, 'aggregate session not opened');
      return rpcError(res, 502, typeof e.code === 'number' ? e.code : ErrorCode.InternalError, e.message, (body as { id?: unknown }).id ?? null);
    }
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => {
        id = sid;
        open.set(sid, { aggregate: name, transport, session, lastUsed: Date.now() });
      },
    });
    transport.onclose = () => {
      if (id !== undefined && open.has(id)) end(id, 'closed');
      else void session.close();
    };
    await session.server.connect(transport);
    await transport.handleRequest(req, res, body);
    if (id === undefined) {
      // The initialize was refused by the SDK (malformed): nothing to keep.
      await transport.close().catch(() => undefined);
      await session.close();
    }
  };

  const http = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://aggregator');
      const name = url.pathname.startsWith(AGGREGATOR_PATH_PREFIX) ? url.pathname.slice(AGGREGATOR_PATH_PREFIX.length) : '';
      const agg = config.servers.find((s) => s.name === name && s.aggregate);
      if (!agg) return rpcError(res, 404, ErrorCode.InvalidRequest, 'No aggregate here');
      const presented = req.headers[AGGREGATE_KEY_HEADER];
      if (!keyMatches(Array.isArray(presented) ? presented[0] : presented, opts.key)) return rpcError(res, 403, ErrorCode.InvalidRequest, 'The aggregator is reached through the gateway only');
      const credentials: Record<string, string> = {};
      for (const h of credentialHeaderNames(config)) {
        const v = req.headers[h];
        if (typeof v === 'string') credentials[h] = v;
      }
      let body: unknown;
      if (req.method === 'POST') {
        const text = await readBody(req, config.gateway.maxRequestBytes);
        if (text === undefined) return rpcError(res, 413, ErrorCode.InvalidRequest, 'Request body too large');
        try {
          body = JSON.parse(text);
        } catch {
          return rpcError(res, 400, ErrorCode.ParseError, 'Parse error');
        }
      }
      const stateless = statelessVersion(body);
      if (stateless !== undefined) {
        // The aggregate keeps per-member sessions: a stateless (2026-07-28) client is told which revisions it speaks.
        const supported = SUPPORTED_PROTOCOL_VERSIONS.filter((v) => !STATELESS_PROTOCOL_VERSIONS.includes(v));
        if (res.headersSent) return;
        return void res
          .writeHead(400, { 'content-type': 'application/json' })
          .end(JSON.stringify({ jsonrpc: '2.0', id: (body as { id?: unknown }).id ?? null, error: { code: JsonRpcErrorCode.UnsupportedProtocolVersion, message: `Unsupported protocol version ${JSON.stringify(stateless.slice(0, 64))}: an aggregate speaks ${supported.join(', ')} (initialize a session)`, data: { supported, requested: stateless } } }));
      }
      const sid = req.headers['mcp-session-id'];
      if (typeof sid === 'string') {
        const o = open.get(sid);
        // The sidecar binds session ids to callers; here a session also belongs to one aggregate.
        if (!o || o.aggregate !== name) return rpcError(res, 404, ErrorCode.InvalidRequest, 'Session not found');
        o.lastUsed = Date.now();
        o.session.setCredentials(credentials);
        return o.transport.handleRequest(req, res, body);
      }
      if (req.method === 'POST' && (body as { method?: unknown } | null)?.method === 'initialize') return start(name, credentials, req, res, body);
      return rpcError(res, 400, ErrorCode.InvalidRequest, 'Bad Request: no valid session id (initialize first)');
    })().catch((err: unknown) => {
      log.error({ err: (err as Error).message }, 'aggregator request failed');
      rpcError(res, 500, ErrorCode.InternalError, 'Internal error');
    });
  });
  const { host, port } = initial.gateway.aggregatorListen;
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => (http.off('error', reject), resolve()));
  });
  const bound = http.address() as AddressInfo;
  const sweep = setInterval(() => {
    const idleBefore = Date.now() - config.sessions.ttlS * 1000;
    for (const [id, o] of open) if (o.lastUsed < idleBefore) end(id, 'idle');
  }, SWEEP_MS);
  sweep.unref();
  // Said once at start: the one upstream that receives callers' credentials (to call the members as them).
  log.info({ address: `${bound.address}:${bound.port}`, aggregates: initial.servers.filter((s) => s.aggregate).map((s) => s.name) }, 'aggregator listening; callers\' credentials to these aggregates pass to it, and on to their members through the listener');
  return {
    address: { host: bound.address, port: bound.port },
    get sessions() {
      return open.size;
    },
    update(next) {
      config = next;
    },
    async close() {
      clearInterval(sweep);
      for (const id of [...open.keys()]) end(id, 'stopping');
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
