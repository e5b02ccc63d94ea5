// The sidecar's own HTTP endpoint, beside Envoy's admin: Prometheus `/metrics`,
// `/healthz` (the process is alive and its event loop turns) and `/readyz` (it can take
// traffic: see readiness-checks.ts for what that takes; 503 with the reason otherwise).
// Loopback by default; it serves nothing else.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../config/types.js';
import type { GatewayMetrics } from './metrics.js';

export interface Readiness {
  /** Undefined when ready; otherwise why not (shown by /readyz). */
  notReady(): string | undefined | Promise<string | undefined>;
}

export interface TelemetryEndpoint {
  /** `http://host:port` it is bound to. */
  readonly url: string;
  close(): Promise<void>;
}

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };

export async function startTelemetryEndpoint(listen: HostPort, metrics: GatewayMetrics, readiness: Readiness): Promise<TelemetryEndpoint> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', ...JSON_HEADERS }).end('{"error":"method not allowed"}');
      return;
    }
    switch (path) {
      case '/metrics':
        metrics.text().then(
          (text) => res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(text),
          (err: Error) => res.writeHead(500, JSON_HEADERS).end(JSON.stringify({ error: err.message })),
        );
        return;
      case '/healthz':
        res.writeHead(200, JSON_HEADERS).end('{"status":"ok"}');
        return;
      case '/readyz':
        Promise.resolve()
          .then(() => readiness.notReady())
          .then(
            (why) => res.writeHead(why === undefined ? 200 : 503, JSON_HEADERS).end(JSON.stringify(why === undefined ? { status: 'ready' } : { status: 'not_ready', reason: why })),
            (err: Error) => res.writeHead(503, JSON_HEADERS).end(JSON.stringify({ status: 'not_ready', reason: err.message })),
          );
        return;
      default:
        res.writeHead(404, JSON_HEADERS).end('{"error":"not found: /metrics, /healthz and /readyz are served here"}');
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`telemetry.listen ${listen.host}:${listen.port}: ${err.message}`)));
    server.listen(listen.port, listen.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const host = a.address.includes(':') ? `[${a.address}]` : a.address;
  return {
    url: `http://${host}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
