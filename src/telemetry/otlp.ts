// OTLP exporters and the resource, shared by traces and audit logs. Endpoints are the
// collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is: http/protobuf posts to
// <endpoint>/v1/traces and /v1/logs, gRPC dials <endpoint> itself.
import { Metadata } from '@grpc/grpc-js';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import { OTLPTraceExporter as HttpTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPLogExporter as HttpLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import type { OtlpTarget } from '../config/types.js';
import type { Logger } from './log.js';

const VERSION = '0.1.0';
/** The longest a shutdown waits for the last export. */
export const SHUTDOWN_WAIT_MS = 3000;

export function otlpResource(serviceName: string, attributes: Readonly<Record<string, string>>): Resource {
  return resourceFromAttributes({ 'service.version': VERSION, ...attributes, 'service.name': serviceName });
}

function metadataOf(headers: Readonly<Record<string, string>>): Metadata {
  const m = new Metadata();
  for (const [k, v] of Object.entries(headers)) m.set(k, v);
  return m;
}

function signalUrl(endpoint: string, signal: 'traces' | 'logs'): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/${signal}`;
}

export function spanExporter(t: OtlpTarget): SpanExporter {
  return t.protocol === 'grpc'
    ? new GrpcTraceExporter({ url: t.endpoint, metadata: metadataOf(t.headers), timeoutMillis: t.timeoutMs })
    : new HttpTraceExporter({ url: signalUrl(t.endpoint, 'traces'), headers: { ...t.headers }, timeoutMillis: t.timeoutMs });
}

export function logExporter(t: OtlpTarget): LogRecordExporter {
  return t.protocol === 'grpc'
    ? new GrpcLogExporter({ url: t.endpoint, metadata: metadataOf(t.headers), timeoutMillis: t.timeoutMs })
    : new HttpLogExporter({ url: signalUrl(t.endpoint, 'logs'), headers: { ...t.headers }, timeoutMillis: t.timeoutMs });
}

interface Exporter<T> {
  export(items: T[], done: (r: { code: number; error?: Error }) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

/**
 * The exporter, with its failures in the operational log: one warning when exports start
 * failing, one line when they work again (the SDK itself reports nothing).
 */
export function logged<T, E extends Exporter<T>>(exporter: E, log: Logger | undefined, what: 'traces' | 'audit log records', endpoint: string): E {
  if (!log) return exporter;
  let failing = false;
  const wrapped: Exporter<T> = {
    export(items, done) {
      exporter.export(items, (r) => {
        const ok = r.code === 0;
        if (!ok && !failing) log.warn({ endpoint, err: r.error?.message }, `OTLP export of ${what} failing (dropped until the collector takes them)`);
        else if (ok && failing) log.info({ endpoint }, `OTLP export of ${what} working again`);
        failing = !ok;
        done(r);
      });
    },
    shutdown: () => exporter.shutdown(),
    ...(exporter.forceFlush && { forceFlush: () => exporter.forceFlush!() }),
  };
  return wrapped as E;
}

/** Resolves when `p` does, or after `ms` (an unreachable collector must not hold up a shutdown). */
export function bounded(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p.then(() => undefined, () => undefined), new Promise<void>((r) => (timer = setTimeout(r, ms)))]).finally(() => clearTimeout(timer));
}
