// The Envoy cluster and routes of one virtual server: its replicas, and how Envoy treats
// them — active health checks (MCP-aware by default), outlier ejection, circuit breakers,
// retries only of requests that never reached an upstream, a maximum call duration, TLS.
import type { ServerConfig, UpstreamTraffic, UpstreamVersion } from '../config/types.js';
import { SYSTEM_CA_BUNDLE } from '../config/load.js';

type Json = Record<string, unknown>;

export const clusterName = (s: Pick<ServerConfig, 'name'>) => `mcp_upstream_${s.name}`;
/** The cluster of one version alone (for requests routed to it by header). */
export const versionClusterName = (s: Pick<ServerConfig, 'name'>, v: Pick<UpstreamVersion, 'name'>) => `mcp_upstream_${s.name}__${v.name}`;

/** Set by Envoy on the response from the endpoint's metadata; the sidecar reads it and removes it. */
export const VERSION_HEADER = 'x-mcp-gateway-version';
export const METADATA_NAMESPACE = 'mcp_gateway';
export const STATEFUL_SESSION_FILTER = 'envoy.filters.http.stateful_session';
const STATEFUL_SESSION_PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSessionPerRoute';

/** One replica; `version` and `weight` only for servers with versions. */
export interface UpstreamEndpoint {
  url: URL;
  version?: string;
  weight?: number;
}

const bare = (host: string) => host.replace(/^\[|\]$/g, '');
const isIp = (host: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
const seconds = (ms: number) => `${ms / 1000}s`;
const hex = (text: string) => Buffer.from(text, 'utf8').toString('hex');

/** What an `mcp` health check POSTs: a ping, which every MCP server must answer. */
export const HEALTH_PING = '{"jsonrpc":"2.0","id":"mcp-gateway-health","method":"ping"}';

export function socketAddress(host: string, port: number): Json {
  return { socket_address: { address: host, port_value: port } };
}

/**
 * The clusters of a server: one of all its replicas, and for a server with versions one
 * more per version that a header can select. In the first, every replica carries its
 * version in its metadata and a weight, so that new sessions split by version weight and
 * the sticky session (stateful_session) finds its replica whichever way it came.
 */
export function serverClusters(s: ServerConfig): Json[] {
  if (!s.versions.length) return [upstreamCluster(clusterName(s), s.url, s.replicas.map((url) => ({ url })), s.connectTimeoutMs, s.traffic)];
  const endpoints = (v: UpstreamVersion) => v.replicas.map((url) => ({ url, version: v.name, weight: Math.max(1, Math.round((v.weight * 1000) / v.replicas.length)) }));
  const weighted = s.versions.filter((v) => v.weight > 0).flatMap(endpoints);
  return [
    upstreamCluster(clusterName(s), s.url, weighted, s.connectTimeoutMs, s.traffic),
    ...s.versions.filter((v) => v.matchHeader).map((v) => upstreamCluster(versionClusterName(s, v), s.url, endpoints(v), s.connectTimeoutMs, s.traffic)),
  ];
}

/** A cluster of `endpoints` (one for most servers); `traffic` absent for the gateway's own helper clusters. */
export function upstreamCluster(name: string, url: URL, endpoints: readonly UpstreamEndpoint[], connectTimeoutMs: number, traffic?: UpstreamTraffic): Json {
  const tls = url.protocol === 'https:';
  const endpointOf = ({ url: u, version, weight }: UpstreamEndpoint) => ({
    endpoint: { address: socketAddress(bare(u.hostname), Number(u.port || (tls ? 443 : 80))) },
    ...(weight !== undefined && { load_balancing_weight: weight }),
    ...(version !== undefined && { metadata: { filter_metadata: { [METADATA_NAMESPACE]: { version } } } }),
  });
  const cluster: Json = {
    name,
    type: endpoints.every(({ url: u }) => isIp(bare(u.hostname))) ? 'STATIC' : 'STRICT_DNS',
    connect_timeout: seconds(connectTimeoutMs),
    lb_policy: 'ROUND_ROBIN',
    ...(traffic?.healthCheck && { common_lb_config: { healthy_panic_threshold: { value: traffic.healthCheck.panicThresholdPercent } } }),
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: endpoints.map(endpointOf) }] },
  };
  if (tls) cluster.transport_socket = upstreamTls(bare(url.hostname), traffic?.tls);
  if (traffic?.healthCheck) cluster.health_checks = [healthCheck(traffic.healthCheck, url)];
  const od = traffic?.outlierDetection;
  if (od) {
    cluster.outlier_detection = {
      ...(od.consecutiveGatewayErrors !== undefined
        ? { consecutive_gateway_failure: od.consecutiveGatewayErrors, enforcing_consecutive_gateway_failure: 100 }
        : { enforcing_consecutive_gateway_failure: 0 }),
      // Envoy counts 5xx by default (5 in a row); only what was asked for ejects.
      ...(od.consecutive5xx !== undefined ? { consecutive_5xx: od.consecutive5xx } : { enforcing_consecutive_5xx: 0 }),
      interval: seconds(od.intervalMs),
      base_ejection_time: seconds(od.baseEjectionMs),
      max_ejection_percent: od.maxEjectionPercent,
      // Success-rate ejection needs volumes a gateway's upstream rarely has; off.
      enforcing_success_rate: 0,
    };
  }
  const cb = traffic?.circuitBreakers;
  if (cb) {
    cluster.circuit_breakers = {
      thresholds: [
        {
          priority: 'DEFAULT',
          ...(cb.maxConnections !== undefined && { max_connections: cb.maxConnections }),
          ...(cb.maxPendingRequests !== undefined && { max_pending_requests: cb.maxPendingRequests }),
          ...(cb.maxRequests !== undefined && { max_requests: cb.maxRequests }),
          ...(cb.maxRetries !== undefined && { max_retries: cb.maxRetries }),
        },
      ],
    };
  }
  return cluster;
}

function upstreamTls(host: string, tls: UpstreamTraffic['tls'] | undefined): Json {
  const sans = tls?.subjectAltNames ?? [host];
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: tls?.sni ?? host,
      common_tls_context: {
        ...(tls?.clientCertFile && { tls_certificates: [{ certificate_chain: { filename: tls.clientCertFile }, private_key: { filename: tls.clientKeyFile } }] }),
        validation_context: {
          trusted_ca: { filename: tls?.caFile ?? SYSTEM_CA_BUNDLE },
          match_typed_subject_alt_names: sans.map((san) => ({ san_type: isIp(san) ? 'IP_ADDRESS' : 'DNS', matcher: { exact: san } })),
        },
      },
    },
  };
}

/**
 * `mcp`: POST a JSON-RPC ping to the MCP endpoint. Healthy is any answer below 500 that
 * is JSON-RPC: a server that wants a session first answers 400 with a JSON-RPC error, and
 * that still proves it is up and speaking MCP; a 5xx, a timeout, a refused connection or
 * an answer of something else (a proxy's HTML error page) is not. `http`: GET `path`,
 * healthy on 2xx. `tcp`: the connection opens.
 */
function healthCheck(hc: NonNullable<UpstreamTraffic['healthCheck']>, url: URL): Json {
  const common = {
    timeout: seconds(hc.timeoutMs),
    interval: seconds(hc.intervalMs),
    unhealthy_threshold: hc.unhealthyThreshold,
    healthy_threshold: hc.healthyThreshold,
    // Check at once, and keep checking with no traffic, so a dead replica is known before a call needs it.
    no_traffic_interval: seconds(hc.intervalMs),
  };
  if (hc.kind === 'tcp') return { ...common, tcp_health_check: {} };
  if (hc.kind === 'http') return { ...common, http_health_check: { path: hc.path, host: url.host } };
  return {
    ...common,
    http_health_check: {
      path: hc.path,
      host: url.host,
      method: 'POST',
      send: { text: hex(HEALTH_PING) },
      receive: [{ text: hex('jsonrpc') }],
      expected_statuses: [{ start: 200, end: 500 }],
      request_headers_to_add: [
        { header: { key: 'content-type', value: 'application/json' } },
        { header: { key: 'accept', value: 'application/json, text/event-stream' } },
      ],
    },
  };
}

/**
 * The routes of one server. A POST is one call: with `max_call_duration_ms` it is bounded
 * (its SSE answer included); GET streams live as long as the session and are bounded only
 * by the idle timeout. Retries are of requests no upstream received (the connection failed,
 * the stream was refused or reset before the request went out), on another replica: a
 * `tools/call` that may have run is never sent twice.
 */
export function serverRoutes(s: ServerConfig): Json[] {
  const t = s.traffic;
  const action = (cluster: string, timeoutMs: number | undefined): Json => ({
    cluster,
    prefix_rewrite: s.url.pathname || '/',
    host_rewrite_literal: s.url.host,
    // The route timeout ends a call whose answer has not started (504); once an SSE answer has
    // started only the stream duration bounds it (Envoy resets the stream).
    timeout: timeoutMs === undefined ? '0s' : seconds(timeoutMs),
    ...(timeoutMs !== undefined && { max_stream_duration: { max_stream_duration: seconds(timeoutMs) } }),
    ...(t.retries > 0 && {
      retry_policy: {
        retry_on: 'connect-failure,refused-stream,reset-before-request',
        num_retries: t.retries,
        retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } }],
        host_selection_retry_max_attempts: 3,
      },
    }),
  });
  // Which version answered, from the replica's metadata, for the audit event (the sidecar
  // removes the header before the client sees it; an upstream's own is overwritten).
  const versionHeader = s.versions.length
    ? { response_headers_to_add: [{ header: { key: VERSION_HEADER, value: `%UPSTREAM_METADATA(["${METADATA_NAMESPACE}","version"])%` }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] }
    : {};
  // One replica: nothing to stick to, and the session id stays the upstream's own.
  const perFilter = s.replicas.length > 1 ? {} : { typed_per_filter_config: { [STATEFUL_SESSION_FILTER]: { '@type': STATEFUL_SESSION_PER_ROUTE, disabled: true } } };
  const routesTo = (name: string, cluster: string, headers: Json[]): Json[] => {
    const all = { name, match: { path: s.path, ...(headers.length && { headers }) }, route: action(cluster, undefined), ...versionHeader, ...perFilter };
    if (t.maxCallDurationMs === undefined) return [all];
    const post = { name: `${name}_post`, match: { path: s.path, headers: [...headers, { name: ':method', string_match: { exact: 'POST' } }] }, route: action(cluster, t.maxCallDurationMs), ...versionHeader, ...perFilter };
    return [post, all];
  };
  return [
    // A header-selected version first: more specific than the weighted split.
    ...s.versions.flatMap((v) => (v.matchHeader ? routesTo(`mcp_${s.name}__${v.name}`, versionClusterName(s, v), [{ name: v.matchHeader.name, string_match: { exact: v.matchHeader.value } }]) : [])),
    ...routesTo(`mcp_${s.name}`, clusterName(s), []),
  ];
}
