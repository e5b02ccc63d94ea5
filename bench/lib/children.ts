// The orchestrator's handles on its two helper processes: the upstream and the load generator.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { GenRequest, GenResponse, PointResult, SmokeResult, TargetSpec } from './types.js';
import type { RunSpec } from './loadgen.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

export interface UpstreamChild {
  pid: number;
  json: string;
  sse: string;
  stop(): Promise<void>;
}

export async function startUpstreamChild(): Promise<UpstreamChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', here('./upstream-main.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (l) => resolve(l));
    child.once('exit', (code) => reject(new Error(`the upstream exited (${code}) before listening`)));
  });
  const urls = JSON.parse(first) as { json: string; sse: string };
  return { pid: child.pid!, ...urls, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

export class Generator {
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: GenResponse) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`load generator: ${m.error}`));
    });
    child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`the load generator exited (${code})`));
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  static async start(): Promise<Generator> {
    // 'advanced' serialization keeps Infinity (a failed percentile) intact across the channel.
    const child = fork(here('./loadgen-main.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`the load generator exited (${code}) during start-up`)));
    });
    return new Generator(child);
  }

  private call<T>(req: GenRequest extends infer R ? (R extends GenRequest ? Omit<R, 'id'> : never) : never): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...req, id });
    });
  }

  prepare(target: TargetSpec, poolSize: number): Promise<number> {
    return this.call({ op: 'prepare', target, poolSize });
  }

  run(spec: RunSpec): Promise<PointResult> {
    return this.call({ op: 'run', ...spec });
  }

  smoke(target: TargetSpec): Promise<SmokeResult> {
    return this.call({ op: 'smoke', target });
  }

  stop(): Promise<void> {
    return stopChild(this.child);
  }
}
