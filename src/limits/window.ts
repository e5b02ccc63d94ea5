// Fixed-window arithmetic, shared by the local counter and the refusal's Retry-After.
// Windows are aligned to the epoch (a minute window starts at :00), as envoyproxy/ratelimit's are,
// so a local and a distributed limit with the same rate behave the same.

/** Start of the window holding `nowMs`. */
export function windowStart(nowMs: number, unitMs: number): number {
  return nowMs - (nowMs % unitMs);
}

/** Milliseconds until the window holding `nowMs` ends (at least 1). */
export function msUntilReset(nowMs: number, unitMs: number): number {
  return Math.max(1, windowStart(nowMs, unitMs) + unitMs - nowMs);
}

/** The Retry-After header value (RFC 9110: whole seconds), never 0 so that clients do wait. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
