// An upstream of the integrity tests' own (the SDK's Server over examples/upstream.ts):
// its tool definitions are state the test changes between two lists (a "rug pull"),
// tools/list is paginated (two per page), it sends notifications/tools/list_changed to
// every open session on request, and its tools return what the test puts in them.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, CreateMessageResultSchema, GetPromptRequestSchema, ListPromptsRequestSchema, ListResourceTemplatesRequestSchema, ListResourcesRequestSchema, ListToolsRequestSchema, ReadResourceRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { startUpstream, type RunningUpstream } from '../../examples/upstream.js';

export interface ToolDef {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
  [k: string]: unknown;
}

export interface IntegrityUpstream {
  readonly url: string;
  readonly upstream: RunningUpstream;
  /** The tools listed now, in order; change them to change what the next list says. */
  tools: ToolDef[];
  /** What tools/call of `name` returns as text (default: the arguments as JSON). */
  results: Map<string, string>;
  /** Sends notifications/tools/list_changed on every open session. */
  listChanged(): Promise<void>;
  /** tools/call requests that reached the upstream, by tool name. */
  calls(name: string): number;
  /** The resource templates listed now (change them to change what the next list says). */
  templates: Record<string, unknown>[];
  /** resources/read requests that reached the upstream. */
  reads(): number;
  close(): Promise<void>;
}

export const PAGE_SIZE = 2;

export function initialTools(): ToolDef[] {
  return [
    { name: 'echo', description: 'Echoes the text back.', inputSchema: { type: 'object', properties: { text: { type: 'string', maxLength: 100 } }, required: ['text'], additionalProperties: false } },
    { name: 'add', description: 'Adds two integers.', inputSchema: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'] }, annotations: { readOnlyHint: true } },
    { name: 'weather', description: 'The weather in a city.', inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
    { name: 'lookup', description: 'Looks a customer up.', inputSchema: { type: 'object', properties: { id: { type: 'string' } } } },
    { name: 'search', description: 'Searches the documents.', inputSchema: { type: 'object', properties: { q: { type: 'string' } } } },
  ];
}

export function initialTemplates(): Record<string, unknown>[] {
  return [
    { name: 'customer', uriTemplate: 'crm://customers/{id}', mimeType: 'application/json' },
    { name: 'file', uriTemplate: 'crm://files/{+path}', mimeType: 'text/plain' },
  ];
}

export async function startIntegrityUpstream(opts: { jsonResponse?: boolean } = {}): Promise<IntegrityUpstream> {
  const open = new Set<Server>();
  const state = { tools: initialTools(), results: new Map<string, string>(), templates: initialTemplates() };
  const upstream = await startUpstream({
    jsonResponse: opts.jsonResponse,
    createServer: () => {
      const server = new Server({ name: 'integrity-upstream', version: '1.0.0' }, { capabilities: { tools: { listChanged: true }, prompts: {}, resources: {} } });
      server.setRequestHandler(ListToolsRequestSchema, async (req) => {
        const start = req.params?.cursor === undefined ? 0 : Number(req.params.cursor);
        const tools = state.tools.slice(start, start + PAGE_SIZE);
        const next = start + PAGE_SIZE < state.tools.length ? String(start + PAGE_SIZE) : undefined;
        return { tools, ...(next !== undefined && { nextCursor: next }) } as never;
      });
      server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
        if (req.params.name === 'ask') {
          // Asks the caller's model (sampling) in the middle of the call, on the call's own stream.
          try {
            const r = await extra.sendRequest({ method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: 'Summarize.' } }], maxTokens: 10 } }, CreateMessageResultSchema, { timeout: 10_000 });
            return { content: [{ type: 'text', text: `sampled: ${(r.content as { text?: string }).text ?? ''}` }] };
          } catch (err) {
            return { content: [{ type: 'text', text: `sampling failed: ${(err as Error).message}` }], isError: true };
          }
        }
        return { content: [{ type: 'text', text: state.results.get(req.params.name) ?? JSON.stringify(req.params.arguments ?? {}) }] };
      });
      server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: [{ name: 'summarize', description: 'Summarizes a text.', arguments: [{ name: 'text', required: true }] }] }));
      server.setRequestHandler(GetPromptRequestSchema, async () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'Summarize.' } }] }));
      server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: state.templates }) as never);
      server.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: [{ name: 'about', uri: 'crm://about', mimeType: 'text/plain' }] }));
      server.setRequestHandler(ReadResourceRequestSchema, async (req) => ({ contents: [{ uri: req.params.uri, mimeType: 'text/plain', text: `contents of ${req.params.uri}` }] }));
      open.add(server);
      server.onclose = () => void open.delete(server);
      return { server };
    },
  });
  return {
    url: upstream.url,
    upstream,
    get tools() {
      return state.tools;
    },
    set tools(t: ToolDef[]) {
      state.tools = t;
    },
    results: state.results,
    get templates() {
      return state.templates;
    },
    set templates(t: Record<string, unknown>[]) {
      state.templates = t;
    },
    reads: () => upstream.received.filter((r) => (r.body as { method?: string } | undefined)?.method === 'resources/read').length,
    async listChanged() {
      await Promise.all([...open].map((s) => s.sendToolListChanged().catch(() => undefined)));
    },
    calls: (name) => upstream.received.filter((r) => (r.body as { method?: string; params?: { name?: string } } | undefined)?.method === 'tools/call' && (r.body as { params: { name?: string } }).params.name === name).length,
    close: () => upstream.close(),
  };
}
