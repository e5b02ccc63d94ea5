// Decides whether one request is within its limits: which configured limits match it, the
// policy-named ones, then counts rates (locally or at the rate-limit service) and takes
// concurrency slots (locally or in Redis). A request that matches nothing costs one loop.
import type { LimitsSection } from '../config/types.js';
import { compileLimit, type CompiledLimit } from './match.js';
import { LocalRates } from './local-rates.js';
import { LocalConcurrency } from './local-concurrency.js';
import { RateLimitServiceClient } from './rls-client.js';
import { RedisConcurrency } from './redis-concurrency.js';
import { HeldSlots } from './held-slots.js';
import { NO_LEASE, POLICY_LIMIT_PREFIX, type ConcurrencySlot, type LimitFacts, type LimitHit, type LimitOutcome, type Lease, type PolicyLimit, type RateCounter } from './types.js';

type MaybePromise<T> = T | Promise<T>;
type RateResult = { hit: LimitHit | undefined; shadowed: LimitHit[] };
type SlotResult = { hit: LimitHit; shadowed: LimitHit[] } | { lease: Lease; shadowed: LimitHit[] };

export interface RateBackend {
  take(counters: readonly RateCounter[]): MaybePromise<RateResult>;
}
export interface ConcurrencyBackend {
  take(slots: readonly ConcurrencySlot[]): MaybePromise<SlotResult>;
}

export interface LimiterBackends {
  rates: RateBackend;
  /** Whether a failure of the rates backend lets requests through. */
  ratesFailOpen: boolean;
  concurrency: ConcurrencyBackend;
  concurrencyFailOpen: boolean;
  close(): Promise<void>;
}

/** The in-process backends (what counts without the rate-limit service and Redis); an ext_proc worker's count in the primary. */
export interface LocalBackends {
  rates: RateBackend;
  concurrency: ConcurrencyBackend;
}

export function createBackends(section: LimitsSection, onRedisError?: (err: Error) => void, local?: LocalBackends): LimiterBackends {
  const rls = section.service && new RateLimitServiceClient(section.service);
  const redis = section.redis && new RedisConcurrency(section.redis, onRedisError);
  return {
    rates: rls ?? local?.rates ?? new LocalRates(),
    ratesFailOpen: section.service?.failureMode === 'open',
    concurrency: redis ?? local?.concurrency ?? new LocalConcurrency(),
    concurrencyFailOpen: section.redis?.failureMode === 'open',
    async close() {
      rls?.close();
      await redis?.close();
    },
  };
}

export class Limiter {
  /** Limits on requests, and caps on open GET streams (`streams: true`): never one for the other. */
  private readonly limits: CompiledLimit[];
  private readonly streamLimits: CompiledLimit[];
  /** Slots of requests in flight here, for `notifications/cancelled`. */
  readonly held = new HeldSlots();

  constructor(section: LimitsSection, private readonly backends: LimiterBackends) {
    this.limits = section.limits.filter((l) => !l.streams).map(compileLimit);
    this.streamLimits = section.limits.filter((l) => l.streams).map(compileLimit);
  }

  /** Whether any configured limit exists; policy-named limits are checked regardless. */
  get configured(): boolean {
    return this.limits.length > 0;
  }

  /** Whether open GET streams are capped at all (else a GET costs nothing here). */
  get capsStreams(): boolean {
    return this.streamLimits.length > 0;
  }

  /** Takes a slot of every stream cap the GET stream falls under, held until it ends. */
  checkStream(f: LimitFacts): MaybePromise<LimitOutcome> {
    let slots: ConcurrencySlot[] | undefined;
    for (const l of this.streamLimits) {
      if (!l.matches(f)) continue;
      const values = l.values(f);
      if (values !== undefined) (slots ??= []).push({ limit: l.config.name, values, max: l.config.concurrency!, shadow: l.config.shadow });
    }
    return slots ? this.slots(slots, [], undefined) : PASS;
  }

  check(f: LimitFacts, policy: readonly PolicyLimit[]): MaybePromise<LimitOutcome> {
    let counters: RateCounter[] | undefined;
    let slots: ConcurrencySlot[] | undefined;
    for (const l of this.limits) {
      if (!l.matches(f)) continue;
      const values = l.values(f);
      if (values === undefined) continue;
      const c = l.config;
      if (c.rate) (counters ??= []).push({ limit: c.name, source: 'config', dimensions: c.key, values, requestsPerUnit: c.rate.requestsPerUnit, unit: c.rate.unit, shadow: c.shadow });
      else (slots ??= []).push({ limit: c.name, values, max: c.concurrency!, shadow: c.shadow });
    }
    for (const p of policy) {
      (counters ??= []).push({ limit: POLICY_LIMIT_PREFIX + p.key, source: 'policy', dimensions: ['policy'], values: [p.key], requestsPerUnit: p.requestsPerUnit, unit: p.unit, shadow: p.shadow });
    }
    if (!counters && !slots) return PASS;
    if (!counters) return this.slots(slots!, [], undefined);
    const rates = this.tryRates(counters);
    return rates instanceof Promise ? rates.then((r) => this.afterRates(r, slots)) : this.afterRates(rates, slots);
  }

  private tryRates(counters: RateCounter[]): MaybePromise<RateResult | Error> {
    try {
      const r = this.backends.rates.take(counters);
      return r instanceof Promise ? r.catch((err: Error) => err) : r;
    } catch (err) {
      return err as Error;
    }
  }

  private afterRates(r: RateResult | Error, slots: ConcurrencySlot[] | undefined): MaybePromise<LimitOutcome> {
    if (r instanceof Error) {
      const unavailable = { backend: 'service' as const, message: r.message };
      if (!this.backends.ratesFailOpen) return { kind: 'unavailable', ...unavailable, failOpen: false, lease: NO_LEASE, shadowed: [] };
      return slots ? this.slots(slots, [], unavailable) : { kind: 'unavailable', ...unavailable, failOpen: true, lease: NO_LEASE, shadowed: [] };
    }
    if (r.hit) return { kind: 'limited', hit: r.hit, shadowed: r.shadowed };
    return slots ? this.slots(slots, r.shadowed, undefined) : r.shadowed.length ? { kind: 'pass', lease: NO_LEASE, shadowed: r.shadowed } : PASS;
  }

  private slots(slots: ConcurrencySlot[], shadowed: LimitHit[], unavailable: { backend: 'service'; message: string } | undefined): MaybePromise<LimitOutcome> {
    const done = (s: SlotResult | Error): LimitOutcome => {
      if (s instanceof Error) {
        return { kind: 'unavailable', backend: 'redis', message: unavailable ? `${unavailable.message}; ${s.message}` : s.message, failOpen: this.backends.concurrencyFailOpen, lease: NO_LEASE, shadowed };
      }
      const all = shadowed.concat(s.shadowed);
      if ('hit' in s) return { kind: 'limited', hit: s.hit, shadowed: all };
      if (unavailable) return { kind: 'unavailable', ...unavailable, failOpen: true, lease: s.lease, shadowed: all };
      return { kind: 'pass', lease: s.lease, shadowed: all };
    };
    try {
      const s = this.backends.concurrency.take(slots);
      return s instanceof Promise ? s.then(done, (err: Error) => done(err)) : done(s);
    } catch (err) {
      return done(err as Error);
    }
  }

  close(): Promise<void> {
    return this.backends.close();
  }
}

const PASS: LimitOutcome = Object.freeze({ kind: 'pass', lease: NO_LEASE, shadowed: Object.freeze([]) as readonly LimitHit[] });
