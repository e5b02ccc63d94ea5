// Spans of exchanges, without Envoy: an Exchange driven phase by phase with the real SDK
// tracer provider writing to its in-memory exporter.
import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { Exchange } from '../../src/gateway/exchange.js';
import { GatewayRuntime } from '../../src/gateway/runtime.js';
import { MemoryAuditSink } from '../../src/audit/sink.js';
import { parseConfig } from '../../src/config/load.js';
import { GatewayTracing, spanName } from '../../src/telemetry/tracing.js';
import type { Verdict } from '../../src/gateway/verdict.js';
import { emptyAuditEvent } from '../../src/audit/event.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const CALLER = `00-${TRACE}-${SPAN}-01`;

const config = parseConfig(`
servers:
  - name: s
    url: http://127.0.0.1:1/mcp
    tools: { deny: [secret-*] }
telemetry:
  tracing: { endpoint: http://127.0.0.1:4318 }
`);
const exporter = new InMemorySpanExporter();
const tracing = new GatewayTracing(config.telemetry.tracing!, { processor: new SimpleSpanProcessor({ exporter }) });
const conn = { clientAddress: '127.0.0.1:51234' };
beforeEach(() => exporter.reset());

async function post(body: unknown, extra: Record<string, string> = {}, withTracing = true) {
  const audit = new MemoryAuditSink();
  const ex = new Exchange(new GatewayRuntime(config, audit, undefined, new Map(), new Map(), undefined, new Map(), undefined, withTracing ? tracing : undefined));
  const h = { ':method': 'POST', ':path': '/mcp/s', ':authority': 'localhost', 'content-type': 'application/json', 'mcp-protocol-version': '2025-11-25', ...extra };
  let v: Verdict = await ex.requestHeaders(h, false, conn);
  if (v.kind === 'continue') v = await ex.requestBody(Buffer.from(JSON.stringify(body)));
  if (v.kind === 'continue') ex.responseHeaders({ ':status': '200', 'content-type': 'application/json', 'content-length': '2' }, false);
  ex.close('complete');
  return { v, event: audit.events[0]!, spans: exporter.getFinishedSpans() };
}

const headerSet = (v: Verdict) => (v.kind === 'continue' ? Object.fromEntries(v.headers?.set ?? []) : {});
const only = (spans: ReadableSpan[], name: string) => {
  const s = spans.filter((x) => x.name === name);
  assert.equal(s.length, 1, `one "${name}" span in ${JSON.stringify(spans.map((x) => x.name))}`);
  return s[0]!;
};

describe('the message span', () => {
  it('is a SERVER span named "{method} {tool}" with the conventions attributes, child of the caller', async () => {
    const { v, event, spans } = await post({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: {} } }, { traceparent: CALLER, 'mcp-session-id': 'sess-1' });
    const s = only(spans, 'tools/call echo');
    assert.equal(s.kind, SpanKind.SERVER);
    assert.equal(s.spanContext().traceId, TRACE);
    assert.equal(s.parentSpanContext?.spanId, SPAN);
    assert.equal(s.parentSpanContext?.isRemote, true);
    const a = s.attributes;
    assert.equal(a['mcp.method.name'], 'tools/call');
    assert.equal(a['gen_ai.tool.name'], 'echo');
    assert.equal(a['gen_ai.operation.name'], 'execute_tool');
    assert.equal(a['jsonrpc.request.id'], '7');
    assert.equal(a['mcp.session.id'], 'sess-1');
    assert.equal(a['mcp.protocol.version'], '2025-11-25');
    assert.equal(a['network.transport'], 'tcp');
    assert.equal(a['client.address'], '127.0.0.1');
    assert.equal(a['client.port'], 51234);
    assert.equal(a['http.response.status_code'], 200);
    assert.equal(a['error.type'], undefined);
    assert.equal(s.status.code, SpanStatusCode.UNSET);
    // Upstream, the gateway's span is the parent.
    assert.equal(headerSet(v)['traceparent'], `00-${TRACE}-${s.spanContext().spanId}-01`);
    assert.equal(event.trace_id, TRACE);
    assert.equal(event.span_id, s.spanContext().spanId);
  });

  it('a refusal has error.type = the reason code, the JSON-RPC code and an error status', async () => {
    const { v, spans } = await post({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'secret-x', arguments: {} } }, { traceparent: CALLER });
    assert.equal(v.kind, 'respond');
    const s = only(spans, 'tools/call secret-x');
    assert.equal(s.attributes['error.type'], 'not_curated');
    assert.equal(s.attributes['rpc.response.status_code'], String(JSON.parse((v as { body: string }).body).error.code));
    assert.equal(s.status.code, SpanStatusCode.ERROR);
    assert.match(s.status.message ?? '', /secret-x/);
  });

  it('params._meta.traceparent is the parent; the header context is a link', async () => {
    const meta = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
    const { v, spans, event } = await post({ jsonrpc: '2.0', id: 9, method: 'tools/list', params: { _meta: { traceparent: meta } } }, { traceparent: CALLER });
    const s = only(spans, 'tools/list');
    // The body carries the gateway's context on, as the header does.
    const body = v.kind === 'continue' && v.body instanceof Uint8Array ? JSON.parse(Buffer.from(v.body).toString()) : undefined;
    assert.equal(body?.params._meta.traceparent, `00-${'a'.repeat(32)}-${s.spanContext().spanId}-01`);
    assert.equal(headerSet(v)['traceparent'], body?.params._meta.traceparent);
    assert.equal(s.spanContext().traceId, 'a'.repeat(32));
    assert.equal(s.parentSpanContext?.spanId, 'b'.repeat(16));
    assert.equal(s.links.length, 1);
    assert.equal(s.links[0]!.context.spanId, SPAN);
    assert.equal(event.trace_id, 'a'.repeat(32));
  });

  it('a malformed traceparent starts a new trace (and the caller\'s tracestate is not passed on)', async () => {
    const { v, spans } = await post({ jsonrpc: '2.0', id: 10, method: 'ping' }, { traceparent: CALLER.toUpperCase(), tracestate: 'rojo=1' });
    const s = only(spans, 'ping');
    assert.equal(s.parentSpanContext, undefined);
    assert.notEqual(s.spanContext().traceId, TRACE);
    assert.equal(v.kind === 'continue' && v.headers?.remove?.includes('tracestate'), true);
  });

  it('an unsampled caller is followed: no span is recorded, the context still goes upstream', async () => {
    const { v, spans } = await post({ jsonrpc: '2.0', id: 11, method: 'ping' }, { traceparent: `00-${TRACE}-${SPAN}-00` });
    assert.equal(spans.length, 0);
    assert.match(headerSet(v)['traceparent'] ?? '', new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
  });

  it('a body that is not JSON still gets one span, with its reason', async () => {
    const audit = new MemoryAuditSink();
    const ex = new Exchange(new GatewayRuntime(config, audit, undefined, new Map(), new Map(), undefined, new Map(), undefined, tracing));
    await ex.requestHeaders({ ':method': 'POST', ':path': '/mcp/s', ':authority': 'localhost', traceparent: CALLER }, false, conn);
    ex.requestBody(Buffer.from('{nope'));
    ex.close('complete');
    const [s] = exporter.getFinishedSpans();
    assert.equal(s?.name, 'POST s');
    assert.equal(s?.attributes['error.type'], audit.events[0]!.reason);
    assert.equal(s?.parentSpanContext?.spanId, SPAN);
  });

  it('off: no span, no trace header, the verdict is what it was without tracing', async () => {
    const { v, event, spans } = await post({ jsonrpc: '2.0', id: 12, method: 'ping' }, { traceparent: CALLER }, false);
    assert.equal(spans.length, 0);
    assert.deepEqual(v, { kind: 'continue' });
    assert.equal(event.trace_id, TRACE, 'the caller\'s trace id is still audited');
    assert.equal(event.span_id, undefined);
  });
});

describe('span names', () => {
  const ev = (patch: Partial<ReturnType<typeof emptyAuditEvent>>) => ({ ...emptyAuditEvent(), ...patch });
  it('follow {mcp.method.name} {target}, never with a resource URI', () => {
    assert.equal(spanName(ev({ rpc: { kind: 'request', id: 1, method: 'prompts/get' }, target: { kind: 'prompt', name: 'p' } })), 'prompts/get p');
    assert.equal(spanName(ev({ rpc: { kind: 'request', id: 1, method: 'resources/read' }, target: { kind: 'resource', name: 'file:///x' } })), 'resources/read');
    assert.equal(spanName(ev({ rpc: { kind: 'notification', id: undefined, method: 'notifications/initialized' } })), 'notifications/initialized');
    assert.equal(spanName(ev({ http: { method: 'GET', path: '/mcp/s', status: 200 }, server: 's' })), 'GET s');
  });
});

describe('the token exchange', () => {
  it('is a CLIENT child span of the message span, recorded though it ran before the message was read', async () => {
    const { createServer } = await import('node:http');
    let answer = 200;
    const as = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const body = answer === 200 ? { access_token: 'upstream-token', token_type: 'Bearer', expires_in: 300 } : { error: 'invalid_grant' };
        res.writeHead(answer, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    });
    await new Promise<void>((r) => as.listen(0, '127.0.0.1', r));
    const port = (as.address() as { port: number }).port;
    process.env.MCP_GW_TEST_TX_SECRET = 'client-secret';
    try {
      // The runtime below gets no authenticator: the caller's bearer token goes to the exchange as it is.
      const cfg = parseConfig(`
auth:
  jwt: { issuer: "https://idp.test", audiences: ["https://gw.test/mcp"], jwks_url: "http://127.0.0.1:1/jwks" }
servers:
  - name: s
    url: http://127.0.0.1:1/mcp
    upstream_auth:
      token_exchange: { token_endpoint: "http://127.0.0.1:${port}/token", client_id: gw, client_secret_env: MCP_GW_TEST_TX_SECRET }
telemetry:
  tracing: { endpoint: http://127.0.0.1:4318 }
`);
      const { createBroker } = await import('../../src/credentials/broker.js');
      const broker = (await createBroker(cfg.servers[0]!.upstreamAuth, 's'))!;
      const run = async (token: string) => {
        const audit = new MemoryAuditSink();
        const ex = new Exchange(new GatewayRuntime(cfg, audit, undefined, new Map(), new Map([["s", broker]]), undefined, new Map(), undefined, tracing));
        const h = { ':method': 'POST', ':path': '/mcp/s', ':authority': 'localhost', authorization: `Bearer ${token}`, traceparent: CALLER };
        const v: Verdict = await ex.requestHeaders(h, false, conn);
        if (v.kind === 'continue') ex.requestBody(Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' })));
        ex.close('complete');
        return v;
      };
      const v = await run('caller-token-1');
      assert.equal(headerSet(v)['authorization'], 'Bearer upstream-token');
      const message = only(exporter.getFinishedSpans(), 'ping');
      const tx = only(exporter.getFinishedSpans(), 'mcp_gateway.token_exchange');
      assert.equal(tx.kind, SpanKind.CLIENT);
      assert.equal(tx.parentSpanContext?.spanId, message.spanContext().spanId);
      assert.equal(tx.attributes['mcp_gateway.token_exchange.outcome'], 'success');
      exporter.reset();
      answer = 400;
      await run('caller-token-2');
      const refused = only(exporter.getFinishedSpans(), 'mcp_gateway.token_exchange');
      assert.equal(refused.attributes['mcp_gateway.token_exchange.outcome'], 'refused');
      assert.equal(refused.status.code, SpanStatusCode.ERROR);
      assert.equal(only(exporter.getFinishedSpans(), 'POST s').attributes['error.type'], 'token_exchange_failed');
    } finally {
      delete process.env.MCP_GW_TEST_TX_SECRET;
      await new Promise((r) => as.close(r));
    }
  });
});

describe('telemetry.tracing and audit.otlp in the config', () => {
  const base = 'servers:\n  - name: s\n    url: http://127.0.0.1:1/mcp\n';
  it('defaults: http/protobuf, every trace sampled, Envoy off, no audit records', () => {
    const c = parseConfig(`${base}telemetry:\n  tracing: { endpoint: "http://collector:4318" }\n`);
    const t = c.telemetry.tracing!;
    assert.deepEqual(
      { protocol: t.protocol, ratio: t.samplerRatio, service: t.serviceName, envoy: t.envoy, interval: t.exportIntervalMs },
      { protocol: 'http/protobuf', ratio: 1, service: 'mcp-gateway', envoy: { enabled: false, serviceName: 'mcp-gateway-envoy' }, interval: 1000 },
    );
    assert.equal(c.audit.otlp, undefined);
    assert.equal(parseConfig(base).telemetry.tracing, undefined, 'off unless configured');
  });
  it('audit.otlp takes what it leaves out from telemetry.tracing', () => {
    const c = parseConfig(`${base}telemetry:\n  tracing: { endpoint: "http://c:4317", protocol: grpc, service_name: gw, headers: { x-key: k }, envoy: { service_name: edge } }\naudit:\n  otlp: {}\n`);
    assert.equal(c.audit.otlp?.endpoint, 'http://c:4317');
    assert.equal(c.audit.otlp?.protocol, 'grpc');
    assert.deepEqual(c.audit.otlp?.headers, { 'x-key': 'k' });
    assert.equal(c.audit.otlp?.serviceName, 'gw');
    assert.deepEqual(c.telemetry.tracing?.envoy, { enabled: true, serviceName: 'edge' });
    const own = parseConfig(`${base}telemetry:\n  tracing: { endpoint: "http://c:4317", protocol: grpc, headers: { x-key: k } }\naudit:\n  otlp: { endpoint: "http://logs:4318" }\n`);
    assert.equal(own.audit.otlp?.protocol, 'http/protobuf', 'another endpoint does not inherit the protocol');
    assert.deepEqual(own.audit.otlp?.headers, {}, '…nor the headers (they may be another back end\'s secrets)');
  });
  const bad: [string, string, RegExp][] = [
    ['no endpoint', 'telemetry:\n  tracing: { protocol: grpc }\n', /endpoint/],
    ['a non-http endpoint', 'telemetry:\n  tracing: { endpoint: "ftp://c:21" }\n', /http/],
    ['a ratio over 1', 'telemetry:\n  tracing: { endpoint: "http://c:4318", sampler_ratio: 1.5 }\n', /sampler_ratio/],
    ['an unknown protocol', 'telemetry:\n  tracing: { endpoint: "http://c:4318", protocol: http/json }\n', /protocol/],
    ['a bad header name', 'telemetry:\n  tracing: { endpoint: "http://c:4318", headers: { "a b": x } }\n', /header/],
    ['audit.otlp with nowhere to go', 'audit:\n  otlp: {}\n', /endpoint/],
    ['an unknown key', 'telemetry:\n  tracing: { endpoint: "http://c:4318", ratio: 1 }\n', /ratio/],
  ];
  for (const [what, yaml, message] of bad) it(`refuses ${what}`, () => assert.throws(() => parseConfig(`${base}${yaml}`), message));
});

describe('export failures', () => {
  it('are logged once when they start and once when exports work again', async () => {
    const { logged } = await import('../../src/telemetry/otlp.js');
    const lines: string[] = [];
    const log = { warn: (_o: unknown, m: string) => lines.push(`warn ${m}`), info: (_o: unknown, m: string) => lines.push(`info ${m}`) } as never;
    let code = 1;
    const inner = { export: (_s: unknown[], done: (r: { code: number }) => void) => done({ code }), shutdown: async () => undefined };
    const ex = logged(inner, log, 'traces', 'http://c:4318');
    const results: number[] = [];
    for (const c of [1, 1, 0, 0, 1]) {
      code = c;
      ex.export([], (r) => results.push(r.code));
    }
    assert.deepEqual(results, [1, 1, 0, 0, 1], 'results are passed on');
    assert.deepEqual(lines, ['warn OTLP export of traces failing (dropped until the collector takes them)', 'info OTLP export of traces working again', 'warn OTLP export of traces failing (dropped until the collector takes them)']);
  });
});
