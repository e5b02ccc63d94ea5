// Metrics and health of the sidecar, through the real Envoy with the SDK's client in
// front of the reference "everything" server: what a Prometheus scrape and a gRPC
// health probe see.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startUpstream, everythingServerFactory, type RunningUpstream } from '../../examples/upstream.js';
import { startGateway, freePort, type RunningGateway } from '../support/gateway.js';
import { scrape, samples, total } from '../support/prometheus.js';

let upstream: RunningUpstream;
let gw: RunningGateway;
let telemetry: string;

before(async () => {
  upstream = await startUpstream({ createServer: await everythingServerFactory() });
  gw = await startGateway({
    config: {
      servers: [{ name: 'everything', url: upstream.url, tools: { allow: ['echo', 'get-*'], deny: ['get-env'] } }],
      telemetry: { listen: `127.0.0.1:${await freePort()}` },
      audit: { sink: 'stdout' },
    },
  });
  telemetry = gw.launched.sidecar.telemetryUrl!;
});
after(async () => {
  await gw?.stop();
  await upstream?.close();
});

test('a Prometheus scrape shows MCP operations, refusals and filtered lists with bounded labels', async () => {
  const client = new Client({ name: 'metrics-e2e', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.url('everything'))));
  await client.listTools();
  await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
  await client.callTool({ name: 'echo', arguments: { message: 'again' } });
  await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }));
  await client.close();
  await gw.waitForAudit((e) => e.reason === 'not_curated');

  const { families, contentType } = await scrape(telemetry);
  assert.match(contentType ?? '', /^text\/plain; version=0\.0\.4/);

  const echo = samples(families, 'mcp_server_operation_duration_seconds_count', { server: 'everything', mcp_method_name: 'tools/call', gen_ai_tool_name: 'echo', error_type: '' });
  assert.equal(total(echo), 2, JSON.stringify(echo));
  assert.equal(families.get('mcp_server_operation_duration_seconds')!.type, 'histogram');
  assert.equal(echo[0]!.labels.mcp_protocol_version, '2025-11-25');
  assert.ok(total(samples(families, 'mcp_server_operation_duration_seconds_sum', { gen_ai_tool_name: 'echo' })) > 0);
  const inf = samples(families, 'mcp_server_operation_duration_seconds_bucket', { gen_ai_tool_name: 'echo', le: '+Inf' });
  assert.equal(total(inf), 2, 'the +Inf bucket holds every observation');

  // A refused tool is not a label value (the caller chose the name): its reason is.
  const refused = samples(families, 'mcp_server_operation_duration_seconds_count', { mcp_method_name: 'tools/call', error_type: 'not_curated' });
  assert.equal(total(refused), 1);
  assert.equal(refused[0]!.labels.gen_ai_tool_name ?? '', '');
  assert.equal(total(samples(families, 'mcp_gateway_decisions_total', { server: 'everything', decision: 'deny', reason: 'not_curated' })), 1);
  assert.ok(total(samples(families, 'mcp_gateway_decisions_total', { type: 'mcp.request', mcp_method_name: 'initialize', decision: 'allow' })) >= 1);

  const kept = total(samples(families, 'mcp_gateway_list_items_total', { mcp_method_name: 'tools/list', outcome: 'kept' }));
  const removed = total(samples(families, 'mcp_gateway_list_items_total', { mcp_method_name: 'tools/list', outcome: 'removed' }));
  const listed = (await (async () => {
    const c = new Client({ name: 'count', version: '1' });
    await c.connect(new StreamableHTTPClientTransport(new URL(gw.url('everything'))));
    const r = await c.listTools();
    await c.close();
    return r.tools.length;
  })());
  assert.equal(kept, listed, 'kept items are what the client saw');
  assert.ok(removed > 0, 'hidden tools were counted as removed');

  assert.ok(total(samples(families, 'mcp_gateway_upstream_responses_total', { status_class: '2xx' })) > 0);
  assert.ok(families.has('mcp_gateway_extproc_streams_open'));
  assert.ok(total(samples(families, 'mcp_gateway_extproc_streams_total')) >= 5);
  assert.ok(families.has('mcp_gateway_process_cpu_seconds_total'), 'process metrics');
});

test('an unknown method is counted as _other, never as its own label value', async () => {
  for (const m of ['vendor/a', 'vendor/b', 'x'.repeat(300)]) {
    await fetch(gw.url('everything'), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: m }) });
  }
  const { families } = await scrape(telemetry);
  const methods = new Set(samples(families, 'mcp_gateway_decisions_total').map((m) => m.labels.mcp_method_name ?? ''));
  assert.ok(methods.has('_other'));
  for (const m of methods) assert.ok(m.length < 40, `label value ${m}`);
});

test('/healthz and /readyz answer; other paths and methods do not', async () => {
  assert.deepEqual(await (await fetch(`${telemetry}/healthz`)).json(), { status: 'ok' });
  const ready = await fetch(`${telemetry}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready' });
  assert.equal((await fetch(`${telemetry}/nope`)).status, 404);
  assert.equal((await fetch(`${telemetry}/metrics`, { method: 'POST' })).status, 405);
});

test('grpc.health.v1 on the ext_proc port reports SERVING for the server and the ext_proc service', async () => {
  const Ctor = grpc.makeGenericClientConstructor(healthService, 'Health');
  const client = new Ctor(gw.launched.sidecar.address, grpc.credentials.createInsecure()) as unknown as {
    check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
    close(): void;
  };
  try {
    for (const service of ['', 'envoy.service.ext_proc.v3.ExternalProcessor']) {
      const res = await new Promise<{ status: string }>((resolve, reject) => client.check({ service }, (err, r) => (err ? reject(err) : resolve(r!))));
      assert.equal(res.status, 'SERVING', service);
    }
    const unknown = await new Promise<grpc.ServiceError | null>((resolve) => client.check({ service: 'nope' }, (err) => resolve(err)));
    assert.equal(unknown?.code, grpc.status.NOT_FOUND);
  } finally {
    client.close();
  }
});
