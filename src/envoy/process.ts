// Runs Envoy as a child process with a generated bootstrap and waits until its
// admin endpoint says it is ready — and that the Envoy answering is the one
// this launch started. Envoy is tied to this process's life (parent-death.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewayConfig } from '../config/types.js';
import { envoyBootstrapYaml, LAUNCH_ID_KEY } from './bootstrap.js';
import { findEnvoy } from './binary.js';
import { dieWithParent, type ParentDeath } from './parent-death.js';
import { assertPortFree } from './preflight.js';

export interface EnvoyProcess {
  readonly pid: number;
  readonly adminUrl: string;
  /** Whether Envoy is SIGKILLed when this process dies ('none': setpriv is missing). */
  readonly parentDeath: ParentDeath;
  /** Resolves with the exit code when Envoy exits. */
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface EnvoyOptions {
  logLevel?: string;
  /** Where Envoy's own output goes; defaults to inheriting stderr. */
  stdio?: 'inherit' | 'ignore' | 'pipe';
  onOutput?: (line: string) => void;
}

export class ForeignEnvoyError extends Error {
  override name = 'ForeignEnvoyError';
}

const READY_TIMEOUT_MS = 20_000;

export async function startEnvoy(config: GatewayConfig, opts: EnvoyOptions = {}): Promise<EnvoyProcess> {
  const g = config.gateway;
  await assertPortFree('gateway.admin', g.adminListen);
  await assertPortFree('gateway.listen', g.listen);
  const bin = findEnvoy();
  const launchId = randomUUID();
  const dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-envoy-'));
  const bootstrap = join(dir, 'envoy.yaml');
  await writeFile(bootstrap, envoyBootstrapYaml(config, { launchId }));
  const args = ['-c', bootstrap, '--log-level', opts.logLevel ?? 'warn', '--base-id', String(process.pid % 60000), '--disable-hot-restart'];
  const cmd = dieWithParent(bin, args);
  const pipe = opts.onOutput !== undefined || opts.stdio === 'pipe';
  const child: ChildProcess = spawn(cmd.command, cmd.args, { stdio: ['ignore', pipe ? 'pipe' : (opts.stdio ?? 'inherit'), pipe ? 'pipe' : (opts.stdio ?? 'inherit')] });
  const tail: string[] = [];
  const collect = (buf: Buffer) => {
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line) continue;
      tail.push(line);
      if (tail.length > 40) tail.shift();
      opts.onOutput?.(line);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => rm(dir, { recursive: true, force: true }));
  const adminUrl = `http://${g.adminListen.host.includes(':') ? `[${g.adminListen.host}]` : g.adminListen.host}:${g.adminListen.port}`;

  const deadline = Date.now() + READY_TIMEOUT_MS;
  let early: number | null | undefined;
  void exited.then((c) => (early = c));
  while (true) {
    if (early !== undefined) throw new Error(`envoy exited with code ${early} during start-up:\n${tail.join('\n')}`);
    let state: AdminState;
    try {
      state = await probeAdmin(adminUrl, launchId);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    if (state === 'ours') break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`envoy did not become ready within ${READY_TIMEOUT_MS / 1000}s:\n${tail.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    pid: child.pid!,
    adminUrl,
    parentDeath: cmd.parentDeath,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export type AdminState = 'ours' | 'not_ready';

/**
 * One readiness probe: `/ready`, then `/server_info` to check that the Envoy answering
 * carries this launch's id in its node metadata. Rejects with a ForeignEnvoyError when
 * something else answers on the admin port (a process started after the port check).
 */
export async function probeAdmin(adminUrl: string, launchId: string): Promise<AdminState> {
  let ready: Response;
  try {
    ready = await fetch(`${adminUrl}/ready`);
    await ready.arrayBuffer();
  } catch {
    return 'not_ready'; // not listening yet
  }
  if (!ready.ok) return 'not_ready';
  let seen: unknown;
  try {
    const info = (await (await fetch(`${adminUrl}/server_info`)).json()) as { node?: { metadata?: Record<string, unknown> } };
    seen = info.node?.metadata?.[LAUNCH_ID_KEY];
  } catch {
    seen = undefined;
  }
  if (seen === launchId) return 'ours';
  throw new ForeignEnvoyError(
    `${adminUrl}/ready answered, but not from the Envoy this launch started ` +
      `(/server_info node.metadata["${LAUNCH_ID_KEY}"] is ${seen === undefined ? 'missing' : JSON.stringify(seen)}, expected "${launchId}"): ` +
      `another process is serving gateway.admin`,
  );
}
