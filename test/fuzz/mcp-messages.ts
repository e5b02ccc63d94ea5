// MCP messages for fuzzing, as trees (so keys can repeat and strings be escaped):
// client requests of every method, and server answers carrying list items, some of
// which the fuzz config's curation hides. Which names are hidden is decided here,
// independently of src/curation, by the rules of the fuzz config written out.
import fc from 'fast-check';
import { arr, lit, obj, toTree, type Tree } from './json-text.js';

// ---- what the fuzz config hides (see exchange-harness.ts CONFIG) ------------------

const INVISIBLE = /[\p{Cc}\p{Cf}\u034f\u115f\u1160\u3164\uffa0\ufe00-\ufe0f]/gu;
const norm = (s: string): string => s.normalize('NFKC').replace(INVISIBLE, '').trim();

/** tools: deny [secret-*], matched case-insensitively and on the NFKC form. */
export const toolHidden = (name: string): boolean => /^secret-/i.test(name) || /^secret-/i.test(norm(name));
/** prompts: allow [greet, summarize-*]: anything else is hidden. */
export const promptHidden = (name: string): boolean => !(name === 'greet' || name.startsWith('summarize-'));
/** A special-scheme URI WHATWG rewrites (known bug family uri-special-*: see known-bugs.ts). */
export function whatwgRewrites(uri: string): boolean {
  try {
    return /^(https?|wss?|ftp|file):/i.test(uri) && new URL(uri).href !== uri;
  } catch {
    return false;
  }
}

const DENIED_PREFIXES = ['test://secret/', 'https://internal.example/'];

/** resources: deny [test://secret/*, https://internal.example/*]: under one as written, or as any lenient upstream could resolve it. */
export function resourceHidden(uri: string): boolean {
  const candidates = [uri, uri.split('?')[0]!, uri.split('#')[0]!];
  try {
    candidates.push(new URL(uri).href);
  } catch {
    // not a URL for WHATWG
  }
  for (const c of [...candidates]) {
    try {
      candidates.push(decodeURIComponent(c));
    } catch {
      // not decodable
    }
  }
  for (const c of [...candidates]) {
    try {
      candidates.push(new URL(c).href);
    } catch {
      // not a URL
    }
  }
  return candidates.some((c) => DENIED_PREFIXES.some((p) => c.toLowerCase().replace(/\\/g, '/').startsWith(p)));
}

export type ItemKind = 'tool' | 'prompt' | 'resource';
export const hidden = (kind: ItemKind, name: string): boolean => (kind === 'tool' ? toolHidden(name) : kind === 'prompt' ? promptHidden(name) : resourceHidden(name));

// ---- name pools ----------------------------------------------------------------------

const fullWidth = (s: string): string => s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));

export const TOOL_NAMES = ['echo', 'add', 'secret', 'my-secret-x', 'secret-x', 'SECRET-X', 'Secret-Key', 'secret-', fullWidth('secret-x'), 'secret\u200b-x', '\u00adsecret-x', ' secret-x ', 'secret-x\u0000', 'ﬁ', 'secret\u2010x'];
export const PROMPT_NAMES = ['greet', 'summarize-doc', 'admin', 'Greet', 'greet ', fullWidth('greet'), 'summarize', 'greet\u200b'];
export const RESOURCE_URIS = ['test://public/a', 'test://public/b%20c', 'test://secret/a', 'test://secret/', 'TEST://secret/a', 'test://SECRET/a', 'test://public/../secret/a', 'test://public/%2E%2E/secret/a', 'test://secret/a?x=1', 'test://secret', 'test://secret%2Fa', 'test:/secret/a', 'test://public/x?y=test://secret/a', 'test://public/\\..\\secret', 'https://internal.example/a', 'https:internal.example/a', 'https://INTERNAL.example/a', 'https://public.example/a', 'https://internal.example:443/a'];
export const TEMPLATE_URIS = ['test://public/{id}', 'test://secret/{id}', 'test://{+path}', 'test://public/{a}/../x'];

export const toolNameArb = fc.constantFrom(...TOOL_NAMES);
export const promptNameArb = fc.constantFrom(...PROMPT_NAMES);
export const resourceUriArb = fc.constantFrom(...RESOURCE_URIS);

// ---- client messages -------------------------------------------------------------------

export const idArb: fc.Arbitrary<string | number> = fc.oneof(
  fc.constantFrom(1, 7, 0, -1, '1', '7', 'abc', '', 2 ** 53 - 1),
  fc.integer(),
  fc.string({ maxLength: 6 }),
);
/** Ids that are not valid JSON-RPC request ids. */
const badIdArb = fc.constantFrom<unknown>(null, 1.5, 2 ** 53, 1e21, true, [], {}, '12345678901234567890');

const anyTree: fc.Arbitrary<Tree> = fc.jsonValue({ maxDepth: 2 }).map(toTree);

/** params for a method (mostly right, sometimes with wrong types). */
function paramsArb(method: string): fc.Arbitrary<Tree | undefined> {
  const wrong = fc.oneof(anyTree, fc.constant(lit(null)));
  switch (method) {
    case 'tools/call':
      return fc.oneof(
        { weight: 5, arbitrary: fc.tuple(toolNameArb, fc.option(anyTree, { nil: undefined })).map(([n, a]) => obj([['name', lit(n)], ...(a ? [['arguments', a] as [string, Tree]] : [])])) },
        { weight: 1, arbitrary: wrong.map((w) => obj([['name', w]])) },
        // Duplicate "name": the strict parser must refuse it, whichever copy an upstream keeps.
        { weight: 1, arbitrary: fc.tuple(toolNameArb, toolNameArb).map(([a, b]) => obj([['name', lit(a)], ['name', lit(b)]])) },
      );
    case 'prompts/get':
      return fc.oneof(
        { weight: 4, arbitrary: promptNameArb.map((n) => obj([['name', lit(n)], ['arguments', obj([['x', lit('y')]])]])) },
        { weight: 1, arbitrary: wrong.map((w) => obj([['name', w]])) },
      );
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return fc.oneof({ weight: 4, arbitrary: resourceUriArb.map((u) => obj([['uri', lit(u)]])) }, { weight: 1, arbitrary: wrong.map((w) => obj([['uri', w]])) });
    case 'completion/complete':
      return fc.oneof(
        promptNameArb.map((n) => obj([['ref', obj([['type', lit('ref/prompt')], ['name', lit(n)]])], ['argument', obj([['name', lit('password')], ['value', lit('hunter2')]])]])),
        fc.constantFrom(...RESOURCE_URIS, ...TEMPLATE_URIS).map((u) => obj([['ref', obj([['type', lit('ref/resource')], ['uri', lit(u)]])], ['argument', obj([['name', lit('a')], ['value', lit('')]])]])),
        wrong.map((w) => obj([['ref', w]])),
      );
    case 'initialize':
      return fc.constantFrom('2025-03-26', '2025-06-18', '2025-11-25', '2026-07-28', 'bogus').map((v) => obj([['protocolVersion', lit(v)], ['capabilities', obj([])], ['clientInfo', obj([['name', lit('fuzz')], ['version', lit('1')]])]]));
    default:
      return fc.oneof(fc.constant(undefined), fc.constant(obj([])), fc.constant(obj([['cursor', lit('c')]])), wrong);
  }
}

export const CLIENT_METHODS = [
  'initialize', 'ping', 'tools/list', 'tools/call', 'prompts/list', 'prompts/get', 'resources/list', 'resources/templates/list',
  'resources/read', 'resources/subscribe', 'resources/unsubscribe', 'completion/complete', 'logging/setLevel',
  'tasks/get', 'tasks/list', 'tasks/result', 'tasks/cancel', 'server/discover',
  'notifications/initialized', 'notifications/cancelled', 'notifications/progress', 'notifications/roots/list_changed',
];
/** Spellings an upstream might accept for a method the gateway knows. */
const methodSpelling = (m: string): fc.Arbitrary<string> => fc.constantFrom(m, m, m, m.toUpperCase(), m.replace(/^./, (c) => c.toUpperCase()), fullWidth(m), `${m} `, `${m}\u200b`);

const VARIANTS = ['ok', 'ok', 'ok', 'ok', 'ok', 'no-jsonrpc', 'jsonrpc-1', 'extra-result', 'params-array', 'response', 'error-response', 'empty-method', 'dup-id', 'dup-method'];

/** One client message (request, notification, or a response to the server), sometimes malformed. */
export const mcpMessageArb: fc.Arbitrary<Tree> = clientMessage(false);
/** One client message of a known method, well-formed as JSON-RPC (its params may still be wrong). */
export const wellFormedMessageArb: fc.Arbitrary<Tree> = clientMessage(true);

function clientMessage(wellFormed: boolean): fc.Arbitrary<Tree> {
  // One record per method, built once (a chain would build arbitraries for every input).
  const perMethod = CLIENT_METHODS.map((method) =>
    fc.record({
      method: wellFormed ? fc.constant(method) : methodSpelling(method),
      params: paramsArb(method),
      id: wellFormed ? idArb.map((i): unknown => i) : fc.oneof({ weight: 8, arbitrary: idArb.map((i): unknown => i) }, { weight: 1, arbitrary: badIdArb }),
      variant: fc.constantFrom(...(wellFormed ? ['ok'] : VARIANTS)),
    }),
  );
  return fc
  .oneof(...perMethod)
  .map(({ method, params, id, variant }) => {
    const notification = method.startsWith('notifications/');
    const members: [string, Tree][] = [];
    if (variant !== 'no-jsonrpc') members.push(['jsonrpc', lit(variant === 'jsonrpc-1' ? '1.0' : '2.0')]);
    if (variant === 'response') return obj([...members, ['id', toTree(id)], ['result', obj([])]]);
    if (variant === 'error-response') return obj([...members, ['id', toTree(id)], ['error', obj([['code', lit(-1)], ['message', lit('x')]])]]);
    if (!notification) members.push(['id', toTree(id)]);
    if (variant === 'dup-id') members.push(['id', lit(99)]);
    members.push(['method', lit(variant === 'empty-method' ? '' : method)]);
    if (variant === 'dup-method') members.push(['method', lit('tools/call')]);
    if (variant === 'params-array') members.push(['params', arr([])]);
    else if (params) members.push(['params', params]);
    if (variant === 'extra-result') members.push(['result', obj([])]);
    return obj(members);
  });
}

// ---- server messages --------------------------------------------------------------------

const LISTS = [
  { key: 'tools', itemKey: 'name', pool: TOOL_NAMES },
  { key: 'prompts', itemKey: 'name', pool: PROMPT_NAMES },
  { key: 'resources', itemKey: 'uri', pool: RESOURCE_URIS },
  { key: 'resourceTemplates', itemKey: 'uriTemplate', pool: TEMPLATE_URIS },
] as const;

const listResultArb: fc.Arbitrary<Tree> = fc.oneof(
  ...LISTS.map((list) =>
    fc.tuple(fc.constantFrom('ok', 'ok', 'ok', 'item-not-object', 'name-not-string', 'dup-name', 'not-array', 'two-lists'), fc.array(fc.constantFrom(...list.pool), { maxLength: 4 }), fc.constantFrom(...LISTS)).map(([variant, names, other]) => {
      const items: Tree[] = names.map((n) => obj([[list.itemKey, lit(n)], ['description', lit('d')]]));
      if (variant === 'item-not-object') items.push(lit(list.pool[0]!));
      if (variant === 'name-not-string') items.push(obj([[list.itemKey, lit(1)]]));
      // Duplicate name keys: JSON.parse keeps the last, as the client does.
      if (variant === 'dup-name') items.push(obj([[list.itemKey, lit(list.pool[0]!)], [list.itemKey, lit(list.pool[list.pool.length - 1]!)]]));
      const members: [string, Tree][] = [[list.key, variant === 'not-array' ? obj([]) : arr(items)], ['nextCursor', lit('n')]];
      if (variant === 'two-lists') members.push([other.key, arr(other.pool.map((n) => obj([[other.itemKey, lit(n)]])))]);
      return obj(members);
    }),
  ),
);

/** Stand-ins for ids that depend on the request: resolved by `resolveIds` once the request is known. */
export const OWN_ID = '\u0000own-id';
export const TWIN_ID = '\u0000twin-id';

/** Replaces the OWN_ID / TWIN_ID stand-ins by the request's id and its string/number twin. */
export function resolveIds(t: Tree, own: unknown): Tree {
  const twin = typeof own === 'number' ? String(own) : typeof own === 'string' && /^-?\d+$/.test(own) && Number.isSafeInteger(Number(own)) ? Number(own) : own;
  const go = (x: Tree): Tree => {
    if (x.t === 'lit') return x.v === OWN_ID ? toTree(own) : x.v === TWIN_ID ? toTree(twin) : x;
    if (x.t === 'arr') return { t: 'arr', items: x.items.map(go) };
    return { t: 'obj', members: x.members.map(([k, v]) => [k, go(v)]) };
  };
  return go(t);
}

/** One server message; its id is the request's (OWN_ID), its twin (TWIN_ID) or another. */
export const serverMessageArb: fc.Arbitrary<Tree> = serverMessage();
function serverMessage(): fc.Arbitrary<Tree> {
  const id = fc.constantFrom<unknown>(OWN_ID, OWN_ID, OWN_ID, TWIN_ID, 12345, 'other', null);
  return fc.oneof(
    { weight: 5, arbitrary: fc.tuple(id, listResultArb).map(([i, r]) => obj([['jsonrpc', lit('2.0')], ['id', toTree(i)], ['result', r]])) },
    { weight: 2, arbitrary: resourceUriArb.map((u) => obj([['jsonrpc', lit('2.0')], ['method', lit('notifications/resources/updated')], ['params', obj([['uri', lit(u)]])]])) },
    { weight: 1, arbitrary: fc.constant(obj([['jsonrpc', lit('2.0')], ['method', lit('notifications/resources/updated')], ['params', obj([['uri', lit(1)]])]])) },
    { weight: 1, arbitrary: id.map((i) => obj([['jsonrpc', lit('2.0')], ['id', toTree(i)], ['result', obj([['content', arr([obj([['type', lit('text')], ['text', lit('hello')]])])]])]])) },
    { weight: 1, arbitrary: id.map((i) => obj([['jsonrpc', lit('2.0')], ['id', toTree(i)], ['error', obj([['code', lit(-32601)], ['message', lit('no')]])]])) },
    { weight: 1, arbitrary: fc.constant(obj([['jsonrpc', lit('2.0')], ['method', lit('notifications/tools/list_changed')]])) },
  );
}
