// OpenAPI → MCP: the spec-to-tools mapping (3.0 and 3.1), schema conversion, request
// building (path parameters kept in their segment), and the config's openapi/catalog checks.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadSpec, SpecError } from '../../src/openapi/spec.js';
import { operationsToTools, sanitizeToolName, fallbackToolName, MappingError, type OperationTool, type Selection } from '../../src/openapi/operations.js';
import { toJsonSchema } from '../../src/openapi/json-schema.js';
import { buildRequest, encodePathSegment, ArgumentError } from '../../src/openapi/request.js';
import { parseConfig, ConfigError } from '../../src/config/load.js';

const ALL: Selection = { include: { tags: undefined, operations: undefined }, exclude: { tags: [], operations: [] } };
let dir: string;
let n = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-openapi-'));
});

async function specFile(doc: Record<string, unknown>, ext = 'yaml'): Promise<string> {
  const file = join(dir, `spec-${n++}.${ext}`);
  await writeFile(file, ext === 'json' ? JSON.stringify(doc) : stringify(doc));
  return file;
}

const info = { title: 't', version: '1' };
const ok = { '200': { description: 'ok' } };
async function tools(doc: Record<string, unknown>, selection: Selection = ALL, reserved: string[] = []): Promise<OperationTool[]> {
  return operationsToTools(await loadSpec(await specFile(doc)), selection, reserved);
}
const op = (extra: Record<string, unknown> = {}) => ({ responses: ok, ...extra });

describe('tool names', () => {
  test('sanitised to MCP\'s alphabet, with a method+path fallback', () => {
    assert.equal(sanitizeToolName('list pets/all'), 'list_pets_all');
    assert.equal(sanitizeToolName('getPet.v2'), 'getPet.v2');
    assert.equal(sanitizeToolName('  ünï  '), 'n');
    assert.equal(sanitizeToolName('x'.repeat(200)).length, 128);
    assert.equal(fallbackToolName('get', '/pets/{petId}/toys'), 'get_pets_petId_toys');
  });

  test('operations without an operationId are named by method and path', async () => {
    const t = await tools({ openapi: '3.0.3', info, paths: { '/pets/{id}': { get: op({ parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }] }) } } });
    assert.deepEqual(t.map((x) => x.name), ['get_pets_id']);
  });

  test('two operations that become one name are refused with both named', async () => {
    await assert.rejects(
      tools({ openapi: '3.1.0', info, paths: { '/a': { get: op({ operationId: 'list pets' }) }, '/b': { get: op({ operationId: 'list_pets' }) } } }),
      (e: unknown) => e instanceof MappingError && /GET \/b and GET \/a both become the tool "list_pets"/.test(e.message),
    );
  });
});

describe('the mapping', () => {
  test('3.0: parameters and body are properties; nullable becomes a null type; cookies are not arguments', async () => {
    const [t] = await tools({
      openapi: '3.0.3',
      info,
      paths: {
        '/items/{id}': {
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer' } }],
          put: op({
            operationId: 'putItem',
            summary: 'Replace',
            description: 'Replaces an item.',
            parameters: [
              { name: 'dry', in: 'query', schema: { type: 'boolean' } },
              { name: 'X-Trace', in: 'header', required: true, schema: { type: 'string' } },
              { name: 'sid', in: 'cookie', schema: { type: 'string' } },
            ],
            requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', properties: { note: { type: 'string', nullable: true } } } } } },
          }),
        },
      },
    });
    assert.equal(t!.name, 'putItem');
    assert.equal(t!.title, 'Replace');
    assert.equal(t!.description, 'Replace\n\nReplaces an item.');
    assert.deepEqual(Object.keys(t!.inputSchema.properties as object), ['id', 'dry', 'X-Trace', 'body']);
    assert.deepEqual(t!.inputSchema.required, ['id', 'X-Trace', 'body']);
    assert.equal(t!.inputSchema.additionalProperties, false);
    assert.deepEqual((t!.inputSchema.properties as any).body.properties.note, { type: ['string', 'null'] });
    assert.deepEqual(t!.annotations, { idempotentHint: true });
    assert.deepEqual(t!.body, { encoding: 'json', contentType: 'application/json', required: true });
  });

  test('3.1: JSON Schema 2020-12 passes unchanged (type arrays, const, $defs-free after dereferencing)', async () => {
    const [t] = await tools({
      openapi: '3.1.0',
      info,
      paths: { '/x': { post: op({ operationId: 'x', requestBody: { content: { 'application/merge-patch+json': { schema: { $ref: '#/components/schemas/P' } } } } }) } },
      components: { schemas: { P: { type: 'object', properties: { v: { type: ['string', 'null'] }, k: { const: 'a' } } } } },
    });
    assert.deepEqual((t!.inputSchema.properties as any).body, { type: 'object', properties: { v: { type: ['string', 'null'] }, k: { const: 'a' } } });
    assert.equal(t!.body!.contentType, 'application/merge-patch+json');
    assert.equal(t!.inputSchema.required, undefined, 'an optional body is not required');
  });

  test('outputSchema from the first 2xx JSON object response only', async () => {
    const res = (schema: unknown) => ({ '201': { description: 'c', content: { 'application/json': { schema } } }, '400': { description: 'e', content: { 'application/json': { schema: { type: 'object' } } } } });
    const t = await tools({
      openapi: '3.0.3',
      info,
      paths: {
        '/o': { get: { operationId: 'o', responses: res({ type: 'object', properties: { a: { type: 'string' } } }) } },
        '/a': { get: { operationId: 'a', responses: res({ type: 'array', items: { type: 'string' } }) } },
        '/m': { get: { operationId: 'm', responses: res({ allOf: [{ type: 'object' }, { type: 'object', properties: { b: { type: 'string' } } }] }) } },
        '/n': { get: { operationId: 'n', responses: { '204': { description: 'none' } } } },
      },
    });
    const out = Object.fromEntries(t.map((x) => [x.name, x.outputSchema]));
    assert.deepEqual(out.o, { type: 'object', properties: { a: { type: 'string' } } });
    assert.equal(out.a, undefined);
    assert.equal(out.m!.type, 'object');
    assert.equal(out.n, undefined);
  });

  test('include and exclude by tag and by operation (globs); exclude wins', async () => {
    const doc = {
      openapi: '3.0.3',
      info,
      paths: {
        '/a': { get: op({ operationId: 'readA', tags: ['read'] }), delete: op({ operationId: 'deleteA', tags: ['write', 'admin'] }) },
        '/b': { get: op({ operationId: 'readB', tags: ['read', 'admin'] }), post: op({ operationId: 'writeB', tags: ['write'] }) },
      },
    };
    const names = async (s: Partial<Selection['include']>, x: Partial<Selection['exclude']> = {}) =>
      (await tools(doc, { include: { tags: s.tags, operations: s.operations }, exclude: { tags: x.tags ?? [], operations: x.operations ?? [] } })).map((t) => t.name);
    assert.deepEqual(await names({ tags: ['read'] }), ['readA', 'readB']);
    assert.deepEqual(await names({ operations: ['write*'] }), ['writeB']);
    assert.deepEqual(await names({ tags: ['read'], operations: ['writeB'] }), ['readA', 'readB', 'writeB']);
    assert.deepEqual(await names({}, { tags: ['admin'] }), ['readA', 'writeB']);
    assert.deepEqual(await names({ tags: ['read'] }, { operations: ['readB'] }), ['readA']);
  });

  test('header parameters the gateway sets itself are not arguments', async () => {
    const [t] = await tools(
      { openapi: '3.0.3', info, paths: { '/h': { get: op({ operationId: 'h', parameters: ['Authorization', 'Content-Type', 'X-Api-Token', 'Host', 'X-Ok'].map((name) => ({ name, in: 'header', schema: { type: 'string' } })) }) } } },
      ALL,
      ['x-api-token'],
    );
    assert.deepEqual(Object.keys(t!.inputSchema.properties as object), ['X-Ok']);
  });

  const refused: { name: string; paths: Record<string, unknown>; expect: RegExp }[] = [
    { name: 'an undeclared path parameter', paths: { '/p/{id}': { get: op({ operationId: 'p' }) } }, expect: /names \{id\} but no path parameter declares it/ },
    { name: 'two parameters of one name', paths: { '/p/{id}': { get: op({ operationId: 'p', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }, { name: 'id', in: 'query', schema: { type: 'string' } }] }) } }, expect: /two parameters are named "id" \(in path and in query\)/ },
    { name: 'a parameter named body beside a body', paths: { '/p': { post: op({ operationId: 'p', parameters: [{ name: 'body', in: 'query', schema: {} }], requestBody: { content: { 'application/json': { schema: {} } } } }) } }, expect: /a parameter is named "body"/ },
    { name: 'a required body that is neither JSON nor a form', paths: { '/p': { post: op({ operationId: 'p', requestBody: { required: true, content: { 'multipart/form-data': { schema: {} } } } }) } }, expect: /no JSON or form media type/ },
  ];
  for (const c of refused) {
    test(`refused at load: ${c.name}`, async () => {
      await assert.rejects(tools({ openapi: '3.0.3', info, paths: c.paths }), (e: unknown) => e instanceof MappingError && c.expect.test(e.message));
    });
  }

  test('an optional non-JSON body is left out; a form body is a form', async () => {
    const t = await tools({
      openapi: '3.0.3',
      info,
      paths: {
        '/u': { post: op({ operationId: 'upload', requestBody: { content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } } }) },
        '/f': { post: op({ operationId: 'form', requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: { type: 'object' } } } } }) },
      },
    });
    assert.equal(t[0]!.body, undefined);
    assert.deepEqual(t[1]!.body, { encoding: 'form', contentType: 'application/x-www-form-urlencoded', required: true });
  });
});

describe('loading a spec', () => {
  test('JSON specs and $refs to another file resolve', async () => {
    const other = join(dir, 'shared.yaml');
    await writeFile(other, stringify({ Thing: { type: 'object', properties: { n: { type: 'integer' } } } }));
    const file = await specFile({ openapi: '3.1.0', info, paths: { '/t': { post: op({ operationId: 't', requestBody: { content: { 'application/json': { schema: { $ref: './shared.yaml#/Thing' } } } } }) } } }, 'json');
    const [t] = operationsToTools(await loadSpec(file), ALL);
    assert.deepEqual((t!.inputSchema.properties as any).body, { type: 'object', properties: { n: { type: 'integer' } } });
  });

  const invalid: { name: string; doc: Record<string, unknown>; expect: RegExp }[] = [
    { name: 'Swagger 2.0', doc: { swagger: '2.0', info, paths: {} }, expect: /OpenAPI 3\.0 or 3\.1 expected/ },
    { name: 'not a valid document', doc: { openapi: '3.0.3', paths: {} }, expect: /info/ },
    { name: 'a recursive schema', doc: { openapi: '3.0.3', info, paths: {}, components: { schemas: { N: { type: 'object', properties: { next: { $ref: '#/components/schemas/N' } } } } } }, expect: /ircular/ },
    { name: 'a $ref over HTTP (never fetched)', doc: { openapi: '3.0.3', info, paths: { '/r': { get: op({ operationId: 'r', parameters: [{ $ref: 'http://127.0.0.1:9/p.yaml#/P' }] }) } } }, expect: /./ },
  ];
  for (const c of invalid) {
    test(`refused: ${c.name}`, async () => {
      await assert.rejects(loadSpec(await specFile(c.doc)), (e: unknown) => e instanceof SpecError && c.expect.test(e.message));
    });
  }
});

describe('schema conversion', () => {
  test('3.0 nullable without a type, nullable enums, examples, OpenAPI-only keywords', () => {
    assert.deepEqual(toJsonSchema({ nullable: true, allOf: [{ type: 'string' }] }, true), { anyOf: [{ type: 'null' }, { allOf: [{ type: 'string' }] }] });
    assert.deepEqual(toJsonSchema({ type: 'string', enum: ['a'], nullable: true }, true), { type: ['string', 'null'], enum: ['a', null] });
    assert.deepEqual(toJsonSchema({ type: 'string', example: 'x', xml: {}, 'x-internal': 1, discriminator: {} }, true), { type: 'string', examples: ['x'] });
    assert.deepEqual(toJsonSchema({ type: 'array', items: { type: 'integer', nullable: true } }, true), { type: 'array', items: { type: ['integer', 'null'] } });
    assert.deepEqual(toJsonSchema({ type: 'object', additionalProperties: { type: 'string', nullable: true } }, true), { type: 'object', additionalProperties: { type: ['string', 'null'] } });
    assert.deepEqual(toJsonSchema(true, false), {});
    assert.deepEqual(toJsonSchema({ type: ['string', 'null'], 'x-a': 1 }, false), { type: ['string', 'null'] });
  });

  test('a shared (dereferenced) schema is not mutated', () => {
    const shared = { type: 'string', nullable: true };
    toJsonSchema({ type: 'object', properties: { a: shared, b: shared } }, true);
    assert.deepEqual(shared, { type: 'string', nullable: true });
  });
});

describe('request building', () => {
  const tool = (path: string, params: OperationTool['params'], body?: OperationTool['body']): OperationTool => ({
    name: 't', operationId: 't', method: 'get', path, tags: [], title: undefined, description: undefined, inputSchema: {}, outputSchema: undefined, params, body, annotations: {},
  });
  const base = new URL('https://api.example.com/v2/');

  test('path parameters are one encoded segment; dot segments are refused', () => {
    const t = tool('/files/{name}/meta', [{ name: 'name', in: 'path', required: true, explode: true }]);
    assert.equal(buildRequest(t, { name: 'a/b?c#d%e' }, base).url.href, 'https://api.example.com/v2/files/a%2Fb%3Fc%23d%25e/meta');
    assert.equal(buildRequest(t, { name: '../../etc' }, base).url.pathname, '/v2/files/..%2F..%2Fetc/meta');
    assert.equal(buildRequest(t, { name: '%2e%2e' }, base).url.pathname, '/v2/files/%252e%252e/meta');
    assert.equal(buildRequest(t, { name: '...' }, base).url.pathname, '/v2/files/.../meta');
    for (const v of ['..', '.', '']) assert.throws(() => buildRequest(t, { name: v }, base), ArgumentError);
    assert.equal(encodePathSegment('n', 42), '42');
  });

  test('query arrays (exploded or not), objects as JSON, optional ones left out', () => {
    const t = tool('/s', [
      { name: 'tag', in: 'query', required: false, explode: true },
      { name: 'ids', in: 'query', required: false, explode: false },
      { name: 'f', in: 'query', required: false, explode: true },
      { name: 'none', in: 'query', required: false, explode: true },
    ]);
    assert.equal(buildRequest(t, { tag: ['a', 'b c'], ids: [1, 2], f: { x: 1 } }, base).url.search, '?tag=a&tag=b+c&ids=1%2C2&f=%7B%22x%22%3A1%7D');
  });

  test('headers, JSON and form bodies; a header value cannot carry a line break', () => {
    const h = tool('/h', [{ name: 'X-Note', in: 'header', required: true, explode: true }], { encoding: 'json', contentType: 'application/json', required: false });
    const r = buildRequest(h, { 'X-Note': 'n', body: { a: [1] } }, base);
    assert.equal(r.headers['x-note'], 'n');
    assert.equal(r.body, '{"a":[1]}');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.throws(() => buildRequest(h, { 'X-Note': 'a\r\nx-evil: 1' }, base), /line break/);
    assert.throws(() => buildRequest(h, {}, base), /missing required header parameter "X-Note"/);
    const f = tool('/f', [], { encoding: 'form', contentType: 'application/x-www-form-urlencoded', required: true });
    assert.equal(buildRequest(f, { body: { a: 'x y', b: 2 } }, base).body, 'a=x+y&b=2');
    assert.throws(() => buildRequest(f, {}, base), /missing the request body/);
    assert.throws(() => buildRequest(f, { body: [1] }, base), /must be an object/);
  });

  test('the base URL\'s path is a prefix, with or without its trailing slash', () => {
    const t = tool('/x', []);
    assert.equal(buildRequest(t, {}, new URL('http://h/api')).url.href, 'http://h/api/x');
    assert.equal(buildRequest(t, {}, new URL('http://h/')).url.href, 'http://h/x');
  });
});

describe('config', () => {
  const server = (extra: string) => `servers:\n  - name: pets\n${extra}`;
  test('openapi servers get a bridge URL as their upstream; token exchange aims at the API', () => {
    const c = parseConfig(`${server('    openapi:\n      spec: ./pets.yaml\n      base_url: https://api.example.com/v1\n      listen: 127.0.0.1:7070\n')}`, '/etc/gw/gateway.yaml');
    const s = c.servers[0]!;
    assert.equal(s.url.href, 'http://127.0.0.1:7070/mcp');
    assert.equal(s.openapi!.spec, '/etc/gw/pets.yaml');
    assert.equal(s.openapi!.timeoutMs, 30_000);
    assert.equal(parseConfig(server('    openapi: { spec: a.yaml, base_url: "http://x/" }\n')).servers[0]!.openapi!.listen.port, 0);
  });

  const bad: { name: string; yaml: string; expect: RegExp }[] = [
    { name: 'url and openapi', yaml: server('    url: http://127.0.0.1:1/mcp\n    openapi: { spec: a.yaml, base_url: "http://x/" }\n'), expect: /set exactly one of url, versions, command or openapi/ },
    { name: 'a non-loopback bridge', yaml: server('    openapi: { spec: a.yaml, base_url: "http://x/", listen: "0.0.0.0:7000" }\n'), expect: /loopback only/ },
    { name: 'credentials in base_url', yaml: server('    openapi: { spec: a.yaml, base_url: "http://u:p@x/" }\n'), expect: /credentials in the URL/ },
    { name: 'a catalog path over a server', yaml: `gateway: { catalog: { path: /mcp } }\n${server('    url: http://127.0.0.1:1/mcp\n')}`, expect: /gateway\.catalog\.path: overlaps the path of MCP server "pets"/ },
    { name: 'a catalog path under .well-known', yaml: `gateway: { catalog: { path: /.well-known/servers } }\n${server('    url: http://127.0.0.1:1/mcp\n')}`, expect: /reserved/ },
  ];
  for (const c of bad) {
    test(`refused: ${c.name}`, () => {
      assert.throws(() => parseConfig(c.yaml), (e: unknown) => e instanceof ConfigError && c.expect.test(e.message));
    });
  }
});

describe('bridges across a reload', () => {
  test('an unchanged server keeps its bridge; a changed spec gets a new one; the old stops only at commit', async () => {
    const { OpenApiBridges } = await import('../../src/openapi/bridges.js');
    const { createLogger } = await import('../../src/telemetry/log.js');
    const spec = await specFile({ openapi: '3.0.3', info, paths: { '/a': { get: op({ operationId: 'a' }) } } });
    const config = parseConfig(`servers:\n  - name: s\n    openapi: { spec: ${spec}, base_url: "http://127.0.0.1:9/" }\n`);
    const bridges = new OpenApiBridges(createLogger('silent'));
    try {
      const first = await bridges.prepare(config);
      await first.commit();
      const url = first.config.servers[0]!.url;
      assert.notEqual(url.port, '0');
      const again = await bridges.prepare(config);
      await again.commit();
      assert.equal(again.config.servers[0]!.url.href, url.href);
      await writeFile(spec, stringify({ openapi: '3.0.3', info, paths: { '/a': { get: op({ operationId: 'a' }) }, '/b': { get: op({ operationId: 'b' }) } } }));
      const changed = await bridges.prepare(config);
      const next = changed.config.servers[0]!.url;
      assert.notEqual(next.href, url.href);
      assert.equal((await fetch(url, { method: 'GET' })).status, 405, 'the old bridge serves until commit');
      await changed.commit();
      await assert.rejects(fetch(url, { method: 'GET' }));
      const aborted = await bridges.prepare(parseConfig(`servers:\n  - name: s\n    openapi: { spec: ${spec}, base_url: "http://127.0.0.1:9/", include: { operations: [a] } }\n`));
      await aborted.abort();
      await assert.rejects(fetch(aborted.config.servers[0]!.url, { method: 'GET' }));
      assert.equal((await fetch(next, { method: 'GET' })).status, 405, 'an aborted reload leaves the running bridge');
    } finally {
      await bridges.stop();
    }
  });
});

describe('calling the API', () => {
  test('credentials go along; redirects are not followed; big, slow and non-2xx answers are tool errors', async () => {
    const { createServer } = await import('node:http');
    const { callOperation } = await import('../../src/openapi/call.js');
    const { credentialHeaders } = await import('../../src/openapi/bridge.js');
    const seen: { url: string; headers: Record<string, unknown> }[] = [];
    const http = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      if (req.url === '/redirect') return res.writeHead(302, { location: 'http://127.0.0.1:9/elsewhere' }).end();
      if (req.url === '/big') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ x: 'y'.repeat(5000) }));
      if (req.url === '/slow') return void setTimeout(() => res.end('{}'), 2000);
      if (req.url === '/text') return res.writeHead(200, { 'content-type': 'text/plain' }).end('plain');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const base = new URL(`http://127.0.0.1:${(http.address() as { port: number }).port}/`);
    const t = (path: string, outputSchema?: Record<string, unknown>): OperationTool => ({ name: 't', operationId: 't', method: 'get', path, tags: [], title: undefined, description: undefined, inputSchema: {}, outputSchema, params: [], body: undefined, annotations: {} });
    const opts = { baseUrl: base, timeoutMs: 500, maxResponseBytes: 1024, credentials: { authorization: 'Bearer exchanged' } };
    try {
      const ok = await callOperation(t('/ok', { type: 'object' }), {}, opts);
      assert.deepEqual(ok.structuredContent, { ok: true });
      assert.equal(seen.at(-1)!.headers.authorization, 'Bearer exchanged');
      const redirect = await callOperation(t('/redirect'), {}, opts);
      assert.equal(redirect.isError, true);
      assert.match(redirect.content[0]!.text, /^HTTP 302/);
      assert.equal(seen.filter((s) => s.url === '/elsewhere').length, 0);
      assert.match((await callOperation(t('/big'), {}, opts)).content[0]!.text, /larger than 1024 bytes/);
      assert.match((await callOperation(t('/slow'), {}, opts)).content[0]!.text, /did not answer within 500 ms/);
      const text = await callOperation(t('/text'), {}, opts);
      assert.deepEqual([text.isError, text.content[0]!.text], [undefined, 'plain']);
      assert.equal((await callOperation(t('/text', { type: 'object' }), {}, opts)).isError, true, 'a declared JSON object that is not there is an error');
      assert.deepEqual(credentialHeaders({ kind: 'token_exchange', tokenEndpoint: 'x', clientId: 'c', clientSecret: {}, audience: 'a', scope: undefined, timeoutMs: 1 }), ['authorization']);
      assert.deepEqual(credentialHeaders({ kind: 'none' }), []);
    } finally {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    }
  });
});
