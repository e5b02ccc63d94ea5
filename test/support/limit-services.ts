// Test harness: a real redis-server and a real envoyproxy/ratelimit on free loopback ports
// (binaries from scripts/bootstrap.sh: REDIS_SERVER_BIN, RATELIMIT_BIN in .tools/paths.env).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

function binary(env: string, what: string): string {
  const bin = process.env[env];
  if (!bin) throw new Error(`${env} is not set: run scripts/bootstrap.sh and source .tools/paths.env (it installs ${what})`);
  return bin;
}

async function waitForPort(port: number, child: ChildProcess, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

export interface RunningRedis {
  readonly port: number;
  readonly url: string;
  /** Kills it (SIGKILL: no goodbye to clients). */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: no persistence). */
  restart(): Promise<void>;
}

export async function startRedis(): Promise<RunningRedis> {
  const bin = binary('REDIS_SERVER_BIN', 'redis-server');
  const port = await freePort();
  let child: ChildProcess;
  const start = async () => {
    child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: 'ignore' });
    await waitForPort(port, child, 'redis-server');
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, stop: () => stopChild(child), restart: start };
}

export interface RunningRateLimitService {
  readonly grpcAddress: string;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

/** envoyproxy/ratelimit with one config file (`mcp-gateway ratelimit-config` output), backed by `redis`. */
export async function startRateLimitService(configYaml: string, redis: RunningRedis): Promise<RunningRateLimitService> {
  const bin = binary('RATELIMIT_BIN', 'envoyproxy/ratelimit');
  const root = await mkdtemp(join(tmpdir(), 'mcp-gateway-rls-'));
  await mkdir(join(root, 'ratelimit', 'config'), { recursive: true });
  await writeFile(join(root, 'ratelimit', 'config', 'mcp-gateway.yaml'), configYaml);
  const [grpcPort, httpPort, debugPort] = [await freePort(), await freePort(), await freePort()];
  const env = {
    ...process.env,
    LOG_LEVEL: process.env.MCP_GATEWAY_TEST_RLS_LOG ?? 'error',
    USE_STATSD: 'false',
    USE_PROMETHEUS: 'false',
    BACKEND_TYPE: 'redis',
    REDIS_SOCKET_TYPE: 'tcp',
    REDIS_URL: `127.0.0.1:${redis.port}`,
    RUNTIME_ROOT: root,
    RUNTIME_SUBDIRECTORY: 'ratelimit',
    RUNTIME_WATCH_ROOT: 'false',
    HOST: '127.0.0.1',
    PORT: String(httpPort),
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: String(grpcPort),
    DEBUG_HOST: '127.0.0.1',
    DEBUG_PORT: String(debugPort),
  };
  let child: ChildProcess;
  const start = async () => {
    child = spawn(bin, [], { env, stdio: ['ignore', 'ignore', process.env.MCP_GATEWAY_TEST_RLS_LOG ? 'inherit' : 'ignore'] });
    await waitForPort(grpcPort, child, 'envoyproxy/ratelimit');
  };
  await start();
  return { grpcAddress: `127.0.0.1:${grpcPort}`, stop: () => stopChild(child), restart: start };
}
