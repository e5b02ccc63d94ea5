// Approvals in Redis, shared by every replica. A request is a hash (its facts as JSON,
// written once, and its outcome fields); its digest maps to its id while it is live.
// Each transition is one Lua script, so it is atomic: of two replicas consuming one
// approval at the same moment, exactly one succeeds. (One Redis, not a cluster: the
// scripts touch the keys of one request and its digest.)
import { createHash } from 'node:crypto';
import { createClient } from 'redis';
import { RETAIN_AFTER_EXPIRY_MS, type ApprovalFacts, type ApprovalRecord, type ApprovalStatus } from './record.js';
import type { ApprovalStore, DecideResult } from './store.js';

const RECORD = 'mcp-gateway:approval:';
const DIGEST = 'mcp-gateway:approval-digest:';
const CAPABLE = 'mcp-gateway:approval-url-capable:';
/** Session ids are kept hashed: Redis is not where a session id should be readable. */
const sessionKey = (s: string) => createHash('sha256').update(s).digest('base64url');

/** KEYS: digest key. ARGV: record prefix, new id, facts JSON, expires ms, retention ms. → {created, id}. */
const OPEN = `
local id = redis.call('GET', KEYS[1])
if id then
  local st = redis.call('HGET', ARGV[1] .. id, 'status')
  if st and st ~= 'used' then return {0, id} end
end
local k = ARGV[1] .. ARGV[2]
redis.call('HSET', k, 'facts', ARGV[3], 'status', 'pending', 'expires_ms', ARGV[4])
redis.call('PEXPIRE', k, ARGV[5])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[5])
return {1, ARGV[2]}`;

/** KEYS: record. ARGV: status, by, comment, now ms. → 1 when it was pending and not expired. */
const DECIDE = `
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
if tonumber(ARGV[4]) >= tonumber(redis.call('HGET', KEYS[1], 'expires_ms')) then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'decided_by', ARGV[2], 'decided_ms', ARGV[4], 'comment', ARGV[3])
return 1`;

/** KEYS: record, digest key. ARGV: id, now ms. → 1 when it was approved and not expired (now used). */
const CONSUME = `
if redis.call('HGET', KEYS[1], 'status') ~= 'approved' then return 0 end
if tonumber(ARGV[2]) >= tonumber(redis.call('HGET', KEYS[1], 'expires_ms')) then return 0 end
redis.call('HSET', KEYS[1], 'status', 'used', 'used_ms', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1`;

/** KEYS: digest key. ARGV: id. Frees the digest if it still names this request. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

export class RedisApprovalStore implements ApprovalStore {
  private readonly client: ReturnType<typeof createClient>;
  private connecting: Promise<unknown> | undefined;

  constructor(private readonly cfg: { url: string; timeoutMs: number }, onError: (err: Error) => void = () => {}) {
    this.client = createClient({
      url: cfg.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: Math.max(cfg.timeoutMs, 1000), reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) },
    });
    this.client.on('error', onError);
  }

  async open(facts: ApprovalFacts, nowMs: number): Promise<{ record: ApprovalRecord; created: boolean }> {
    const retain = String(Math.max(1, facts.expiresMs + RETAIN_AFTER_EXPIRY_MS - nowMs));
    const [created, id] = (await this.eval(OPEN, [DIGEST + facts.digest], [RECORD, facts.id, JSON.stringify(facts), String(facts.expiresMs), retain])) as [number, string];
    const record = await this.get(id);
    if (!record) throw new Error(`approval ${id} vanished from Redis while it was opened`);
    return { record, created: Number(created) === 1 };
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    await this.ready();
    const h = await this.timed(this.client.hGetAll(RECORD + id));
    if (!h.facts) return undefined;
    const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
    return {
      ...(JSON.parse(h.facts) as ApprovalFacts),
      status: h.status as ApprovalStatus,
      decidedBy: h.decided_by || undefined,
      decidedMs: num(h.decided_ms),
      comment: h.comment || undefined,
      usedMs: num(h.used_ms),
    };
  }

  async decide(id: string, status: 'approved' | 'denied', by: string, comment: string | undefined, nowMs: number): Promise<DecideResult> {
    const ok = Number(await this.eval(DECIDE, [RECORD + id], [status, by, comment ?? '', String(nowMs)])) === 1;
    const record = await this.get(id);
    return ok && record ? { ok: true, record } : { ok: false, record };
  }

  async consume(id: string, digest: string, nowMs: number): Promise<boolean> {
    return Number(await this.eval(CONSUME, [RECORD + id, DIGEST + digest], [id, String(nowMs)])) === 1;
  }

  async release(id: string, digest: string): Promise<void> {
    await this.eval(RELEASE, [DIGEST + digest], [id]);
  }

  async markUrlCapable(session: string, ttlMs: number): Promise<void> {
    await this.ready();
    await this.timed(this.client.set(CAPABLE + sessionKey(session), '1', { expiration: { type: 'PX', value: ttlMs } }));
  }

  async isUrlCapable(session: string): Promise<boolean> {
    await this.ready();
    return (await this.timed(this.client.exists(CAPABLE + sessionKey(session)))) === 1;
  }

  async close(): Promise<void> {
    if (this.client.isOpen) await this.client.close().catch(() => {});
  }

  private async eval(script: string, keys: string[], args: string[]): Promise<unknown> {
    await this.ready();
    return this.timed(this.client.sendCommand(['EVAL', script, String(keys.length), ...keys, ...args]));
  }

  private async ready(): Promise<void> {
    if (this.client.isReady) return;
    if (!this.client.isOpen) this.connecting ??= this.client.connect().finally(() => (this.connecting = undefined));
    await this.timed(this.connecting ?? Promise.reject(new Error('Redis is reconnecting')));
  }

  /** Rejects when Redis does not answer in time: the gate then fails closed. */
  private timed<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    p.catch(() => {});
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`Redis (approvals) did not answer within ${this.cfg.timeoutMs} ms`)), this.cfg.timeoutMs)));
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }
}
