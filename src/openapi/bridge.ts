// The MCP server in front of one REST API: the SDK's low-level Server over its Streamable
// HTTP transport, stateless (one Server and transport per HTTP request, so nothing is kept
// between requests and any request may carry its own brokered credential). It binds to
// loopback only and holds no secret: the credential it sends the API is the one the
// sidecar put on the request Envoy forwarded, under the name upstream_auth gives it.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { HostPort, ServerConfig, UpstreamAuthConfig } from '../config/types.js';
import { argumentCompiler, type ArgumentValidator } from '../integrity/arguments.js';
import { loadSpec } from './spec.js';
import { operationsToTools, type OperationTool } from './operations.js';
import { callOperation } from './call.js';
import { bridgeUrl } from '../config/load.js';

export interface RunningBridge {
  readonly server: string;
  readonly listen: HostPort;
  readonly url: URL;
  readonly tools: readonly OperationTool[];
  close(): Promise<void>;
}

/** A JSON-RPC request to the bridge is small; a larger body is refused unread. */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** The header(s) the sidecar sets for this server's upstream: forwarded to the API, nothing else. */
export function credentialHeaders(auth: UpstreamAuthConfig): string[] {
  return auth.kind === 'static' ? [auth.header] : auth.kind === 'token_exchange' ? ['authorization'] : [];
}

/** The tools a server's spec becomes (what the bridge lists; also the catalog's and `tools lock`'s view). */
export async function toolsOfServer(s: Pick<ServerConfig, 'openapi' | 'upstreamAuth' | 'name'>): Promise<OperationTool[]> {
  if (!s.openapi) throw new Error(`server "${s.name}" has no openapi section`);
  return operationsToTools(await loadSpec(s.openapi.spec), s.openapi, credentialHeaders(s.upstreamAuth));
}

function plainError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32600, message } }));
}

async function readJson(req: IncomingMessage): Promise<{ ok: true; body: unknown } | { ok: false; status: number; message: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_REQUEST_BYTES) return { ok: false, status: 413, message: 'request body too large' };
    chunks.push(c as Buffer);
  }
  try {
    return { ok: true, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch {
    return { ok: false, status: 400, message: 'the body is not JSON' };
  }
}

export async function startBridge(s: ServerConfig, listen: HostPort = s.openapi!.listen): Promise<RunningBridge> {
  const oa = s.openapi!;
  const tools = await toolsOfServer(s);
  const byName = new Map(tools.map((t) => [t.name, t]));
  const compile = argumentCompiler();
  const validators = new Map<string, ArgumentValidator | { error: string }>(tools.map((t) => [t.name, compile(t.inputSchema)]));
  const listed = tools.map((t) => ({
    name: t.name,
    ...(t.title !== undefined && { title: t.title }),
    ...(t.description !== undefined && { description: t.description }),
    inputSchema: t.inputSchema,
    ...(t.outputSchema && { outputSchema: t.outputSchema }),
    annotations: t.annotations,
  }));
  const headerNames = credentialHeaders(s.upstreamAuth);
  let url = bridgeUrl(listen);

  const mcpServerFor = (credentials: Record<string, string>): Server => {
    const server = new Server({ name: `mcp-gateway-openapi-${s.name}`, version: '1' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listed }));
    server.setRequestHandler(CallToolRequestSchema, async (request) => {
      const tool = byName.get(request.params.name);
      if (!tool) throw new McpError(ErrorCode.InvalidParams, `unknown tool "${request.params.name}"`);
      const args = request.params.arguments ?? {};
      const check = validators.get(tool.name)!;
      if ('error' in check) return { content: [{ type: 'text', text: `tool "${tool.name}" cannot be called: ${check.error}` }], isError: true };
      const verdict = check(args);
      if (!verdict.ok) return { content: [{ type: 'text', text: `invalid arguments: ${verdict.path} ${verdict.message}` }], isError: true };
      return callOperation(tool, args, { baseUrl: oa.baseUrl, timeoutMs: oa.timeoutMs, maxResponseBytes: oa.maxResponseBytes, credentials });
    });
    return server;
  };

  const http = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://bridge').pathname;
      if (path !== url.pathname) return plainError(res, 404, 'not found');
      // Stateless: there is no server-to-client stream to open and no session to end.
      if (req.method !== 'POST') return res.writeHead(405, { allow: 'POST' }).end();
      const body = await readJson(req);
      if (!body.ok) return plainError(res, body.status, body.message);
      const credentials: Record<string, string> = {};
      for (const h of headerNames) {
        const v = req.headers[h];
        if (typeof v === 'string') credentials[h] = v;
      }
      const server = mcpServerFor(credentials);
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => void transport.close().then(() => server.close()).catch(() => undefined));
      await server.connect(transport);
      await transport.handleRequest(req, res, body.body);
    })().catch((err: unknown) => {
      if (!res.headersSent) plainError(res, 500, (err as Error).message);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(listen.port, listen.host, () => (http.off('error', reject), resolve()));
  });
  const bound = { host: listen.host, port: (http.address() as AddressInfo).port };
  url = bridgeUrl(bound);
  return {
    server: s.name,
    listen: bound,
    url,
    tools,
    async close() {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
