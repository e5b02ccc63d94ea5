// The tests' own REST API behind test/fixtures/openapi/petstore.yaml (node:http): it
// records every request as it arrived (raw target, headers, body) for the tests to assert on.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ApiRequest {
  method: string;
  /** The request target exactly as sent (percent-encoding kept). */
  rawUrl: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RunningPetApi {
  readonly url: string;
  readonly received: ApiRequest[];
  close(): Promise<void>;
}

export async function startPetApi(): Promise<RunningPetApi> {
  const received: ApiRequest[] = [];
  const pets = new Map<string, { id: string; name: string; tag: string | null }>([
    ['1', { id: '1', name: 'Rex', tag: 'dog' }],
    ['2', { id: '2', name: 'Tom', tag: 'cat' }],
  ]);
  const http = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const rawUrl = req.url ?? '/';
    received.push({ method: req.method ?? '', rawUrl, headers: req.headers, body });
    const json = (status: number, v: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
    const [path, query = ''] = rawUrl.split('?') as [string, string?];
    const q = new URLSearchParams(query);
    // A path the pet operations must never reach (a traversal target).
    if (path === '/v1/admin' || path.startsWith('/v1/admin/')) return json(200, { secret: 'admin area' });
    if (path === '/v1/pets' && req.method === 'GET') {
      const tags = q.getAll('tag');
      const limit = Number(q.get('limit') ?? '100');
      const list = [...pets.values()].filter((p) => tags.length === 0 || (p.tag !== null && tags.includes(p.tag))).slice(0, limit);
      return json(200, { pets: list, next: null });
    }
    if (path === '/v1/pets' && req.method === 'POST') {
      const p = JSON.parse(body) as { name: string; tag?: string | null };
      const pet = { id: String(pets.size + 1), name: p.name, tag: p.tag ?? null };
      pets.set(pet.id, pet);
      return json(201, pet);
    }
    const m = /^\/v1\/pets\/([^/]+)$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[1]!);
      if (req.method === 'DELETE') return pets.delete(id) ? res.writeHead(204).end() : json(404, { error: 'no such pet' });
      const pet = pets.get(id);
      return pet ? json(200, pet) : json(404, { error: `no pet ${id}` });
    }
    json(404, { error: 'not found' });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    received,
    async close() {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
