// A changed config that a live reload cannot apply: the running one stays in force and
// the message says what differs.
import type { GatewayConfig } from './types.js';

export class RestartNeededError extends Error {
  override name = 'RestartNeededError';
}

/** The settings a running sidecar is built around (its listeners, audit sink, metrics, logger). */
export function sidecarFixedDifference(a: SidecarFixed, b: SidecarFixed): string | undefined {
  const fixed = (c: SidecarFixed) => ({
    'sidecar.listen': c.sidecar.listen,
    'sidecar.workers': c.sidecar.workers,
    'telemetry.listen': c.telemetry.listen,
    'telemetry.usage': c.telemetry.usage,
    'telemetry.tracing': c.telemetry.tracing,
    'audit.otlp': c.audit.otlp,
    'audit.sink': c.audit.sink,
    'audit.file': c.audit.file,
    'audit.durability': c.audit.durability,
    'log.level': c.log.level,
    approvals: c.approvals,
  });
  const [x, y] = [fixed(a), fixed(b)];
  const changed = (Object.keys(x) as (keyof typeof x)[]).filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k]));
  return changed.length ? changed.join(', ') : undefined;
}

/** Throws a RestartNeededError naming what changed when `next` differs from `running` in a fixed setting. */
export function assertSidecarReloadable(running: SidecarFixed, next: SidecarFixed): void {
  const fixed = sidecarFixedDifference(running, next);
  if (fixed) throw new RestartNeededError(`${fixed} changed: restart the sidecar to apply this config`);
}

type SidecarFixed = Pick<GatewayConfig, 'sidecar' | 'telemetry' | 'audit' | 'log' | 'approvals'>;
