// The benchmark's MCP server: 500 catalogue tools (tool-000 … tool-499) plus
// `echo` (a small JSON result) and `progress` (progress notifications, then the
// result). Built on the SDK's low-level `Server` with one precomputed tool list,
// so a session costs a few handlers (10,000 sessions must fit) and tools/list
// costs one JSON serialization, not 500 zod→JSON-Schema conversions.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { McpServerLike } from '../../examples/upstream.js';

export const CATALOGUE_SIZE = 500;
export const toolName = (i: number) => `tool-${String(i).padStart(3, '0')}`;

/** What setups 4 and 5 curate the list to: tool-000 … tool-049 (globs are only `*` and `?`), plus echo and progress. */
export const CURATED_TOOL_GLOBS = ['tool-00?', 'tool-01?', 'tool-02?', 'tool-03?', 'tool-04?', 'echo', 'progress'];
/** The same set as one RE2 pattern, for Envoy's RBAC filter (setup 3). */
export const CURATED_TOOL_REGEX = '^(tool-0[0-4][0-9]|echo|progress)$';
/** The same set by name, for peers that take names rather than globs. */
export const CURATED_TOOLS: readonly string[] = [...Array.from({ length: 50 }, (_, i) => toolName(i)), 'echo', 'progress'];
export const CURATED_COUNT = CURATED_TOOLS.length;

export const TOOLS: Tool[] = [
  ...Array.from({ length: CATALOGUE_SIZE }, (_, i) => ({
    name: toolName(i),
    description: `Looks up record ${i} in the inventory.`,
    inputSchema: { type: 'object' as const, properties: { id: { type: 'string', description: 'Record id' } }, required: ['id'] },
  })),
  { name: 'echo', description: 'Returns its message.', inputSchema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] } },
  {
    name: 'progress',
    description: 'Sends `steps` progress notifications, then returns.',
    inputSchema: { type: 'object', properties: { steps: { type: 'integer', minimum: 0, maximum: 20 } } },
  },
];

export function createBenchServer(): { server: McpServerLike & Server } {
  const server = new Server({ name: 'bench-upstream', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const { name, arguments: args } = req.params;
    if (name === 'echo') return { content: [{ type: 'text', text: String(args?.message ?? '') }] };
    if (name === 'progress') {
      const steps = Math.min(20, Math.max(0, Number(args?.steps ?? 3)));
      const token = req.params._meta?.progressToken;
      for (let i = 1; i <= steps; i++) {
        if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps } });
      }
      return { content: [{ type: 'text', text: `done ${steps}` }] };
    }
    if (name.startsWith('tool-')) return { content: [{ type: 'text', text: `record ${String(args?.id ?? '')} of ${name}` }] };
    return { content: [{ type: 'text', text: `unknown tool ${name}` }], isError: true };
  });
  return { server };
}
