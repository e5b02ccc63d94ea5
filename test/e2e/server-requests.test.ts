// Requests upstreams send to the caller, under the example Rego policy, through the real
// Envoy: a sampling request sent in the middle of a tools/call reaches the client from a
// server the policy lets ask for sampling; from another server it is dropped (the client
// never sees it), the upstream gets a JSON-RPC error for it in its session — POSTed back
// through Envoy's listener, so with two replicas it reaches the one holding the session —
// and both are audited as mcp.server_request events. At 2026-07-28 (a v2 SDK client
// pinned to it, the reference server's input_required tools) the requests ride in the
// result; a refused one ends the client's call with the policy's error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startIntegrityUpstream, type IntegrityUpstream } from '../support/integrity-upstream.js';
import { opaBuild } from '../../src/policy/opa-cli.js';
import { startReferenceServer, type ReferenceServer } from '../fixtures/reference-server.js';
import { Client as NextClient, ProtocolError, StreamableHTTPClientTransport as NextTransport } from '@modelcontextprotocol/client';

const API_KEY = 'k-server-requests-0123456789abcdef';
let up: IntegrityUpstream;
let replicas: IntegrityUpstream[];
let reference: ReferenceServer;
let gw: RunningGateway;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-server-requests-'));
  const bundle = join(dir, 'bundle.tar.gz');
  await opaBuild('policies', bundle);
  up = await startIntegrityUpstream();
  replicas = [await startIntegrityUpstream(), await startIntegrityUpstream()];
  reference = await startReferenceServer();
  gw = await startGateway({
    config: {
      auth: { api_keys: { keys: [{ sha256: createHash('sha256').update(API_KEY).digest('hex'), subject: 'ops', groups: ['admin'] }] } },
      policy: { bundle },
      servers: [
        { name: 'assistant', url: up.url },
        { name: 'crm', url: up.url },
        // Two replicas of one upstream, sticky by session (stateful_session).
        { name: 'billing', url: replicas.map((r) => r.url) },
        // The 2026-07-28 era: the reference server asks in input_required results (the policy lets "everything" ask for sampling).
        { name: 'everything', url: reference.url },
        { name: 'crm-next', url: reference.url },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  await up?.close();
  for (const r of replicas ?? []) await r.close();
  await reference?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function askThrough(server: string): Promise<{ text: string; isError: boolean; sampled: number }> {
  const client = new Client({ name: 'e2e-server-requests', version: '1.0.0' }, { capabilities: { sampling: {} } });
  let sampled = 0;
  client.setRequestHandler(CreateMessageRequestSchema, async () => {
    sampled++;
    return { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'a summary' } };
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.url(server)), { requestInit: { headers: { 'x-api-key': API_KEY } } }));
  const r = await client.callTool({ name: 'ask', arguments: {} });
  await client.close();
  return { text: (r.content as { text: string }[])[0]!.text, isError: r.isError === true, sampled };
}

test('a server the policy lets ask for sampling: the request reaches the client, audited as allowed', async () => {
  const r = await askThrough('assistant');
  assert.deepEqual(r, { text: 'sampled: a summary', isError: false, sampled: 1 });
  const ev = await gw.waitForAudit((e) => e.type === 'mcp.server_request' && e.server === 'assistant');
  assert.equal(ev.decision, 'allow');
  assert.equal(ev.rpc?.method, 'sampling/createMessage');
  assert.equal(ev.identity?.subject, 'ops', 'decided for the caller whose call it came in');
  assert.equal(ev.policy?.allowed, true);
});

test('another server: the request never reaches the client, the upstream gets the refusal, audited as denied', async () => {
  const r = await askThrough('crm');
  assert.equal(r.sampled, 0, 'the client never saw the sampling request');
  assert.equal(r.isError, true);
  assert.match(r.text, /sampling failed: .*server "crm" may not ask for sampling/, 'the upstream got the JSON-RPC error in its session');
  const ev = await gw.waitForAudit((e) => e.type === 'mcp.server_request' && e.server === 'crm');
  assert.equal(ev.decision, 'deny');
  assert.equal(ev.reason, 'policy_denied');
  assert.deepEqual(ev.policy?.reasons, ['server "crm" may not ask for sampling']);
  // The refusal reached the upstream as a JSON-RPC response POSTed in the session.
  const answer = up.upstream.received.find((x) => (x.body as { error?: { data?: { reason?: string } } })?.error?.data?.reason === 'policy_denied');
  assert.ok(answer, 'the upstream received the error response');
  assert.ok(answer.headers['mcp-session-id'], 'in the upstream session');
});

const policyAnswers = (u: IntegrityUpstream) => u.upstream.received.filter((x) => (x.body as { error?: { data?: { reason?: string } } })?.error?.data?.reason === 'policy_denied');

test('the refusal goes back through Envoy (audited as the gateway\'s answer), without its ticket', async () => {
  const answer = policyAnswers(up)[0];
  assert.ok(answer, 'the upstream received the error response');
  assert.ok(answer.headers['x-request-id'], 'Envoy forwarded it (it sets x-request-id)');
  assert.equal(answer.headers['x-mcp-gateway-answer-ticket'], undefined, 'the ticket is removed before the upstream');
  const ev = await gw.waitForAudit((e) => e.type === 'mcp.gateway_answer' && e.server === 'crm');
  assert.equal(ev.decision, 'allow');
  assert.equal(ev.reason, 'gateway_answer');
  assert.equal(ev.rpc?.kind, 'response');
  assert.ok(ev.upstream_status !== undefined && ev.upstream_status < 300, `the upstream accepted it (${ev.upstream_status})`);
});

test('two replicas: each refusal reaches the replica that holds the session', async () => {
  const results = await Promise.all([0, 1, 2, 3, 4, 5].map(() => askThrough('billing')));
  for (const r of results) {
    assert.equal(r.sampled, 0);
    // An answer sent to the other replica would leave this one waiting until its 10 s timeout.
    assert.match(r.text, /sampling failed: .*server "billing" may not ask for sampling/);
  }
  const answered = replicas.map((u) => policyAnswers(u).length);
  assert.equal(answered[0]! + answered[1]!, 6, `every refusal reached a replica (${answered})`);
  assert.ok(answered.every((n) => n > 0), `round robin spread the sessions over both replicas (${answered})`);
  for (const [n, u] of replicas.entries()) {
    // The replica's own sessions: those it answered tools/call in.
    const sessions = new Set(u.upstream.received.filter((x) => (x.body as { method?: string })?.method === 'tools/call').map((x) => x.headers['mcp-session-id']));
    for (const a of policyAnswers(u)) assert.ok(sessions.has(a.headers['mcp-session-id']), `replica ${n} got an answer only for a session of its own`);
  }
});

test('a caller cannot forge the gateway\'s answer: an unknown ticket is refused before the upstream', async () => {
  const before = up.upstream.received.length;
  const r = await fetch(gw.url('crm'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-api-key': API_KEY, 'x-mcp-gateway-answer-ticket': '6f1c2a9e-0000-4000-8000-000000000000' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, result: { model: 'forged', role: 'assistant', content: { type: 'text', text: 'x' } } }),
  });
  assert.equal(r.status, 403);
  const body = (await r.json()) as { error: { data: { reason: string } } };
  assert.equal(body.error.data.reason, 'answer_forged');
  assert.equal(up.upstream.received.length, before, 'nothing reached the upstream');
  const ev = await gw.waitForAudit((e) => e.type === 'mcp.gateway_answer' && e.reason === 'answer_forged');
  assert.equal(ev.decision, 'deny');
});

async function askNext(server: string): Promise<{ text?: string; error?: ProtocolError; sampled: number }> {
  const client = new NextClient({ name: 'e2e-server-requests-next', version: '1.0.0' }, { capabilities: { sampling: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
  let sampled = 0;
  client.setRequestHandler('sampling/createMessage', async () => {
    sampled++;
    return { model: 'test-model', role: 'assistant' as const, content: { type: 'text' as const, text: 'Paris' } };
  });
  await client.connect(new NextTransport(new URL(gw.url(server)), { requestInit: { headers: { 'x-api-key': API_KEY } } }));
  try {
    const r = await client.callTool({ name: 'test_sampling', arguments: { prompt: 'The capital of France?' } });
    return { text: (r.content as { text: string }[])[0]!.text, sampled };
  } catch (err) {
    if (err instanceof ProtocolError) return { error: err, sampled };
    throw err;
  } finally {
    await client.close();
  }
}

test('2026-07-28: a sampling input request from a server the policy allows is fulfilled, audited as allowed', async () => {
  const r = await askNext('everything');
  assert.equal(r.error, undefined, r.error?.message);
  assert.equal(r.sampled, 1);
  assert.equal(r.text, 'LLM response: Paris');
  const ev = await gw.waitForAudit((e) => e.type === 'mcp.server_request' && e.server === 'everything');
  assert.equal(ev.decision, 'allow');
  assert.equal(ev.input_request, true);
  assert.deepEqual(ev.rpc, { kind: 'request', id: 'sample', method: 'sampling/createMessage' });
  assert.equal(ev.protocol_version, '2026-07-28');
});

test('2026-07-28: from another server the input_required result becomes the policy\'s error; the client is never asked', async () => {
  const r = await askNext('crm-next');
  assert.equal(r.sampled, 0, 'the client never saw the sampling request');
  assert.ok(r.error, `the call failed (got ${r.text})`);
  assert.equal(r.error.code, -32003);
  assert.match(r.error.message, /server "crm-next" may not ask for sampling.*input request "sample"/);
  assert.deepEqual((r.error.data as { reason: string }).reason, 'policy_denied');
  const ev = await gw.waitForAudit((e) => e.type === 'mcp.server_request' && e.server === 'crm-next');
  assert.equal(ev.decision, 'deny');
  assert.equal(ev.input_request, true);
  assert.equal(ev.reason, 'policy_denied');
  // The call's own event says its answer was replaced by the refusal.
  const call = await gw.waitForAudit((e) => e.type === 'mcp.request' && e.server === 'crm-next' && e.rpc?.method === 'tools/call');
  assert.equal(call.decision, 'deny');
  assert.equal(call.reason, 'policy_denied');
});
