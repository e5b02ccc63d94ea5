// Readiness: a set of named checks, evaluated together. The sidecar is ready when
// every check passes; the reason it is not names the checks that fail. Evaluated on
// every /readyz and on a timer, so the gRPC health status (which nobody asks for by
// polling this process) follows too; listeners hear of each transition once.
import type { Readiness } from './http-endpoint.js';

export interface ReadinessCheck {
  /** Short and stable: shown as `name: reason`. */
  readonly name: string;
  /** Undefined when this part is ready; otherwise why not. */
  check(): string | undefined | Promise<string | undefined>;
}

/** A check that does not answer within this long fails (a hung JWKS fetch must not hang /readyz). */
const CHECK_TIMEOUT_MS = 3000;

export class ReadinessState implements Readiness {
  private readonly checks: ReadinessCheck[] = [];
  private readonly listeners: Array<(reason: string | undefined) => void> = [];
  private last: string | undefined;
  private evaluated = false;
  private running: Promise<string | undefined> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(checks: readonly ReadinessCheck[] = []) {
    this.checks.push(...checks);
  }

  add(check: ReadinessCheck): void {
    this.checks.push(check);
  }

  /** Called with the new reason (undefined: ready) on every change, and once after the first evaluation. */
  onChange(listener: (reason: string | undefined) => void): void {
    this.listeners.push(listener);
  }

  /** Runs every check now (one evaluation at a time; callers meanwhile share it). */
  evaluate(): Promise<string | undefined> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  /** For /readyz: a fresh evaluation (undefined: ready). */
  notReady(): Promise<string | undefined> {
    return this.evaluate();
  }

  /** The verdict of the last evaluation, without running the checks. */
  get current(): string | undefined {
    return this.evaluated ? this.last : 'not evaluated yet';
  }

  /** Re-evaluates every intervalMs until stop(). */
  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => void this.evaluate(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async run(): Promise<string | undefined> {
    const results = await Promise.all(this.checks.map((c) => runCheck(c)));
    const failing = results.filter((r) => r !== undefined);
    const reason = failing.length === 0 ? undefined : failing.join('; ');
    const changed = !this.evaluated || reason !== this.last;
    this.last = reason;
    this.evaluated = true;
    if (changed) {
      for (const l of this.listeners) {
        try {
          l(reason);
        } catch {
          // A listener's failure is not a readiness failure.
        }
      }
    }
    return reason;
  }
}

async function runCheck(c: ReadinessCheck): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const why = await Promise.race([
      Promise.resolve().then(() => c.check()),
      new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`no answer within ${CHECK_TIMEOUT_MS} ms`), CHECK_TIMEOUT_MS))),
    ]);
    return why === undefined ? undefined : `${c.name}: ${why}`;
  } catch (err) {
    return `${c.name}: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}
