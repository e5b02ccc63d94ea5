// Reads an upstream's tools, prompts and resource templates the way the gateway's callers
// would: the official SDK client over Streamable HTTP at the server's URL, with the
// credentials the gateway would broker (a static one; token exchange needs a caller's
// token, so it cannot be done from the command line). Every page is read (nextCursor).
// Results are taken raw (not through the SDK's result schemas, which could add or drop
// fields), so the digest is of the same JSON the gateway sees at run time.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { z } from 'zod';
import type { ServerConfig } from '../config/types.js';
import { createBroker } from '../credentials/broker.js';
import { PINNED_LISTS, definitionOf, type PinnedList } from './definition.js';
import { emptyServerLock, lockEntry, type ServerLock } from './lockfile.js';

/** More pages than any honest server sends: a cursor loop ends here. */
const MAX_PAGES = 1000;
const page = z.looseObject({ nextCursor: z.string().optional() });
const METHOD_NOT_FOUND = -32601;

/** What the server's capabilities say it lists. */
const CAPABILITY: Record<PinnedList['kind'], 'tools' | 'prompts' | 'resources'> = { tool: 'tools', prompt: 'prompts', resourceTemplate: 'resources', resource: 'resources' };

export class FetchError extends Error {
  override name = 'FetchError';
}

/** The live definitions of one server (its first replica, or the one given), as lock entries. */
export async function fetchDefinitions(server: ServerConfig, url: URL = server.url, timeoutMs = 10_000): Promise<ServerLock> {
  const headers: Record<string, string> = {};
  if (server.upstreamAuth.kind === 'token_exchange') throw new FetchError(`server "${server.name}": upstream_auth.token_exchange needs a caller's token; lock it with a static credential or from a replica without one`);
  const broker = await createBroker(server.upstreamAuth, server.name);
  if (broker) {
    const r = await broker.headersFor(undefined);
    if (!r.ok) throw new FetchError(`server "${server.name}": ${r.message}`);
    for (const [k, v] of r.headers) headers[k] = v;
  }
  const client = new Client({ name: 'mcp-gateway-tools-lock', version: '1' }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers } });
  try {
    await client.connect(transport, { timeout: timeoutMs });
  } catch (err) {
    throw new FetchError(`server "${server.name}": cannot connect to ${url.href}: ${(err as Error).message}`);
  }
  try {
    const caps = client.getServerCapabilities() ?? {};
    const lock = emptyServerLock();
    for (const list of PINNED_LISTS) {
      if (caps[CAPABILITY[list.kind]] === undefined) continue;
      let cursor: string | undefined;
      for (let n = 0; ; n++) {
        if (n === MAX_PAGES) throw new FetchError(`server "${server.name}": ${list.method} did not end after ${MAX_PAGES} pages`);
        let result: Record<string, unknown>;
        try {
          result = (await client.request({ method: list.method, params: cursor === undefined ? {} : { cursor } }, page, { timeout: timeoutMs })) as Record<string, unknown>;
        } catch (err) {
          // The resources capability covers two lists; a server may serve only one of them.
          if (n === 0 && (err as { code?: unknown }).code === METHOD_NOT_FOUND) break;
          throw err;
        }
        const items = result[list.resultKey];
        if (!Array.isArray(items)) throw new FetchError(`server "${server.name}": ${list.method} answered without a "${list.resultKey}" array`);
        for (const item of items) {
          const key = item !== null && typeof item === 'object' ? (item as Record<string, unknown>)[list.itemKey] : undefined;
          if (typeof key !== 'string') throw new FetchError(`server "${server.name}": ${list.method} listed an item without a string "${list.itemKey}"`);
          if (lock[list.kind].has(key)) throw new FetchError(`server "${server.name}": ${list.method} listed "${key}" twice`);
          lock[list.kind].set(key, lockEntry(definitionOf(list, item as Record<string, unknown>)));
        }
        cursor = typeof result.nextCursor === 'string' && result.nextCursor !== '' ? result.nextCursor : undefined;
        if (cursor === undefined) break;
      }
    }
    return lock;
  } finally {
    await client.close().catch(() => undefined);
  }
}
