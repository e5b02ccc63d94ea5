// The limits step of a request's decision, after curation and policy: count it against the
// limits that apply, and turn an exceeded one into a 429 the client can correlate (the
// request's id, `data.reason: "rate_limited"`, which limit, when to retry), or, in shadow
// mode, into an audit note that lets it pass. Only requests get here: a notification or a
// client's response cannot be answered with an error the client would match to anything.
import type { AuditEvent } from '../audit/event.js';
import { JsonRpcErrorCode } from '../mcp/errors.js';
import type { JsonRpcId } from '../mcp/jsonrpc.js';
import type { Limiter } from '../limits/limiter.js';
import { NO_LEASE, type LimitFacts, type LimitHit, type LimitOutcome, type Lease, type PolicyLimit } from '../limits/types.js';
import { retryAfterSeconds } from '../limits/window.js';
import type { Refusal } from './refusal.js';

export type LimitsStep = { refusal: Refusal; lease: Lease } | { refusal: undefined; lease: Lease };

/** How long a client is asked to wait when a limits backend is down and the failure mode is closed. */
const UNAVAILABLE_RETRY_S = 1;

export function applyLimits(limiter: Limiter, facts: LimitFacts, policyLimits: readonly PolicyLimit[], rpcId: JsonRpcId, ev: AuditEvent): LimitsStep | Promise<LimitsStep> {
  const outcome = limiter.check(facts, policyLimits);
  return outcome instanceof Promise ? outcome.then((o) => decide(o, rpcId, ev)) : decide(outcome, rpcId, ev);
}

/** The stream caps of a GET (server-to-client stream); a refusal has no request to answer, so its id is null. */
export function applyStreamLimits(limiter: Limiter, facts: LimitFacts, ev: AuditEvent): LimitsStep | Promise<LimitsStep> {
  const outcome = limiter.checkStream(facts);
  return outcome instanceof Promise ? outcome.then((o) => decide(o, null, ev)) : decide(outcome, null, ev);
}

function noteShadow(hits: readonly LimitHit[], ev: AuditEvent): void {
  const h = hits[0];
  if (!h) return;
  ev.rate_limit = { limit: h.limit, kind: h.kind, shadow: true, retry_after_ms: h.retryAfterMs };
  if (ev.reason === 'allowed') {
    ev.reason = 'would_rate_limit';
    ev.message = `over ${hits.map((x) => `"${x.limit}"`).join(', ')} (shadow: let through)`;
  }
}

export function decide(o: LimitOutcome, rpcId: JsonRpcId | null, ev: AuditEvent): LimitsStep {
  switch (o.kind) {
    case 'pass':
      noteShadow(o.shadowed, ev);
      return { refusal: undefined, lease: o.lease };
    case 'unavailable':
      ev.rate_limit = { unavailable: o.backend, fail_open: o.failOpen };
      if (o.failOpen) {
        noteShadow(o.shadowed, ev);
        ev.message ??= `limits not checked (${o.message}); failure_mode open: let through`;
        return { refusal: undefined, lease: o.lease };
      }
      return {
        lease: NO_LEASE,
        refusal: {
          reason: 'rate_limit_unavailable',
          httpStatus: 503,
          rpcCode: JsonRpcErrorCode.InternalError,
          rpcId,
          message: `Rate limits could not be checked (${o.backend === 'redis' ? 'Redis' : 'rate-limit service'} unavailable); try again shortly`,
          headers: [['retry-after', String(UNAVAILABLE_RETRY_S)]],
          data: { retry_after_ms: UNAVAILABLE_RETRY_S * 1000 },
        },
      };
    case 'limited': {
      const h = o.hit;
      ev.rate_limit = { limit: h.limit, kind: h.kind, shadow: false, retry_after_ms: h.retryAfterMs };
      const seconds = retryAfterSeconds(h.retryAfterMs);
      const what = h.kind === 'rate' ? `Rate limit "${h.limit}" exceeded` : `Concurrency limit "${h.limit}" reached (too many ${rpcId === null ? 'open streams' : 'requests in flight'})`;
      return {
        lease: NO_LEASE,
        refusal: {
          reason: 'rate_limited',
          httpStatus: 429,
          rpcCode: JsonRpcErrorCode.RateLimited,
          rpcId,
          message: `${what}; retry after ${seconds} s`,
          headers: [['retry-after', String(seconds)]],
          data: { limit: h.limit, retry_after_ms: h.retryAfterMs },
        },
      };
    }
  }
}
