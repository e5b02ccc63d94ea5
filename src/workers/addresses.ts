// Where each ext_proc worker listens, and so what Envoy's sidecar cluster lists: worker 0
// at sidecar.listen itself (one worker is exactly the single-process sidecar), worker i at
// port + i (TCP) or `<path>.<i>` (unix socket). One address per worker, not one shared
// port: Envoy multiplexes all ext_proc streams over a few HTTP/2 connections, so a shared
// port (node:cluster) would balance connections, not streams; with one endpoint per
// worker Envoy's round robin spreads the streams themselves.
import { availableParallelism } from 'node:os';
import type { SidecarSection } from '../config/types.js';

type Listen = SidecarSection['listen'];

/** `sidecar.workers` as configured: a number, `auto` (the cores available), or unset. */
export function sidecarWorkers(raw: number | 'auto' | undefined): number {
  if (raw === 'auto') return Math.max(1, availableParallelism());
  return raw ?? 1;
}

export function workerListen(listen: Listen, index: number): Listen {
  if (index === 0) return listen;
  return listen.kind === 'unix' ? { kind: 'unix', path: `${listen.path}.${index}` } : { ...listen, port: listen.port + index };
}

/** Every worker's address, in worker order. */
export function workerListens(s: Pick<SidecarSection, 'listen' | 'workers'>): Listen[] {
  return Array.from({ length: s.workers }, (_, i) => workerListen(s.listen, i));
}

/** `others`: the gateway's own addresses (listener, admin), which no worker may take. */
export function workerListenProblems(s: Pick<SidecarSection, 'listen' | 'workers'>, others: readonly { host: string; port: number }[]): { path: (string | number)[]; message: string }[] {
  if (s.workers === 1 || s.listen.kind === 'unix') return [];
  const { host, port: first } = s.listen;
  const last = first + s.workers - 1;
  if (first === 0) return [{ path: ['sidecar', 'listen'], message: 'with sidecar.workers > 1 the sidecar needs a fixed port (worker i listens on port + i, and Envoy lists each)' }];
  if (last > 65535) return [{ path: ['sidecar', 'workers'], message: `workers listen on ports ${first}…${last}: past 65535` }];
  const clash = others.find((o) => o.host === host && o.port > first && o.port <= last);
  return clash ? [{ path: ['sidecar', 'workers'], message: `workers listen on ports ${first}…${last}, which includes ${clash.host}:${clash.port} (the gateway's own)` }] : [];
}
