// Envoy's own spans (telemetry.tracing.envoy): its OpenTelemetry tracer, exporting over
// OTLP to the collector the sidecar uses, through a cluster of its own. Envoy's ingress
// span continues the caller's traceparent header; Envoy's router then writes its own span
// context into the upstream request (over the one the sidecar set), so with Envoy tracing
// on the upstream's spans are children of Envoy's span, beside the gateway's message span.
import type { GatewayConfig, TracingSection } from '../config/types.js';
import { upstreamCluster } from './upstream-cluster.js';

type Json = Record<string, unknown>;

export const OTLP_CLUSTER = 'mcp_gateway_otlp';
const EXPORT_TIMEOUT = '2s';

function enabled(c: GatewayConfig): TracingSection | undefined {
  const t = c.telemetry.tracing;
  return t?.envoy.enabled ? t : undefined;
}

/** The http_connection_manager's `tracing`, or undefined when Envoy does not trace. */
export function envoyTracing(c: GatewayConfig): Json | undefined {
  const t = enabled(c);
  if (!t) return undefined;
  const headers = Object.entries(t.headers);
  const exporter =
    t.protocol === 'grpc'
      ? {
          grpc_service: {
            envoy_grpc: { cluster_name: OTLP_CLUSTER },
            timeout: EXPORT_TIMEOUT,
            ...(headers.length && { initial_metadata: headers.map(([key, value]) => ({ key: key.toLowerCase(), value })) }),
          },
        }
      : {
          http_service: {
            http_uri: { uri: `${t.endpoint.replace(/\/+$/, '')}/v1/traces`, cluster: OTLP_CLUSTER, timeout: EXPORT_TIMEOUT },
            ...(headers.length && { request_headers_to_add: headers.map(([key, value]) => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })) }),
          },
        };
  return {
    provider: {
      name: 'envoy.tracers.opentelemetry',
      typed_config: { '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig', ...exporter, service_name: t.envoy.serviceName },
    },
    // Requests that start a trace here are sampled at the sidecar's ratio.
    random_sampling: { value: t.samplerRatio * 100 },
  };
}

/** The cluster Envoy exports its spans through. */
export function otlpCluster(c: GatewayConfig): Json | undefined {
  const t = enabled(c);
  if (!t) return undefined;
  const cluster = upstreamCluster(OTLP_CLUSTER, new URL(t.endpoint), [{ url: new URL(t.endpoint) }], 1000);
  if (t.protocol === 'grpc') {
    cluster.typed_extension_protocol_options = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    };
  }
  return cluster;
}
