// The processes of one stdio server: a cap on how many run at once, dedicated
// (per-session) processes stopped when idle, and supervised shared ones started on
// first use and, after a crash, started again with exponential backoff.
import type { Program } from './program.js';

export interface PoolOptions {
  maxProcesses: number;
  idleTimeoutMs: number;
  restart: { maxRetries: number; backoffMs: number };
}

/** Longest wait between restarts; also how long a shared process stays given up before one more try. */
export const MAX_BACKOFF_MS = 30_000;

/** max_processes reached: a new session (or a shared process) has to wait for one to end. */
export class PoolFullError extends Error {
  override name = 'PoolFullError';
}

/** A shared process crashed max_retries times in a row; not started again for a while. */
export class GivenUpError extends Error {
  override name = 'GivenUpError';
}

interface SharedSlot<P> {
  current: P | undefined;
  starting: Promise<P> | undefined;
  /** Crashes in a row since the slot's process last answered. */
  failures: number;
  lastCrashAt: number;
}

export interface PoolHooks<P> {
  /** Something is in flight: not idle, whatever the clock says. */
  isBusy(p: P): boolean;
  /** The pool is stopping `p` for idleness (before stop()). */
  onIdle?(p: P): void;
  now?(): number;
}

export class ProcessPool<P extends Program> {
  private readonly live = new Set<P>();
  private readonly lastActive = new Map<P, number>();
  private readonly slots = new Map<string, SharedSlot<P>>();
  private closed = false;
  private readonly now: () => number;

  constructor(
    private readonly start: () => P,
    private readonly opts: PoolOptions,
    private readonly hooks: PoolHooks<P>,
  ) {
    this.now = hooks.now ?? Date.now;
  }

  /** Processes running now. */
  get size(): number {
    return this.live.size;
  }

  /** A new process of its own (one session's), stopped after idleTimeoutMs without activity. */
  dedicated(): P {
    const p = this.spawn();
    this.lastActive.set(p, this.now());
    this.armIdle(p, this.opts.idleTimeoutMs);
    return p;
  }

  /**
   * The running process of shared slot `name`, started if there is none: at once the first
   * time, after backoffMs·2^(n−1) (at most MAX_BACKOFF_MS) when it crashed n times in a row.
   */
  shared(name: string): Promise<P> {
    const slot = this.slots.get(name) ?? { current: undefined, starting: undefined, failures: 0, lastCrashAt: 0 };
    this.slots.set(name, slot);
    if (slot.current) return Promise.resolve(slot.current);
    if (slot.starting) return slot.starting;
    const { maxRetries, backoffMs } = this.opts.restart;
    const since = this.now() - slot.lastCrashAt;
    if (slot.failures > maxRetries && since < MAX_BACKOFF_MS) {
      return Promise.reject(new GivenUpError(`the stdio program crashed ${slot.failures} times in a row; next try in ${Math.ceil((MAX_BACKOFF_MS - since) / 1000)} s (stdio.restart.max_retries: ${maxRetries})`));
    }
    const wait = slot.failures === 0 ? 0 : Math.max(0, Math.min(backoffMs * 2 ** (slot.failures - 1), MAX_BACKOFF_MS) - since);
    const starting = (async () => {
      if (wait) await new Promise((r) => setTimeout(r, wait));
      if (this.closed) throw new PoolFullError('the bridge is stopping');
      const p = this.spawn();
      slot.current = p;
      void p.exited.then((e) => {
        if (slot.current === p) slot.current = undefined;
        if (!e.stopped) {
          slot.failures++;
          slot.lastCrashAt = this.now();
        }
      });
      return p;
    })();
    // Cleared after it settles (also when the start above did not wait at all).
    slot.starting = starting;
    const clear = () => {
      if (slot.starting === starting) slot.starting = undefined;
    };
    starting.then(clear, clear);
    return slot.starting;
  }

  /** `p` answered: its slot's crash count starts again from 0. */
  healthy(p: P): void {
    for (const slot of this.slots.values()) if (slot.current === p) slot.failures = 0;
  }

  /** Activity on a dedicated process: its idle clock starts again. */
  touch(p: P): void {
    if (this.lastActive.has(p)) this.lastActive.set(p, this.now());
  }

  async stopAll(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.live].map((p) => p.stop()));
  }

  private spawn(): P {
    if (this.closed) throw new PoolFullError('the bridge is stopping');
    if (this.live.size >= this.opts.maxProcesses) throw new PoolFullError(`${this.live.size} processes of this stdio server are running (stdio.max_processes: ${this.opts.maxProcesses})`);
    const p = this.start();
    this.live.add(p);
    void p.exited.then(() => {
      this.live.delete(p);
      this.lastActive.delete(p);
    });
    return p;
  }

  private armIdle(p: P, ms: number): void {
    setTimeout(() => {
      const last = this.lastActive.get(p);
      if (last === undefined) return; // exited
      const left = last + this.opts.idleTimeoutMs - this.now();
      if (this.hooks.isBusy(p)) return this.armIdle(p, this.opts.idleTimeoutMs);
      if (left > 0) return this.armIdle(p, left);
      this.lastActive.delete(p);
      this.hooks.onIdle?.(p);
      void p.stop();
    }, ms).unref();
  }
}
