// An upstream whose every answer the test scripts, byte for byte: what a broken or
// hostile MCP server could send (answers under other ids, replays, compressed or
// mislabelled bodies, events split anywhere). Records what reached it.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedAnswer {
  status?: number;
  headers?: Record<string, string>;
  /** Written one by one, with a pause between them so they travel as separate chunks. */
  chunks?: (string | Buffer)[];
}

export interface Received {
  method: string;
  headers: IncomingMessage['headers'];
  trailers: Record<string, string>;
  body: string;
}

export interface ScriptedUpstream {
  readonly url: string;
  readonly received: Received[];
  /** How the next requests are answered (default: a JSON-RPC result echoing the id). */
  answer: (req: Received) => ScriptedAnswer;
  close(): Promise<void>;
}

export async function startScriptedUpstream(): Promise<ScriptedUpstream> {
  const received: Received[] = [];
  const up: ScriptedUpstream = {
    url: '',
    received,
    answer: (req) => {
      const id = safeId(req.body);
      return { headers: { 'content-type': 'application/json' }, chunks: [JSON.stringify({ jsonrpc: '2.0', id, result: {} })] };
    },
    close: async () => undefined,
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const r: Received = { method: req.method ?? '', headers: req.headers, trailers: { ...(req.trailers as Record<string, string>) }, body: Buffer.concat(parts).toString('utf8') };
      received.push(r);
      const a = up.answer(r);
      res.writeHead(a.status ?? 200, a.headers ?? {});
      const chunks = a.chunks ?? [];
      const write = (i: number) => {
        if (i >= chunks.length) return void res.end();
        res.write(chunks[i]!);
        setTimeout(() => write(i + 1), 5);
      };
      write(0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  Object.assign(up, {
    url: `http://127.0.0.1:${port}/mcp`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return up;
}

export function safeId(body: string): unknown {
  try {
    return (JSON.parse(body) as { id?: unknown }).id ?? null;
  } catch {
    return null;
  }
}

/** One SSE event carrying a JSON-RPC message. */
export const sse = (msg: unknown, id?: string) => `${id === undefined ? '' : `id: ${id}\n`}event: message\ndata: ${JSON.stringify(msg)}\n\n`;
