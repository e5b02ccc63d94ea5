// The limiter's backends outlive a config reload: a reload must not hand every caller a
// fresh quota (in-process windows) or forget the slots in flight (in-process caps), nor
// reconnect to the rate-limit service and Redis. Runtimes with the same backend settings
// share one set, closed when the last runtime using it closes.
import type { LimitsSection } from '../config/types.js';
import { createBackends, type LimiterBackends, type LocalBackends } from './limiter.js';

export class LimiterBackendPool {
  private readonly entries = new Map<string, { backends: LimiterBackends; users: number }>();

  /** `local`: where in-process limits count (an ext_proc worker's: in the primary, shared by all workers). */
  constructor(private readonly local?: LocalBackends) {}

  acquire(section: LimitsSection, onRedisError?: (err: Error) => void): LimiterBackends {
    const key = JSON.stringify({ service: section.service ?? null, redis: section.redis ?? null });
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { backends: createBackends(section, onRedisError, this.local), users: 0 };
      this.entries.set(key, entry);
    }
    entry.users++;
    const e = entry;
    let released = false;
    return {
      ...e.backends,
      close: async () => {
        if (released) return;
        released = true;
        if (--e.users > 0) return;
        this.entries.delete(key);
        await e.backends.close();
      },
    };
  }
}
