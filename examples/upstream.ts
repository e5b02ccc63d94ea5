// Hosts an MCP server over Streamable HTTP on loopback: one SDK transport per
// session, POST/GET/DELETE on one path, SSE resumption from an in-memory event
// store. Used by `npm start` (with the reference "everything" server) and the tests.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface McpServerLike {
  connect(transport: StreamableHTTPServerTransport): Promise<void>;
  close(): Promise<void>;
}

export interface UpstreamOptions {
  port?: number;
  path?: string;
  /** Answer POSTs with application/json instead of an SSE stream. */
  jsonResponse?: boolean;
  /** Makes a fresh server per session. */
  createServer: () => { server: McpServerLike; cleanup?: (sessionId?: string) => void };
}

export interface ReceivedRequest {
  method: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface RunningUpstream {
  readonly url: string;
  readonly port: number;
  /** Every HTTP request that reached the upstream, in order (what the tests assert on). */
  readonly received: ReceivedRequest[];
  close(): Promise<void>;
}

class MemoryEventStore implements EventStore {
  private readonly events: { id: string; streamId: string; message: JSONRPCMessage }[] = [];
  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const id = `${streamId}_${this.events.length}`;
    this.events.push({ id, streamId, message });
    // Bounded: enough to resume a dropped stream, not a growing log per session.
    if (this.events.length > 1000) this.events.splice(0, 100);
    return id;
  }
  async replayEventsAfter(lastEventId: string, { send }: { send: (id: string, m: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const i = this.events.findIndex((e) => e.id === lastEventId);
    if (i === -1) return '';
    const streamId = this.events[i]!.streamId;
    for (const e of this.events.slice(i + 1)) if (e.streamId === streamId) await send(e.id, e.message);
    return streamId;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function jsonError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message } }));
}

export async function startUpstream(opts: UpstreamOptions): Promise<RunningUpstream> {
  const path = opts.path ?? '/mcp';
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const received: ReceivedRequest[] = [];

  const http = createHttpServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://upstream');
      if (url.pathname !== path) return jsonError(res, 404, 'not found');
      const raw = req.method === 'POST' ? await readBody(req) : '';
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      received.push({ method: req.method ?? '', headers: req.headers, body });
      const sid = req.headers['mcp-session-id'];
      const sessionId = Array.isArray(sid) ? sid[0] : sid;
      let transport = sessionId ? sessions.get(sessionId) : undefined;
      if (sessionId && !transport) return jsonError(res, 404, 'Session not found');
      if (!transport) {
        if (req.method !== 'POST' || (body as { method?: string } | undefined)?.method !== 'initialize') {
          return jsonError(res, 400, 'Bad Request: no valid session id');
        }
        const { server, cleanup } = opts.createServer();
        const t = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          eventStore: new MemoryEventStore(),
          enableJsonResponse: opts.jsonResponse ?? false,
          onsessioninitialized: (id) => void sessions.set(id, t),
        });
        t.onclose = () => {
          if (t.sessionId) {
            sessions.delete(t.sessionId);
            cleanup?.(t.sessionId);
          }
        };
        await server.connect(t);
        transport = t;
      }
      await transport.handleRequest(req, res, body);
    } catch (err) {
      if (!res.headersSent) jsonError(res, 500, (err as Error).message);
    }
  });
  await new Promise<void>((resolve) => http.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    received,
    async close() {
      for (const t of sessions.values()) await t.close().catch(() => undefined);
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** The reference "everything" server from @modelcontextprotocol/server-everything. */
export async function everythingServerFactory(): Promise<UpstreamOptions['createServer']> {
  // A dev dependency: only the example and the tests use it.
  const mod = (await import('@modelcontextprotocol/server-everything/dist/server/index.js' as string)) as {
    createServer: () => { server: McpServerLike; cleanup: (sessionId?: string) => void };
  };
  return mod.createServer;
}
