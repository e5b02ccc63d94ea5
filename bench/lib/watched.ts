// A child process of the bench, watched: the last lines it wrote (for error messages),
// whether it has exited, and a stop that escalates from SIGTERM to SIGKILL.
import type { ChildProcess } from 'node:child_process';

const TAIL_LINES = 30;

export interface Watched {
  readonly pid: number;
  /** Its last lines on stdout and stderr (those that were piped). */
  tail(): string;
  readonly dead: boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs: number): Promise<void>;
}

export function watch(child: ChildProcess): Watched {
  const lines: string[] = [];
  const keep = (b: Buffer) => {
    for (const l of b.toString('utf8').split('\n')) if (l) (lines.push(l), lines.length > TAIL_LINES && lines.shift());
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let dead = false;
  void exited.then(() => (dead = true));
  return {
    pid: child.pid!,
    tail: () => lines.join('\n'),
    get dead() {
      return dead;
    },
    async stop(graceMs) {
      if (dead) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}
