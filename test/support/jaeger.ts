// A real Jaeger v2 (the OpenTelemetry Collector with Jaeger's storage and query
// extensions; built by scripts/bootstrap.sh) on free loopback ports: OTLP in over gRPC and
// HTTP, spans kept in memory and read back through its query API (api/v3, OTLP JSON).
// Log records go through the collector's logs pipeline to an otlphttp exporter (JSON),
// whose endpoint is a small server here: Jaeger stores no logs, but it parses and
// re-exports what the gateway sent, and the test reads what came out.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { freePort } from './ports.js';

export interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number; kvlistValue?: unknown; arrayValue?: unknown };
}

export interface JaegerSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number | string;
  attributes?: OtlpAttribute[];
  links?: { traceId: string; spanId: string }[];
  status?: { code?: number | string; message?: string };
  /** Added here: the resource's service.name, and all its attributes. */
  service: string;
  resource: OtlpAttribute[];
}

export interface LogRecordOut {
  traceId?: string;
  spanId?: string;
  eventName?: string;
  severityText?: string;
  body?: { kvlistValue?: { values: OtlpAttribute[] } };
  attributes?: OtlpAttribute[];
  service: string;
}

export interface RunningJaeger {
  /** OTLP/HTTP base URL (http://127.0.0.1:port). */
  readonly otlpHttp: string;
  /** OTLP/gRPC URL. */
  readonly otlpGrpc: string;
  /** Every span of a trace the query API has (empty until it arrived). */
  trace(traceId: string): Promise<JaegerSpan[]>;
  /** Polls until `pred` holds for the trace's spans. */
  waitForTrace(traceId: string, pred: (spans: JaegerSpan[]) => boolean, timeoutMs?: number): Promise<JaegerSpan[]>;
  /** Log records the collector exported so far. */
  readonly logs: LogRecordOut[];
  waitForLog(pred: (r: LogRecordOut) => boolean, timeoutMs?: number): Promise<LogRecordOut>;
  stop(): Promise<void>;
}

export function jaegerBin(): string {
  const bin = process.env.JAEGER_BIN;
  if (!bin) throw new Error('JAEGER_BIN is not set: run scripts/bootstrap.sh and source .tools/paths.env (npm test does)');
  return bin;
}

/** An attribute's value as a plain JS value. */
export function attr(attrs: OtlpAttribute[] | undefined, key: string): unknown {
  const a = attrs?.find((x) => x.key === key);
  if (!a) return undefined;
  const v = a.value;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.doubleValue !== undefined) return v.doubleValue;
  return v;
}

/** OTLP JSON ids may come hex (the spec's JSON mapping) or base64 (protobuf's default JSON). */
function hexId(id: string | undefined): string | undefined {
  if (!id) return undefined;
  if (/^[0-9a-f]+$/i.test(id) && (id.length === 32 || id.length === 16)) return id.toLowerCase();
  return Buffer.from(id, 'base64').toString('hex');
}

interface ResourceSpans {
  resource?: { attributes?: OtlpAttribute[] };
  scopeSpans?: { spans?: Omit<JaegerSpan, 'service' | 'resource'>[] }[];
}

export async function startJaeger(): Promise<RunningJaeger> {
  const [grpcPort, httpPort, queryPort, queryGrpcPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const logs: LogRecordOut[] = [];
  const sink: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceLogs?: { resource?: { attributes?: OtlpAttribute[] }; scopeLogs?: { logRecords?: Omit<LogRecordOut, 'service'>[] }[] }[] };
        for (const rl of doc.resourceLogs ?? []) {
          const service = String(attr(rl.resource?.attributes, 'service.name'));
          for (const sl of rl.scopeLogs ?? []) for (const r of sl.logRecords ?? []) logs.push({ ...r, traceId: hexId(r.traceId), spanId: hexId(r.spanId), service });
        }
      } catch {
        // Not JSON: nothing to record (the test then times out saying what it waited for).
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;

  const dir = await mkdtemp(join(tmpdir(), 'mcp-gw-jaeger-'));
  const config = `
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
    logs:
      receivers: [otlp]
      exporters: [otlphttp/logs]
  telemetry:
    logs: { level: warn }
    metrics: { level: none }
extensions:
  jaeger_query:
    storage: { traces: memstore }
    http: { endpoint: "127.0.0.1:${queryPort}" }
    grpc: { endpoint: "127.0.0.1:${queryGrpcPort}" }
  jaeger_storage:
    backends:
      memstore: { memory: { max_traces: 10000 } }
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:${grpcPort}" }
      http: { endpoint: "127.0.0.1:${httpPort}" }
exporters:
  jaeger_storage_exporter: { trace_storage: memstore }
  otlphttp/logs:
    endpoint: "${sinkUrl}"
    encoding: json
    compression: none
    retry_on_failure: { enabled: false }
`;
  const file = join(dir, 'jaeger.yaml');
  await writeFile(file, config);
  const proc: ChildProcess = spawn(jaegerBin(), ['--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (b: Buffer) => void (output = (output + b.toString()).slice(-8000));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const query = `http://127.0.0.1:${queryPort}`;

  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await new Promise((r) => sink.close(r));
    await rm(dir, { recursive: true, force: true });
  };

  // Up when the query API answers and the OTLP/HTTP receiver accepts a (empty) request.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await stop();
      throw new Error(`jaeger exited with ${proc.exitCode}:\n${output}`);
    }
    const ok = await Promise.all([
      fetch(`${query}/api/services`).then((r) => r.ok, () => false),
      fetch(`http://127.0.0.1:${httpPort}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then((r) => r.ok, () => false),
    ]);
    if (ok.every(Boolean)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`jaeger did not come up within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const trace = async (traceId: string): Promise<JaegerSpan[]> => {
    const res = await fetch(`${query}/api/v3/traces/${traceId}`);
    if (res.status === 404) return [];
    if (!res.ok) throw new Error(`jaeger query ${res.status}: ${await res.text()}`);
    const doc = (await res.json()) as { result?: { resourceSpans?: ResourceSpans[] } };
    const out: JaegerSpan[] = [];
    for (const rs of doc.result?.resourceSpans ?? []) {
      const service = String(attr(rs.resource?.attributes, 'service.name'));
      for (const ss of rs.scopeSpans ?? [])
        for (const s of ss.spans ?? [])
          out.push({
            ...s,
            traceId: hexId(s.traceId)!,
            spanId: hexId(s.spanId)!,
            parentSpanId: hexId(s.parentSpanId),
            links: s.links?.map((l) => ({ traceId: hexId(l.traceId)!, spanId: hexId(l.spanId)! })),
            service,
            resource: rs.resource?.attributes ?? [],
          });
    }
    return out;
  };

  const poll = async <T>(what: string, get: () => Promise<T | undefined> | T | undefined, timeoutMs: number, show: () => string): Promise<T> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await get();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`${what} within ${timeoutMs} ms; have:\n${show()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  return {
    otlpHttp: `http://127.0.0.1:${httpPort}`,
    otlpGrpc: `http://127.0.0.1:${grpcPort}`,
    trace,
    async waitForTrace(traceId, pred, timeoutMs = 15_000) {
      let last: JaegerSpan[] = [];
      return poll(
        `no trace ${traceId} as expected`,
        async () => {
          last = await trace(traceId);
          return pred(last) ? last : undefined;
        },
        timeoutMs,
        () => JSON.stringify(last.map((s) => ({ name: s.name, service: s.service, spanId: s.spanId, parent: s.parentSpanId })), null, 1),
      );
    },
    logs,
    waitForLog(pred, timeoutMs = 15_000) {
      return poll('no matching log record', () => logs.find(pred), timeoutMs, () => JSON.stringify(logs.slice(-5), null, 1));
    },
    stop,
  };
}
