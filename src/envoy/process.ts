// Runs Envoy as a child process with a generated bootstrap and waits until its
// admin endpoint says it is ready.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewayConfig } from '../config/types.js';
import { envoyBootstrapYaml } from './bootstrap.js';
import { findEnvoy } from './binary.js';

export interface EnvoyProcess {
  readonly pid: number;
  readonly adminUrl: string;
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

export async function startEnvoy(config: GatewayConfig, opts: EnvoyOptions = {}): Promise<EnvoyProcess> {
  const bin = findEnvoy();
  const dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-envoy-'));
  const bootstrap = join(dir, 'envoy.yaml');
  await writeFile(bootstrap, envoyBootstrapYaml(config));
  const args = ['-c', bootstrap, '--log-level', opts.logLevel ?? 'warn', '--base-id', String(process.pid % 60000), '--disable-hot-restart'];
  const pipe = opts.onOutput !== undefined || opts.stdio === 'pipe';
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', pipe ? 'pipe' : (opts.stdio ?? 'inherit'), pipe ? 'pipe' : (opts.stdio ?? 'inherit')] });
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
  const admin = config.gateway.adminListen;
  const adminUrl = `http://${admin.host.includes(':') ? `[${admin.host}]` : admin.host}:${admin.port}`;

  const deadline = Date.now() + 20_000;
  let early: number | null | undefined;
  void exited.then((c) => (early = c));
  while (true) {
    if (early !== undefined) throw new Error(`envoy exited with code ${early} during start-up:\n${tail.join('\n')}`);
    try {
      const res = await fetch(`${adminUrl}/ready`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`envoy did not become ready within 20s:\n${tail.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    pid: child.pid!,
    adminUrl,
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
