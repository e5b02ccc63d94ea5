// Plain HTTP routes beside the MCP servers (`http_routes`): Envoy proxies them with the
// sidecar switched off for the route (auth: none), or with the sidecar seeing only the
// request headers, to authenticate the caller (auth: required).
import type { HttpRouteConfig } from '../config/types.js';
import { STATEFUL_SESSION_FILTER, upstreamCluster } from './upstream-cluster.js';

type Json = Record<string, unknown>;

export const httpRouteCluster = (r: Pick<HttpRouteConfig, 'name'>) => `http_route_${r.name}`;

const EXT_PROC_PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute';
/** RE2 literal. */
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function httpRoute(r: HttpRouteConfig): Json {
  const target = r.url.pathname === '' ? '/' : r.url.pathname;
  return {
    name: `http_${r.name}`,
    // The prefix and what is under it, segment-wise: /api/x and /api/x/…, never /api/xy.
    match: { path_separated_prefix: r.pathPrefix },
    route: {
      cluster: httpRouteCluster(r),
      // /api/x/y → <url path>/y, the query string kept.
      regex_rewrite: target === '/' ? { pattern: { regex: `^${literal(r.pathPrefix)}/?` }, substitution: '/' } : { pattern: { regex: `^${literal(r.pathPrefix)}` }, substitution: target },
      host_rewrite_literal: r.url.host,
      timeout: `${r.timeoutMs / 1000}s`,
    },
    typed_per_filter_config: {
      // No MCP sessions here: a REST API's own Mcp-Session-Id header (if any) is left alone.
      [STATEFUL_SESSION_FILTER]: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSessionPerRoute', disabled: true },
      'envoy.filters.http.ext_proc':
        r.auth === 'none'
          ? { '@type': EXT_PROC_PER_ROUTE, disabled: true }
          : {
              '@type': EXT_PROC_PER_ROUTE,
              overrides: {
                processing_mode: {
                  request_header_mode: 'SEND',
                  response_header_mode: 'SKIP',
                  request_body_mode: 'NONE',
                  response_body_mode: 'NONE',
                  request_trailer_mode: 'SKIP',
                  response_trailer_mode: 'SKIP',
                },
              },
            },
    },
  };
}

export function httpRouteClusterConfig(r: HttpRouteConfig): Json {
  return upstreamCluster(httpRouteCluster(r), r.url, r.replicas.map((url) => ({ url })), r.connectTimeoutMs);
}
