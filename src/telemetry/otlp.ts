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

const VERSION = '0.1.0';

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
