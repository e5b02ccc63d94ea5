// Requests upstreams send to the caller, under the example Rego policy, through the real
// Envoy: a sampling request sent in the middle of a tools/call reaches the client from a
// server the policy lets ask for sampling; from another server it is dropped (the client
// never sees it), the upstream gets a JSON-RPC error for it in its session, and both are
// audited as mcp.server_request events.
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

const API_KEY = 'k-server-requests-0123456789abcdef';
let up: IntegrityUpstream;
let gw: RunningGateway;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-server-requests-'));
  const bundle = join(dir, 'bundle.tar.gz');
  await opaBuild('policies', bundle);
  up = await startIntegrityUpstream();
  gw = await startGateway({
    config: {
      auth: { api_keys: { keys: [{ sha256: createHash('sha256').update(API_KEY).digest('hex'), subject: 'ops', groups: ['admin'] }] } },
      policy: { bundle },
      servers: [
        { name: 'assistant', url: up.url },
        { name: 'crm', url: up.url },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  await up?.close();
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
