// What a Rego decision costs per message, and what filtering a 500-tool list costs,
// against the built-in glob curation measured in the same run.
//
//   node --import tsx bench/policy-eval.ts
//
// Builds policies/ with the real OPA CLI first (see scripts/bootstrap.sh).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileCuration } from '../src/curation/curation.js';
import { filterListResult } from '../src/curation/filter-list.js';
import { LIST_METHODS } from '../src/mcp/protocol.js';
import { loadPolicyBundle } from '../src/policy/engine.js';
import { VisibilityCache } from '../src/policy/visibility-cache.js';
import { createPolicyInputBuilder, type ListItem, type PolicyInput } from '../src/policy/input.js';
import { opaBinary, opaBuild } from '../src/policy/opa-cli.js';

const POLICIES = fileURLToPath(new URL('../policies', import.meta.url));
const MIN_MS = Number(process.env.BENCH_MS ?? 1000);

interface Result {
  name: string;
  opsPerSec: number;
  usPerOp: number;
}

function bench(name: string, fn: () => unknown): Result {
  for (let i = 0; i < 200; i++) fn(); // warm up (JIT, WASM tier-up)
  let ops = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  let elapsedNs = 0n;
  const minNs = BigInt(MIN_MS) * 1_000_000n;
  while (elapsedNs < minNs) {
    for (let i = 0; i < 20; i++) sink += fn() ? 1 : 0;
    ops += 20;
    elapsedNs = process.hrtime.bigint() - start;
  }
  if (sink < 0) console.log(sink); // keep results alive
  const seconds = Number(elapsedNs) / 1e9;
  return { name, opsPerSec: ops / seconds, usPerOp: (seconds * 1e6) / ops };
}

function table(title: string, rows: Result[], baseline: Result): void {
  console.log(`\n${title}`);
  console.log(`${'case'.padEnd(58)} ${'ops/s'.padStart(12)} ${'µs/op'.padStart(10)} ${'× baseline'.padStart(11)}`);
  for (const r of [baseline, ...rows]) {
    const ratio = r === baseline ? 'baseline' : `${(r.usPerOp / baseline.usPerOp).toFixed(1)}×`;
    console.log(`${r.name.padEnd(58)} ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(12)} ${r.usPerOp.toFixed(2).padStart(10)} ${ratio.padStart(11)}`);
  }
}

// ---- the policy under test -------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'policy-bench-'));
const bundlePath = join(dir, 'bundle.tar.gz');
await opaBuild(POLICIES, bundlePath);
const bundle = await loadPolicyBundle(bundlePath);
// The same policy without the visible_names entry point: visibleSet() falls back to one visible() per item.
const noNamesPath = join(dir, 'no-names.tar.gz');
execFileSync(opaBinary(), ['build', '-t', 'wasm', '--ignore', '*_test.rego', '-e', 'mcp/authz/decision', '-e', 'mcp/authz/visible', '-o', noNamesPath, POLICIES]);
const noNames = await loadPolicyBundle(noNamesPath);

const buildInput = createPolicyInputBuilder();
const identity = { subject: 'alice', issuer: 'https://idp.example.com', groups: ['analyst'], scopes: ['mcp:tools'], claims: { sub: 'alice', iss: 'https://idp.example.com', groups: ['analyst'] }, method: 'jwt' };
const headers = {
  ':method': 'POST', ':path': '/mcp/demo', ':authority': 'gw.example.com', 'content-type': 'application/json', accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-11-25', 'mcp-session-id': 'b1e4c1f0-6a5e-4c1b-9a55-6f0a6b3d2c11', authorization: 'Bearer eyJ…', 'user-agent': 'bench/1.0', 'x-request-id': '7f9c',
};
function input(method: string, params: Record<string, unknown>): PolicyInput {
  const body = { jsonrpc: '2.0', id: 1, method, params };
  return buildInput({
    http: { method: 'POST', path: '/mcp/demo', host: 'gw.example.com', headers },
    sourceAddress: '10.0.0.7',
    identity,
    server: 'demo',
    protocolVersion: '2025-11-25',
    sessionId: headers['mcp-session-id'],
    message: { kind: 'request', id: 1, method, params, body },
  });
}

// A 500-tool list: a fifth each visible to analysts by prefix, the rest not.
const prefixes = ['query-', 'get-', 'deploy-', 'admin-', 'sync-'];
const tools = Array.from({ length: 500 }, (_, i) => ({
  name: `${prefixes[i % prefixes.length]}thing-${i}`,
  description: `Does thing ${i} to the system; a description of ordinary length for an MCP tool.`,
  inputSchema: { type: 'object', properties: { id: { type: 'string', description: 'The id' }, limit: { type: 'integer', minimum: 1 } }, required: ['id'] },
}));
const items: ListItem[] = tools.map((t) => ({ kind: 'tool', name: t.name, item: t }));
const namesOnly: ListItem[] = tools.map((t) => ({ kind: 'tool', name: t.name, item: null }));
const listInput = input('tools/list', {});
const curation = compileCuration({ tools: { allow: ['echo', 'query-*', 'get-*', 'run-sql', 'read-file'], deny: [] }, prompts: { allow: ['*'], deny: [] }, resources: { allow: ['*'], deny: [] } });
const listResult = { tools };
const toolsList = LIST_METHODS.get('tools/list')!;

// Sanity: every method gives the same answer.
const viaNames = bundle.visibleSet(listInput, items);
const filtered = filterListResult(listResult, toolsList, curation);
if ("error" in filtered) throw new Error(filtered.error);
const viaCuration = new Set((filtered.result.tools as { name: string }[]).map((t) => t.name));
const viaVisible = new Set(items.filter((it) => bundle.visible({ ...listInput, list_item: it })).map((it) => it.name));
const viaFallback = noNames.visibleSet(listInput, items);
if (viaNames.size !== 200 || [...viaNames].some((n) => !viaCuration.has(n) || !viaVisible.has(n) || !viaFallback.has(n))) throw new Error('the methods disagree; the benchmark would be meaningless');

console.log(`policy-eval bench: policies/ revision ${bundle.revision}, node ${process.version}, ${MIN_MS} ms per case`);

// ---- per message ----------------------------------------------------------------------------

const echoCall = input('tools/call', { name: 'echo', arguments: { text: 'hello' } });
const sqlCall = input('tools/call', { name: 'run-sql', arguments: { query: 'SELECT id, total FROM orders WHERE created_at > now() - interval 1 day' } });
const deniedCall = input('tools/call', { name: 'deploy-prod', arguments: {} });
const check = (d: { allowed: boolean; error: string | undefined }, want: boolean) => {
  if (d.allowed !== want || d.error) throw new Error(`unexpected decision ${JSON.stringify(d)}`);
};
check(bundle.decide(echoCall), true);
check(bundle.decide(sqlCall), true);
check(bundle.decide(deniedCall), false);

const perMessageBaseline = bench('built-in curation: visible(tool, name)', () => curation.visible('tool', 'run-sql'));
table(
  'per message (one tools/call decision)',
  [
    bench('decide(): echo, allowed', () => bundle.decide(echoCall).allowed),
    bench('decide(): run-sql, argument rules, allowed', () => bundle.decide(sqlCall).allowed),
    bench('decide(): hidden tool, denied with a reason', () => bundle.decide(deniedCall).allowed),
    bench('input build (createPolicyInputBuilder), for scale', () => input('tools/call', { name: 'echo', arguments: { text: 'hello' } })),
  ],
  perMessageBaseline,
);

// ---- a 500-tool list ------------------------------------------------------------------------

// The cache as the gateway uses it: one caller class, its first list evaluated, the rest remembered.
const cache = new VisibilityCache({ key: ['identity.groups'], maxClasses: 100, maxItems: 10_000 });
if (cache.visibleSet(bundle, 'bench', listInput, namesOnly).size !== viaNames.size) throw new Error('the cache disagrees with the policy');
const listBaseline = bench('built-in curation: filterListResult, 500 tools', () => filterListResult(listResult, toolsList, curation));
table(
  'filtering a 500-tool tools/list result',
  [
    bench('visibleSet(): one visible_names evaluation, full items', () => bundle.visibleSet(listInput, items).size),
    bench('visibleSet(): one visible_names evaluation, names only', () => bundle.visibleSet(listInput, namesOnly).size),
    bench('policy.visibility_cache (identity.groups), warm, names only', () => cache.visibleSet(bundle, 'bench', listInput, namesOnly).size),
    bench('visibleSet() fallback: 500 visible(), input serialized once', () => noNames.visibleSet(listInput, items).size),
    bench('500 × visible(), full input re-serialized per item', () => {
      let n = 0;
      for (const it of items) if (bundle.visible({ ...listInput, list_item: it })) n++;
      return n;
    }),
  ],
  listBaseline,
);

rmSync(dir, { recursive: true, force: true });
