// Traces end to end: the SDK's client with a traceparent, through the real Envoy and
// sidecar to the reference "everything" server, the spans exported over OTLP to a real
// Jaeger and read back from its query API; the audit log records through the
// collector's logs pipeline.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startUpstream, everythingServerFactory, type RunningUpstream } from '../../examples/upstream.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startJaeger, attr, type JaegerSpan, type RunningJaeger } from '../support/jaeger.js';
import { opaBuild } from '../../src/policy/opa-cli.js';
import { parseTraceparent } from '../../src/telemetry/trace-context.js';

const POLICY = `package mcp.authz

default visible := true

default decision := {"allowed": true}

decision := {"allowed": false, "reasons": ["sums are off today"]} if input.mcp.tool == "get-sum"
`;

let jaeger: RunningJaeger;
let upstream: RunningUpstream;
let gw: RunningGateway;
let dir: string;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
/** A caller's span: a fresh trace id and span id, sampled. */
const callerSpan = () => ({ traceId: hex(16), spanId: hex(8) });
const traceparent = (c: { traceId: string; spanId: string }, flags = '01') => `00-${c.traceId}-${c.spanId}-${flags}`;

const isKind = (s: JaegerSpan, kind: 'SERVER' | 'CLIENT' | 'INTERNAL') => s.kind === { INTERNAL: 1, SERVER: 2, CLIENT: 3 }[kind] || s.kind === `SPAN_KIND_${kind}`;
const isError = (s: JaegerSpan) => s.status?.code === 2 || s.status?.code === 'STATUS_CODE_ERROR';

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'tracing-e2e', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

/** The upstream request that carried this tools/call. */
function upstreamCall(tool: string, marker: string) {
  const r = upstream.received.find((x) => {
    const b = x.body as { method?: string; params?: { name?: string; arguments?: { message?: string } } } | undefined;
    return b?.method === 'tools/call' && b.params?.name === tool && b.params.arguments?.message === marker;
  });
  assert.ok(r, `the upstream received the ${tool} call "${marker}"`);
  return r;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-gw-tracing-'));
  await mkdir(join(dir, 'src'));
  await writeFile(join(dir, 'src', 'authz.rego'), POLICY);
  await opaBuild(join(dir, 'src'), join(dir, 'bundle.tar.gz'));
  jaeger = await startJaeger();
  upstream = await startUpstream({ createServer: await everythingServerFactory() });
  gw = await startGateway({
    config: {
      servers: [{ name: 'everything', url: upstream.url, tools: { deny: ['get-env'] } }],
      policy: { bundle: join(dir, 'bundle.tar.gz') },
      telemetry: { tracing: { endpoint: jaeger.otlpHttp, export_interval_ms: 100, resource_attributes: { 'deployment.environment.name': 'e2e' } } },
      audit: { otlp: {} },
    },
  });
});
after(async () => {
  await gw?.stop();
  await upstream?.close();
  await jaeger?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the gateway span', () => {
  test('a tool call: the collector has "tools/call echo" as the caller\'s child, and the upstream is the gateway span\'s child', async () => {
    const caller = callerSpan();
    const client = await connect(gw.url('everything'), { traceparent: traceparent(caller), tracestate: 'caller=1' });
    await client.callTool({ name: 'echo', arguments: { message: 'traced-1' } });
    await client.close();

    const spans = await jaeger.waitForTrace(caller.traceId, (s) => s.some((x) => x.name === 'tools/call echo'));
    const span = spans.find((x) => x.name === 'tools/call echo')!;
    assert.equal(span.service, 'mcp-gateway');
    assert.ok(isKind(span, 'SERVER'));
    assert.equal(span.parentSpanId, caller.spanId, 'parent = the caller\'s span');
    const a = span.attributes;
    assert.equal(attr(a, 'mcp.method.name'), 'tools/call');
    assert.equal(attr(a, 'gen_ai.tool.name'), 'echo');
    assert.equal(attr(a, 'gen_ai.operation.name'), 'execute_tool');
    assert.equal(attr(a, 'mcp.protocol.version'), '2025-11-25');
    assert.equal(attr(a, 'network.transport'), 'tcp');
    assert.equal(attr(a, 'mcp_gateway.server'), 'everything');
    assert.equal(attr(a, 'mcp_gateway.reason'), 'allowed');
    assert.ok(typeof attr(a, 'jsonrpc.request.id') === 'string');
    assert.ok(typeof attr(a, 'mcp.session.id') === 'string', 'the session id');
    assert.equal(attr(a, 'error.type'), undefined);
    // Every message of the session is in the caller's trace (initialize, notifications/initialized, …).
    assert.ok(spans.some((x) => x.name === 'initialize' && x.parentSpanId === caller.spanId));

    // The policy evaluation is a child of the message span.
    const policy = spans.find((x) => x.name === 'mcp_gateway.policy.evaluate' && x.parentSpanId === span.spanId);
    assert.ok(policy, 'a policy child span');
    assert.equal(attr(policy.attributes, 'mcp_gateway.policy.outcome'), 'allow');

    const tp = parseTraceparent(upstreamCall('echo', 'traced-1').headers['traceparent']);
    assert.ok(tp, 'the upstream got a valid traceparent');
    assert.equal(tp.traceId, caller.traceId);
    assert.equal(tp.spanId, span.spanId, 'the upstream\'s parent is the gateway span');
    assert.equal(upstreamCall('echo', 'traced-1').headers['tracestate'], 'caller=1');

    // The resource has the configured attributes beside service.name.
    assert.equal(attr(span.resource, 'deployment.environment.name'), 'e2e');
    const ev = await gw.waitForAudit((e) => e.target?.name === 'echo' && e.trace_id === caller.traceId);
    assert.equal(ev.span_id, span.spanId, 'the audit event names the span');
  });

  test('a refusal by curation and by policy: error.type is the reason code and the span is an error', async () => {
    const caller = callerSpan();
    const client = await connect(gw.url('everything'), { traceparent: traceparent(caller) });
    await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }));
    await assert.rejects(client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } }));
    await client.close();
    const spans = await jaeger.waitForTrace(caller.traceId, (s) => s.some((x) => x.name === 'tools/call get-env') && s.some((x) => x.name === 'tools/call get-sum'));
    const curated = spans.find((x) => x.name === 'tools/call get-env')!;
    assert.equal(attr(curated.attributes, 'error.type'), 'not_curated');
    assert.ok(isError(curated));
    assert.match(curated.status?.message ?? '', /get-env/);
    assert.ok(typeof attr(curated.attributes, 'rpc.response.status_code') === 'string');
    const denied = spans.find((x) => x.name === 'tools/call get-sum')!;
    assert.equal(attr(denied.attributes, 'error.type'), 'policy_denied');
    assert.ok(isError(denied));
    const policy = spans.find((x) => x.name === 'mcp_gateway.policy.evaluate' && x.parentSpanId === denied.spanId);
    assert.ok(policy && isError(policy), 'the denying evaluation is an error child');
    assert.equal(attr(policy.attributes, 'mcp_gateway.policy.outcome'), 'deny');
  });

  test('params._meta.traceparent is the parent; the HTTP header\'s context is a link', async () => {
    const http = callerSpan();
    const meta = callerSpan();
    const client = await connect(gw.url('everything'), { traceparent: traceparent(http) });
    await client.callTool({ name: 'echo', arguments: { message: 'traced-meta' }, _meta: { traceparent: traceparent(meta) } });
    await client.close();
    const spans = await jaeger.waitForTrace(meta.traceId, (s) => s.some((x) => x.name === 'tools/call echo'));
    const span = spans.find((x) => x.name === 'tools/call echo')!;
    assert.equal(span.parentSpanId, meta.spanId);
    assert.deepEqual(span.links?.map((l) => l.spanId), [http.spanId]);
    const received = upstreamCall('echo', 'traced-meta');
    const tp = parseTraceparent(received.headers['traceparent']);
    assert.equal(tp?.traceId, meta.traceId);
    assert.equal(tp?.spanId, span.spanId);
    // And in the body, for an upstream that reads _meta first.
    const bodyTp = parseTraceparent((received.body as { params: { _meta: { traceparent: string } } }).params._meta.traceparent);
    assert.deepEqual(bodyTp, tp);
  });

  test('a malformed traceparent is ignored: the gateway starts the trace', async () => {
    const bogus = `00-${'A'.repeat(32)}-${'B'.repeat(16)}-01`;
    const client = await connect(gw.url('everything'), { traceparent: bogus });
    await client.callTool({ name: 'echo', arguments: { message: 'traced-bogus' } });
    await client.close();
    const ev = await gw.waitForAudit((e) => e.rpc?.method === 'tools/call' && JSON.stringify(e.arguments).includes('traced-bogus'));
    assert.ok(ev.trace_id && /^[0-9a-f]{32}$/.test(ev.trace_id));
    const spans = await jaeger.waitForTrace(ev.trace_id, (s) => s.some((x) => x.spanId === ev.span_id));
    const span = spans.find((x) => x.spanId === ev.span_id)!;
    assert.equal(span.parentSpanId, undefined, 'a root span');
    assert.equal(parseTraceparent(upstreamCall('echo', 'traced-bogus').headers['traceparent'])?.spanId, span.spanId);
  });
});

test('audit events arrive at the collector as log records carrying the span\'s trace and span ids', async () => {
  const caller = callerSpan();
  const client = await connect(gw.url('everything'), { traceparent: traceparent(caller) });
  await client.callTool({ name: 'echo', arguments: { message: 'logged' } });
  await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }));
  await client.close();
  const ev = await gw.waitForAudit((e) => e.trace_id === caller.traceId && e.target?.name === 'echo');
  const rec = await jaeger.waitForLog((r) => r.traceId === caller.traceId && r.spanId === ev.span_id);
  assert.equal(rec.service, 'mcp-gateway');
  assert.equal(rec.eventName, 'mcp_gateway.audit');
  assert.equal(attr(rec.attributes, 'mcp_gateway.reason'), 'allowed');
  assert.equal(attr(rec.attributes, 'gen_ai.tool.name'), 'echo');
  const body = rec.body?.kvlistValue?.values ?? [];
  assert.equal(attr(body, 'type'), 'mcp.request');
  assert.equal(attr(body, 'span_id'), ev.span_id);
  const refused = await jaeger.waitForLog((r) => r.traceId === caller.traceId && attr(r.attributes, 'error.type') === 'not_curated');
  assert.equal(refused.severityText, 'WARN');
});

describe('OTLP over gRPC, with Envoy tracing on', () => {
  let gw2: RunningGateway;
  before(async () => {
    gw2 = await startGateway({
      config: {
        servers: [{ name: 'everything', url: upstream.url }],
        telemetry: { tracing: { endpoint: jaeger.otlpGrpc, protocol: 'grpc', export_interval_ms: 100, service_name: 'gw-grpc', envoy: true } },
      },
    });
  });
  after(async () => {
    await gw2?.stop();
  });

  test('the gateway\'s spans and Envoy\'s own arrive in the caller\'s trace', async () => {
    const caller = callerSpan();
    const client = await connect(gw2.url('everything'), { traceparent: traceparent(caller) });
    await client.callTool({ name: 'echo', arguments: { message: 'traced-envoy' } });
    await client.close();
    // Envoy's router writes its own span context upstream (over the sidecar's): the upstream is
    // in the caller's trace, as the child of an Envoy span.
    const tp = parseTraceparent(upstreamCall('echo', 'traced-envoy').headers['traceparent']);
    assert.equal(tp?.traceId, caller.traceId);
    const spans = await jaeger.waitForTrace(caller.traceId, (s) => s.some((x) => x.name === 'tools/call echo') && s.some((x) => x.spanId === tp?.spanId));
    const span = spans.find((x) => x.name === 'tools/call echo')!;
    assert.equal(span.service, 'gw-grpc');
    assert.equal(span.parentSpanId, caller.spanId);
    const envoy = spans.filter((x) => x.service === 'gw-grpc-envoy');
    assert.ok(envoy.some((x) => x.parentSpanId === caller.spanId && isKind(x, 'SERVER')), `Envoy's ingress span continues the caller's: ${JSON.stringify(envoy.map((x) => [x.name, x.parentSpanId]))}`);
    assert.equal(spans.find((x) => x.spanId === tp?.spanId)?.service, 'gw-grpc-envoy', "the upstream's parent is Envoy's span");
    assert.ok(envoy.some((x) => x.name.includes('ext_proc')), "Envoy's call to the sidecar is a span too");
  });
});
