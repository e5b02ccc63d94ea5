// Concurrency slots shared by every replica, in Redis: one sorted set per cap, whose members
// are lease ids scored by when they expire (Redis's own clock, so replicas' clocks do not
// matter). A holder renews its leases while the call is in flight; a crashed replica's leases
// simply expire, so it cannot hold slots forever. Taking the slots of all caps is one script.
import { randomUUID, createHash } from 'node:crypto';
import { createClient } from 'redis';
import type { RedisConfig } from '../config/types.js';
import type { ConcurrencySlot, LimitHit, Lease } from './types.js';
import { CONCURRENCY_RETRY_MS } from './local-concurrency.js';

/** KEYS: one sorted set per cap. ARGV: lease id, ttl ms, then per key its max and 1 if shadow.
 *  Returns { 0 | index of the full enforced cap, indexes of full shadow caps… }. */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local out = {0}
for i, k in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  if redis.call('ZCARD', k) >= tonumber(ARGV[1 + 2 * i]) then
    if ARGV[2 + 2 * i] == '1' then table.insert(out, i) else return {i} end
  end
end
for _, k in ipairs(KEYS) do
  redis.call('ZADD', k, now + ttl, ARGV[1])
  redis.call('PEXPIRE', k, ttl)
end
return out`;

/** KEYS: sorted sets; ARGV: ttl ms, then lease ids (one per key). Extends leases still held. */
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i, k in ipairs(KEYS) do
  if redis.call('ZADD', k, 'XX', 'CH', now + ttl, ARGV[1 + i]) then redis.call('PEXPIRE', k, ttl) end
end
return 1`;

const sha = (s: string) => createHash('sha1').update(s).digest('hex');
const ACQUIRE_SHA = sha(ACQUIRE);
const RENEW_SHA = sha(RENEW);

/** The Redis key of one cap's sorted set. */
export function slotKey(slot: ConcurrencySlot): string {
  return `mcp-gateway:concurrency:${JSON.stringify([slot.limit, ...slot.values])}`;
}

interface Held {
  keys: string[];
  id: string;
}

export class RedisConcurrency {
  private readonly client: ReturnType<typeof createClient>;
  private readonly held = new Set<Held>();
  private readonly renewTimer: NodeJS.Timeout;
  private connecting: Promise<unknown> | undefined;
  /** An error was reported since the connection was last ready. */
  private quiet = false;

  constructor(private readonly cfg: RedisConfig, private readonly onError: (err: Error) => void = () => {}) {
    this.client = createClient({
      url: cfg.url,
      // Fail fast while Redis is away (the failure mode decides), instead of queueing requests.
      disableOfflineQueue: true,
      socket: { connectTimeout: Math.max(cfg.timeoutMs, 1000), reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) },
    });
    // node-redis reports every failed reconnect: tell the first after a good spell, not each one.
    this.client.on('error', (err: Error) => this.failed(err));
    this.client.on('ready', () => (this.quiet = false));
    this.renewTimer = setInterval(() => void this.renew(), Math.max(250, Math.floor(cfg.leaseTtlMs / 3)));
    this.renewTimer.unref();
  }

  private failed(err: Error): void {
    if (this.quiet) return;
    this.quiet = true;
    this.onError(err);
  }

  private async ready(): Promise<void> {
    if (this.client.isReady) return;
    if (!this.client.isOpen) this.connecting ??= this.client.connect().finally(() => (this.connecting = undefined));
    await this.withTimeout(this.connecting ?? Promise.reject(new Error('Redis is reconnecting')));
  }

  private withTimeout<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${this.cfg.timeoutMs} ms`)), this.cfg.timeoutMs);
    });
    p.catch(() => {});
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  private async script(body: string, digest: string, keys: string[], args: string[]): Promise<unknown> {
    const rest = [String(keys.length), ...keys, ...args];
    try {
      return await this.client.sendCommand(['EVALSHA', digest, ...rest]);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      return this.client.sendCommand(['EVAL', body, ...rest]);
    }
  }

  /** Takes a slot of every cap (or none); rejects when Redis is unreachable or slow. */
  async take(slots: readonly ConcurrencySlot[]): Promise<{ hit: LimitHit; shadowed: LimitHit[] } | { lease: Lease; shadowed: LimitHit[] }> {
    await this.ready();
    const keys = slots.map(slotKey);
    const id = randomUUID();
    const args = [id, String(this.cfg.leaseTtlMs), ...slots.flatMap((s) => [String(s.max), s.shadow ? '1' : '0'])];
    const reply = (await this.withTimeout(this.script(ACQUIRE, ACQUIRE_SHA, keys, args))) as number[];
    const hitOf = (s: ConcurrencySlot): LimitHit => ({ limit: s.limit, source: 'config', kind: 'concurrency', shadow: s.shadow, retryAfterMs: CONCURRENCY_RETRY_MS });
    const first = Number(reply[0]);
    if (first !== 0) return { hit: hitOf(slots[first - 1]!), shadowed: [] };
    const shadowed = reply.slice(1).map((i) => hitOf(slots[Number(i) - 1]!));
    const held: Held = { keys, id };
    this.held.add(held);
    let released = false;
    return {
      shadowed,
      lease: {
        release: () => {
          if (released) return;
          released = true;
          this.held.delete(held);
          // Best effort: a slot that cannot be given back now expires with its lease.
          const m = this.client.multi();
          for (const k of keys) m.zRem(k, id);
          this.withTimeout(m.exec()).catch((err: Error) => this.failed(err));
        },
      },
    };
  }

  private async renew(): Promise<void> {
    if (this.held.size === 0 || !this.client.isReady) return;
    const keys: string[] = [];
    const ids: string[] = [];
    for (const h of this.held) for (const k of h.keys) keys.push(k), ids.push(h.id);
    try {
      await this.withTimeout(this.script(RENEW, RENEW_SHA, keys, [String(this.cfg.leaseTtlMs), ...ids]));
    } catch (err) {
      this.failed(err as Error);
    }
  }

  get heldLeases(): number {
    return this.held.size;
  }

  async close(): Promise<void> {
    clearInterval(this.renewTimer);
    if (this.client.isOpen) await this.client.close().catch(() => {});
  }
}
