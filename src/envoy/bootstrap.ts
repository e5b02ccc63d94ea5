// Generates the Envoy bootstrap for a gateway config: one listener, one route and
// cluster per virtual server, the ext_proc filter (fail closed) pointing at the sidecar.
import { stringify } from 'yaml';
import type { GatewayConfig } from '../config/types.js';
import { EXT_PROC_SERVICE } from '../extproc/server.js';
import { clusterName, serverClusters, serverRoutes, socketAddress, upstreamCluster } from './upstream-cluster.js';
import { httpRoute, httpRouteClusterConfig } from './http-routes.js';
import { envoyTracing, otlpCluster } from './tracing.js';
import { workerListens } from '../workers/addresses.js';

export const SIDECAR_CLUSTER = 'mcp_gateway_sidecar';
export { clusterName };

type Json = Record<string, unknown>;

export const JWT_AUTHN_NAMESPACE = 'envoy.filters.http.jwt_authn';
const JWKS_CLUSTER = 'mcp_gateway_jwks';

/**
 * With `auth.envoy_jwt_authn`, Envoy verifies the JWT itself and forwards the claims to the
 * sidecar as dynamic metadata. A failed or missing token is not rejected here
 * (allow_missing_or_failed): the sidecar answers it with a precise 401 and an audit event.
 */
function jwtAuthnFilter(c: GatewayConfig): Json | undefined {
  const jwt = c.auth.jwt;
  if (!c.auth.envoyJwtAuthn || !jwt) return undefined;
  const jwks =
    jwt.jwks.kind === 'file'
      ? { local_jwks: { filename: jwt.jwks.path } }
      : {
          remote_jwks: {
            http_uri: { uri: jwt.jwks.url.href, cluster: JWKS_CLUSTER, timeout: `${jwt.jwks.timeoutMs / 1000}s` },
            cache_duration: `${jwt.jwks.refreshMs / 1000}s`,
            async_fetch: { fast_listener: false },
          },
        };
  return {
    name: JWT_AUTHN_NAMESPACE,
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
      providers: {
        gateway: {
          issuer: jwt.issuer,
          audiences: [...jwt.audiences],
          ...jwks,
          // Keep the token: the sidecar strips it before the upstream, after deciding.
          forward: true,
          payload_in_metadata: 'jwt_payload',
          clock_skew_seconds: jwt.clockSkewS,
        },
      },
      rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'gateway' }, { allow_missing_or_failed: {} }] } } }],
    },
  };
}

/**
 * Sticky upstream sessions: Envoy wraps the upstream's Mcp-Session-Id with the replica's
 * address on the way out and routes by it on the way in. It runs after ext_proc when
 * decoding and before it when encoding, so the sidecar seals the enveloped id. Always in
 * the chain, switched off per route for servers of one replica (serverRoutes), so that
 * adding replicas is a route change a live reload can apply.
 */
function statefulSessionFilter(): Json {
  return {
    name: 'envoy.filters.http.stateful_session',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSession',
      session_state: {
        name: 'envoy.http.stateful_session.envelope',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.http.stateful_session.envelope.v3.EnvelopeSessionState',
          header: { name: 'mcp-session-id' },
        },
      },
    },
  };
}

function listenerTls(c: GatewayConfig): Json | undefined {
  const tls = c.gateway.tls;
  if (!tls) return undefined;
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      require_client_certificate: tls.requireClientCertificate,
      common_tls_context: {
        alpn_protocols: ['h2', 'http/1.1'],
        tls_certificates: [{ certificate_chain: { filename: tls.certFile }, private_key: { filename: tls.keyFile } }],
        ...(tls.clientCaFile && { validation_context: { trusted_ca: { filename: tls.clientCaFile } } }),
      },
    },
  };
}

function jwksCluster(c: GatewayConfig): Json | undefined {
  const jwt = c.auth.jwt;
  if (!c.auth.envoyJwtAuthn || jwt?.jwks.kind !== 'url') return undefined;
  const u = jwt.jwks.url;
  return upstreamCluster(JWKS_CLUSTER, u, [{ url: u }], 2000);
}

/**
 * Requests the sidecar never decided: Envoy's own replies to what it could not parse or
 * accept (400, 426, 431, 403 upgrade, 413), and fail-closed answers while the sidecar is
 * unreachable. Envoy writes them to the audit trail itself, one JSON line each, in the
 * audit event's shape (type "http.local_reply", source "envoy"). Answers that came from
 * the upstream ("via_upstream") or from the sidecar ("mcp_gateway_*") are audited by the
 * sidecar and are not logged here.
 */
function localReplyAccessLog(c: GatewayConfig): Json {
  const format = {
    log: 'audit',
    source: 'envoy',
    time: '%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%',
    type: 'http.local_reply',
    request_id: '%REQ(X-REQUEST-ID)%',
    server: null,
    http: { method: '%REQ(:METHOD)%', path: '%REQ_WITHOUT_QUERY(:PATH)%', status: '%RESPONSE_CODE%' },
    decision: 'deny',
    reason: 'envoy_local_reply',
    message: '%RESPONSE_CODE_DETAILS%',
    response_flags: '%RESPONSE_FLAGS%',
    client_address: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%',
  };
  const logFormat = {
    json_format: format,
    // The path without its query string, as the sidecar records it.
    formatters: [{ name: 'envoy.formatter.req_without_query', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery' } }],
  };
  const sink =
    c.audit.sink === 'file'
      ? { name: 'envoy.access_loggers.file', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: c.audit.file, log_format: logFormat } }
      : { name: 'envoy.access_loggers.stdout', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog', log_format: logFormat } };
  return {
    ...sink,
    filter: {
      extension_filter: {
        name: 'envoy.access_loggers.extension_filters.cel',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter',
          expression: "response.code_details != 'via_upstream' && !response.code_details.startsWith('mcp_gateway_')",
        },
      },
    },
  };
}

/**
 * Envoy asks the sidecar's grpc.health.v1 for the ext_proc service, which is SERVING
 * only while the sidecar is ready (readiness-checks.ts). /clusters then shows the host
 * `healthy` or `/failed_active_hc`, and the cluster's health_check stats count it.
 *
 * With a single sidecar host, an unhealthy host still gets the ext_proc streams: a
 * cluster whose hosts are all unhealthy is in panic mode (healthy_panic_threshold) and
 * routes to all of them. That is wanted: the sidecar still answers each request
 * precisely (e.g. jwks_unavailable), and while it drains it finishes what it has; with
 * failure_mode_allow false nothing bypasses it either way. With several sidecar hosts
 * (your own Envoy), the unhealthy ones are skipped.
 */
function sidecarHealthCheck(): Json {
  return {
    health_checks: [
      {
        timeout: '1s',
        interval: '2s',
        // Also while no MCP traffic flows (Envoy's default is 60 s then).
        no_traffic_interval: '2s',
        unhealthy_threshold: 2,
        healthy_threshold: 1,
        grpc_health_check: { service_name: EXT_PROC_SERVICE },
      },
    ],
  };
}

/** Node metadata key carrying the id of one `up` launch, so readiness checks find their own Envoy. */
export const LAUNCH_ID_KEY = 'mcp_gateway.launch_id';

/** The Envoy runtime feature under which ext_proc closes its gRPC streams gracefully. */
export const EXT_PROC_GRACEFUL_CLOSE = 'envoy.reloadable_features.ext_proc_graceful_grpc_close';

export interface BootstrapOptions {
  /** Set by startEnvoy(): a fresh id per launch, visible in the admin `/server_info`. */
  launchId?: string;
}

export function envoyBootstrap(c: GatewayConfig, opts: BootstrapOptions = {}): Json {
  const g = c.gateway;
  const bufferLimit = Math.max(g.maxRequestBytes, g.maxResponseBytes);
  const idle = `${g.streamIdleTimeoutS}s`;
  return {
    node: { id: 'mcp-gateway', cluster: 'mcp-gateway', ...(opts.launchId && { metadata: { [LAUNCH_ID_KEY]: opts.launchId } }) },
    admin: { address: socketAddress(g.adminListen.host, g.adminListen.port) },
    // Envoy half-closes each ext_proc stream and lets the sidecar end it, instead of resetting
    // it: a reset makes Node's HTTP/2 core build an Error with a stack trace for every request
    // (about 7 % of the sidecar's CPU per tools/call, measured with bench --profile).
    layered_runtime: { layers: [{ name: 'mcp-gateway', static_layer: { [EXT_PROC_GRACEFUL_CLOSE]: true } }] },
    static_resources: {
      listeners: [
        {
          name: 'mcp_gateway',
          address: socketAddress(g.listen.host, g.listen.port),
          // Caps what Envoy buffers per connection (request bodies, inspected responses).
          per_connection_buffer_limit_bytes: bufferLimit,
          filter_chains: [
            {
              ...(listenerTls(c) && { transport_socket: listenerTls(c) }),
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'mcp_gateway',
                    access_log: [localReplyAccessLog(c)],
                    codec_type: 'AUTO',
                    generate_request_id: true,
                    ...(envoyTracing(c) && { tracing: envoyTracing(c) }),
                    // XFCC is always Envoy's own: a caller cannot forge a client identity.
                    forward_client_cert_details: c.gateway.tls?.clientCaFile ? 'SANITIZE_SET' : 'SANITIZE',
                    ...(c.gateway.tls?.clientCaFile && { set_current_client_cert_details: { subject: true, uri: true, dns: true } }),
                    stream_idle_timeout: idle,
                    request_timeout: '0s',
                    common_http_protocol_options: { idle_timeout: idle },
                    route_config: {
                      name: 'mcp_routes',
                      virtual_hosts: [
                        {
                          name: 'mcp',
                          domains: ['*'],
                          routes: [
                            ...c.servers.flatMap(serverRoutes),
                            ...c.httpRoutes.map(httpRoute),
                            {
                              // Never reached while the sidecar is up (it answers unknown paths itself).
                              name: 'unknown',
                              match: { prefix: '/' },
                              direct_response: { status: 404, body: { inline_string: '{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"No MCP server is served at this path"}}' } },
                            },
                          ],
                        },
                      ],
                    },
                    http_filters: [
                      ...[jwtAuthnFilter(c)].filter((f) => f !== undefined),
                      {
                        name: 'envoy.filters.http.ext_proc',
                        typed_config: {
                          '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor',
                          grpc_service: { envoy_grpc: { cluster_name: SIDECAR_CLUSTER }, timeout: '30s' },
                          // Fail closed: no sidecar, no traffic.
                          failure_mode_allow: false,
                          message_timeout: `${c.sidecar.messageTimeoutMs / 1000}s`,
                          // The sidecar picks the response body mode per request (lists only).
                          allow_mode_override: true,
                          // Response headers are SKIPped unless the sidecar asks for them (mode_override in
                          // its request-headers reply): Envoy's own local replies to requests it could not
                          // parse (400, 426, 431, …) then go straight to the client, as they must: a codec
                          // error closes the connection before an ext_proc round trip could finish.
                          processing_mode: {
                            request_header_mode: 'SEND',
                            response_header_mode: 'SKIP',
                            request_body_mode: 'BUFFERED',
                            response_body_mode: 'NONE',
                            // Request trailers (HTTP/2) are removed by the sidecar; nothing in MCP uses them.
                            request_trailer_mode: 'SEND',
                            response_trailer_mode: 'SKIP',
                          },
                          request_attributes: ['source.address'],
                          ...(c.auth.envoyJwtAuthn && { metadata_options: { forwarding_namespaces: { untyped: [JWT_AUTHN_NAMESPACE] } } }),
                        },
                      },
                      statefulSessionFilter(),
                      { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: SIDECAR_CLUSTER,
          type: 'STATIC',
          connect_timeout: '1s',
          ...sidecarHealthCheck(),
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
              // Envoy resets every ext_proc stream when it is done with it, and Node's HTTP/2
              // server answers a long run of resets on one connection with GOAWAY (rapid-reset
              // protection): streams opened at that moment fail as 500s. Rotating the connection
              // before 1,000 streams keeps it under that limit.
              common_http_protocol_options: { max_requests_per_connection: 800 },
            },
          },
          load_assignment: {
            cluster_name: SIDECAR_CLUSTER,
            endpoints: [
              {
                // One endpoint per ext_proc worker (sidecar.workers); round robin spreads the streams.
                lb_endpoints: workerListens(c.sidecar).map((w) => ({ endpoint: { address: w.kind === 'unix' ? { pipe: { path: w.path } } : socketAddress(w.host, w.port) } })),
              },
            ],
          },
        },
        ...c.servers.flatMap(serverClusters),
        ...c.httpRoutes.map(httpRouteClusterConfig),
        ...[jwksCluster(c), otlpCluster(c)].filter((x) => x !== undefined),
      ],
    },
  };
}

export function envoyBootstrapYaml(c: GatewayConfig, opts: BootstrapOptions = {}): string {
  return `# Generated by \`mcp-gateway envoy-config\` from ${c.source}. Edit the gateway config, not this file.\n` + stringify(envoyBootstrap(c, opts), { lineWidth: 0 });
}
