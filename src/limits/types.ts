// The plain values the limits concern trades with the gateway core.
import type { LimitUnit } from '../config/types.js';
import type { Target } from '../mcp/protocol.js';
import type { Identity } from '../identity/types.js';

export const UNIT_MS: Readonly<Record<LimitUnit, number>> = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** What a limit can look at: one JSON-RPC request after authentication, curation and policy. */
export interface LimitFacts {
  server: string;
  method: string;
  target: Target | undefined;
  identity: Identity;
}

/** The name of a policy-named limit is this prefix and its key. */
export const POLICY_LIMIT_PREFIX = 'policy:';

/** A limit a policy decision names (`rate_limits: [{key, requests_per_unit, unit, shadow?}]`). */
export interface PolicyLimit {
  key: string;
  requestsPerUnit: number;
  unit: LimitUnit;
  shadow: boolean;
}

/** One counter a request counts against. */
export interface RateCounter {
  /** The limit's name (config), or `policy:<key>` for a policy-named one. */
  limit: string;
  /** Where the limit comes from: bounded, for metric labels. */
  source: 'config' | 'policy';
  /** The key's dimension names (`caller`, `tool`, …; a policy limit: `policy`) and this request's values, in order. */
  dimensions: readonly string[];
  values: readonly string[];
  requestsPerUnit: number;
  unit: LimitUnit;
  shadow: boolean;
}

/** One concurrency slot a request takes while it is in flight. */
export interface ConcurrencySlot {
  limit: string;
  values: readonly string[];
  max: number;
  shadow: boolean;
}

/** A limit a request went over. */
export interface LimitHit {
  limit: string;
  source: 'config' | 'policy';
  kind: 'rate' | 'concurrency';
  shadow: boolean;
  /** When trying again can succeed (ms): the window's end, or a short pause for a slot. */
  retryAfterMs: number;
}

/** Held concurrency slots; released once, when the exchange ends however it ends. */
export interface Lease {
  release(): void;
}

export const NO_LEASE: Lease = Object.freeze({ release() {} });

export type LimitOutcome =
  /** Within every enforced limit (shadow hits are reported, not enforced). */
  | { kind: 'pass'; lease: Lease; shadowed: readonly LimitHit[] }
  | { kind: 'limited'; hit: LimitHit; shadowed: readonly LimitHit[] }
  /** A backend (rate-limit service, Redis) did not answer; failOpen says what the configuration wants. */
  | { kind: 'unavailable'; backend: 'service' | 'redis'; message: string; failOpen: boolean; lease: Lease; shadowed: readonly LimitHit[] };
