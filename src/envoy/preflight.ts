// Before Envoy starts: its ports must be free. Envoy's listeners bind with
// SO_REUSEPORT, so a leftover Envoy (or a second gateway) on the same port
// would not make the new one fail — it would share the traffic, and its admin
// port would answer our readiness check. Binding a plain socket (no
// SO_REUSEPORT) is refused while anyone holds the port, which is the check.
import { createServer } from 'node:net';
import type { HostPort } from '../config/types.js';

export class PortInUseError extends Error {
  override name = 'PortInUseError';
}

/** Resolves if `host:port` can be bound now; rejects with a PortInUseError naming `what` if it is taken. */
export function assertPortFree(what: string, { host, port }: HostPort): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new PortInUseError(
            `${what} ${host}:${port} is already in use by another process` +
              ` (an Envoy left from an earlier run, or another gateway? find it with: ss -ltnp 'sport = :${port}')`,
          ),
        );
      } else {
        resolve(); // EACCES, EADDRNOTAVAIL…: Envoy reports those itself, with its own words.
      }
    });
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve()));
  });
}
