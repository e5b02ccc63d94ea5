// The aggregate key: a secret the sidecar sets on requests to the aggregator (as the aggregate
// server's upstream credential) and the aggregator requires, so only requests that went through
// Envoy and the sidecar (and so the aggregate's own governance) reach it.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { AGGREGATE_KEY_ENV } from './config.js';

/** The key in force: MCP_GATEWAY_AGGREGATE_KEY when set, else a random one for this process (set there for the sidecar to read). */
export function ensureAggregateKey(): string {
  const given = process.env[AGGREGATE_KEY_ENV]?.trim();
  if (given) {
    if (given.length < 32) throw new Error(`${AGGREGATE_KEY_ENV} must be at least 32 characters`);
    return given;
  }
  const key = randomBytes(32).toString('base64url');
  process.env[AGGREGATE_KEY_ENV] = key;
  return key;
}

/** Constant-time comparison of a presented key with the one in force. */
export function keyMatches(presented: string | undefined, key: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented, 'utf8');
  const b = Buffer.from(key, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
