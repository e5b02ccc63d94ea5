// The gRPC server that Envoy's ext_proc filter connects to.
import * as grpc from '@grpc/grpc-js';
import { unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import type { SidecarSection } from '../config/types.js';
import type { GatewayRuntime } from '../gateway/runtime.js';
import type { Logger } from '../telemetry/log.js';
import { externalProcessorService } from './proto.js';
import { handleProcessStream, ListenStreams, type PhaseTimer, type ProcessCall } from './stream.js';
import { HealthImplementation } from 'grpc-health-check';

/** The name grpc.health.v1 reports the ext_proc service under ("" is the whole server). */
export const EXT_PROC_SERVICE = 'envoy.service.ext_proc.v3.ExternalProcessor';

export interface StreamObserver extends Partial<PhaseTimer> {
  streamOpened(): void;
  streamClosed(): void;
}

export interface ExtProcServer {
  /** The address bound (`127.0.0.1:9000` or `unix:/path`). */
  readonly address: string;
  /** Stops accepting streams and waits for open ones, up to `graceMs`, then cancels the rest. */
  shutdown(graceMs: number): Promise<void>;
  /** grpc.health.v1 status of the server and of the ext_proc service (NOT_SERVING while draining). */
  setServing(serving: boolean): void;
  /** GET (listen) streams open now. */
  readonly openListenStreams: number;
}

export async function startExtProcServer(listen: SidecarSection['listen'], runtime: () => GatewayRuntime, log: Logger, observer?: StreamObserver): Promise<ExtProcServer> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 256 * 1024 * 1024,
    'grpc.max_send_message_length': 256 * 1024 * 1024,
    'grpc.keepalive_permit_without_calls': 1,
  });
  const listens = new ListenStreams();
  server.addService(externalProcessorService(), {
    Process: (call: ProcessCall) => {
      if (observer) {
        observer.streamOpened();
        call.once('close', () => observer.streamClosed());
      }
      handleProcessStream(call, runtime, log, observer?.phaseDecided ? (observer as PhaseTimer) : undefined, listens);
    },
  });
  // grpc.health.v1 on the same port: Envoy's cluster health check and Kubernetes gRPC probes.
  const health = new HealthImplementation({ '': 'SERVING', [EXT_PROC_SERVICE]: 'SERVING' });
  health.addToServer(server);
  let address: string;
  if (listen.kind === 'unix') {
    await removeStaleSocket(listen.path);
    address = `unix:${listen.path}`;
  } else {
    address = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(new Error(`cannot listen on ${address}: ${err.message}`)) : resolve(p))),
  );
  if (listen.kind === 'tcp' && listen.port === 0) address = `${listen.host}:${port}`;
  const setServing = (serving: boolean) => {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    health.setStatus('', status);
    health.setStatus(EXT_PROC_SERVICE, status);
  };
  return {
    address,
    setServing,
    get openListenStreams() {
      return listens.open;
    },
    shutdown: (graceMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

/**
 * A sidecar killed with SIGKILL leaves its socket file behind, and binding then fails
 * with EADDRINUSE. The file is removed only if nothing accepts on it: a live sidecar's
 * socket is never taken over (its Envoy would lose it silently).
 */
async function removeStaleSocket(path: string): Promise<void> {
  const probe = await new Promise<string>((resolve) => {
    const s = connect(path);
    s.once('connect', () => (s.destroy(), resolve('live')));
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
  if (probe === 'live') throw new Error(`cannot listen on unix:${path}: another process is serving it (a sidecar still running?)`);
  // ECONNREFUSED: a socket file nobody listens on. Anything else (no file, not a socket) is left to bind().
  if (probe === 'ECONNREFUSED') await unlink(path).catch(() => undefined);
}
