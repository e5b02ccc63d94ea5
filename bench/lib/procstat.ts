// What the kernel says about a process: CPU time (all threads, user + system)
// and memory, from /proc. Linux only, like the rest of the benchmark.
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** The process and its live descendants (a sidecar with sidecar.workers > 1 is a primary and its workers). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        const kids = readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(' ').map(Number));
      } catch {
        // the thread or process is gone
      }
    }
  }
  return out;
}

function ownCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3 ("state").
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks();
}

/**
 * utime + stime of every thread of the process and of its live descendants so far, in
 * milliseconds (resolution: one clock tick, usually 10 ms). A process with no children
 * (Envoy, the upstream) is measured alone, as before.
 */
export function cpuMs(pid: number): number {
  let sum = ownCpuMs(pid);
  for (const child of processTree(pid).slice(1)) {
    try {
      sum += ownCpuMs(child);
    } catch {
      // exited meanwhile
    }
  }
  return sum;
}

export interface Memory {
  /** Resident set size, KiB. */
  rssKb: number;
  /** Peak resident set size, KiB. */
  hwmKb: number;
}

/** Summed over the process and its live descendants (see cpuMs). */
export function memory(pid: number): Memory {
  const total = { rssKb: 0, hwmKb: 0 };
  for (const [i, p] of processTree(pid).entries()) {
    let status: string;
    try {
      status = readFileSync(`/proc/${p}/status`, 'utf8');
    } catch (err) {
      if (i === 0) throw err;
      continue;
    }
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    total.rssKb += kb('VmRSS');
    total.hwmKb += kb('VmHWM');
  }
  return total;
}

export function machine(): Record<string, string | number> {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    loadavg_1m_at_start: Math.round(loadavg()[0]! * 100) / 100,
  };
}
