// A free TCP port on loopback, for tests and benchmarks that start servers.
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  // The kernel may hand out a port it just gave (the probe closed it): a config asking for
  // three ports in a row would then get two alike. Never return one this process had before.
  for (;;) {
    const port = await probePort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

const handedOut = new Set<number>();

function probePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** The first of `n` consecutive free ports (sidecar.workers > 1 listens on port … port + n − 1). */
export async function freePortRange(n: number): Promise<number> {
  const bindable = (port: number) =>
    new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await freePort();
    if (first + n - 1 > 65535) continue;
    let ok = true;
    for (let p = first + 1; ok && p < first + n; p++) ok = await bindable(p);
    if (ok) return first;
  }
  throw new Error(`no ${n} consecutive free ports found`);
}
