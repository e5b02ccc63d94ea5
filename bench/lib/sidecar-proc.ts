// The sidecar in its own process (`mcp-gateway sidecar --config …`), so its CPU
// time and RSS can be read from /proc and it never shares an event loop with the
// load generator. It runs compiled JavaScript, as deployed: buildSidecar() compiles
// the current sources with the project's tsc into bench/.build/ (tsx would add a
// loader thread, and its memory, to the process being measured).
import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from '../../src/envoy/binary.js';
import { watch } from './watched.js';

const BUILD_DIR = 'bench/.build';

/** The sidecar's entry point: [node flags…, script]. Falls back to tsx on the sources when tsc emits nothing. */
export async function buildSidecar(): Promise<{ entry: string[]; note: string }> {
  const root = projectRoot();
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  const out = join(root, BUILD_DIR);
  const cli = join(out, 'src', 'cli.js');
  await rm(out, { recursive: true, force: true });
  const said = await new Promise<string>((resolve) =>
    execFile(tsc, ['-p', join(root, 'tsconfig.json'), '--outDir', out, '--sourceMap', 'false'], { cwd: root, timeout: 180_000 }, (err, stdout, stderr) =>
      resolve(err ? `${stdout}${stderr}`.trim() || err.message : ''),
    ),
  );
  if (existsSync(cli)) return { entry: [cli], note: `compiled with tsc into ${BUILD_DIR}${said ? ' (tsc reported type errors; it emitted anyway)' : ''}` };
  return { entry: ['--import', 'tsx', join(root, 'src', 'cli.ts')], note: `from source with tsx (tsc emitted no ${BUILD_DIR}/src/cli.js: ${said.split('\n')[0]})` };
}

/** Setup 14's no-op ext_proc server, compiled beside the sidecar when buildSidecar() compiled it. */
export function floorCommand(sidecarEntry: string[], listen: string): string[] {
  const root = projectRoot();
  const built = join(root, BUILD_DIR, 'bench', 'lib', 'floor-main.js');
  const script = sidecarEntry[0]?.endsWith('cli.js') && existsSync(built) ? [built] : ['--import', 'tsx', join(root, 'bench', 'lib', 'floor-main.ts')];
  return [...script, '--listen', listen];
}

export interface SidecarChild {
  readonly pid: number;
  stop(): Promise<void>;
}

export interface SidecarOptions {
  configFile: string;
  host: string;
  port: number;
  /** sidecar.workers: ready when every worker (port … port + workers − 1) accepts. */
  workers?: number;
  /** From buildSidecar(). */
  entry: string[];
  /** What runs instead of `entry sidecar --config configFile` (setup 14's no-op ext_proc server). */
  command?: string[];
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  label: string;
}

const canConnect = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

export async function startSidecarChild(o: SidecarOptions): Promise<SidecarChild> {
  const root = projectRoot();
  // BENCH_SIDECAR_NODE_FLAGS: node flags for every sidecar of the run (e.g. --max-semi-space-size=4).
  const envFlags = (process.env.BENCH_SIDECAR_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  const args = [...envFlags, ...(o.nodeFlags ?? []), ...(o.command ?? [...o.entry, 'sidecar', '--config', o.configFile])];
  // stdout carries the audit trail when the sink is stdout: it goes nowhere (/dev/null) but is still written.
  // BENCH_SIDECAR_NODE: another Node binary for the sidecar alone (e.g. .tools/node24's), the rest unchanged.
  const child = watch(spawn(process.env.BENCH_SIDECAR_NODE || process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] }));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.dead) throw new Error(`sidecar (${o.label}) exited during start-up:\n${child.tail()}`);
    const ports = Array.from({ length: o.workers ?? 1 }, (_, i) => o.port + i);
    if ((await Promise.all(ports.map((p) => canConnect(o.host, p)))).every(Boolean)) break;
    if (Date.now() > deadline) {
      await child.stop(0);
      throw new Error(`sidecar (${o.label}) not listening on ${o.host}:${o.port} within 30 s:\n${child.tail()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    pid: child.pid,
    async stop() {
      if (child.dead) return;
      await child.stop(15_000);
      const tail = child.tail();
      if (/"level":(50|60)|error/i.test(tail)) process.stderr.write(`[bench] sidecar (${o.label}) said:\n${tail}\n`);
    },
  };
}
