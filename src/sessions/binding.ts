// Binds an upstream's Mcp-Session-Id to the caller that created it, statelessly: the
// client gets a sealed id carrying the upstream id, an expiry, a tag of its caller and
// an HMAC over all of it. Any replica with the key can verify it; another caller's
// request with it is refused. No table, so nothing to share or lose.
import { createHmac, timingSafeEqual } from 'node:crypto';

export type OpenResult =
  | { ok: true; upstreamId: string }
  | { ok: false; reason: 'session_malformed' | 'session_expired' | 'session_foreign'; message: string };

const VERSION = 'mgs1';
const VERIFIED_MAX = 10_000;
const MAC_BYTES = 16;
const TAG_BYTES = 9;

export class SessionBinder {
  // Ids that verified, with what they are bound to: every request of a session presents
  // the same id, and two HMACs per request would be most of the gateway's crypto time.
  private readonly verified = new Map<string, { caller: string; server: string; upstreamId: string; expMs: number }>();

  /** @param keys the first one signs; all verify (rotation). Each ≥ 32 bytes. */
  constructor(
    private readonly keys: readonly Buffer[],
    private readonly ttlS: number,
    private readonly now: () => number = Date.now,
  ) {
    if (keys.length === 0) throw new Error('SessionBinder needs at least one key');
  }

  /** The id the client sees for `upstreamId`, bound to `caller` on `server`. */
  seal(upstreamId: string, caller: string, server: string): string {
    const key = this.keys[0]!;
    const exp = Math.floor(this.now() / 1000 + this.ttlS).toString(36);
    const tag = this.tag(key, caller, server);
    const body = `${VERSION}.${exp}.${Buffer.from(upstreamId, 'utf8').toString('base64url')}.${tag}`;
    return `${body}.${this.mac(key, body)}`;
  }

  open(sealed: string, caller: string, server: string): OpenResult {
    const hit = this.verified.get(sealed);
    if (hit) {
      if (hit.caller !== caller || hit.server !== server) return { ok: false, reason: 'session_foreign', message: 'Session not found (it belongs to another caller or server)' };
      if (hit.expMs <= this.now()) return { ok: false, reason: 'session_expired', message: 'Session not found (expired)' };
      return { ok: true, upstreamId: hit.upstreamId };
    }
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) return { ok: false, reason: 'session_malformed', message: 'Session not found (not a session id this gateway issued)' };
    const body = sealed.slice(0, sealed.lastIndexOf('.'));
    const mac = Buffer.from(parts[4]!, 'base64url');
    for (const key of this.keys) {
      const expected = Buffer.from(this.mac(key, body), 'base64url');
      if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) continue;
      const tag = Buffer.from(parts[3]!, 'base64url');
      const mine = Buffer.from(this.tag(key, caller, server), 'base64url');
      if (tag.length !== mine.length || !timingSafeEqual(tag, mine)) {
        return { ok: false, reason: 'session_foreign', message: 'Session not found (it belongs to another caller or server)' };
      }
      const expMs = parseInt(parts[1]!, 36) * 1000;
      if (expMs <= this.now()) return { ok: false, reason: 'session_expired', message: 'Session not found (expired)' };
      const upstreamId = Buffer.from(parts[2]!, 'base64url').toString('utf8');
      if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(sealed, { caller, server, upstreamId, expMs });
      return { ok: true, upstreamId };
    }
    return { ok: false, reason: 'session_malformed', message: 'Session not found (signature does not verify)' };
  }

  private tag(key: Buffer, caller: string, server: string): string {
    return createHmac('sha256', key).update(`tag\0${server}\0${caller}`).digest().subarray(0, TAG_BYTES).toString('base64url');
  }

  private mac(key: Buffer, body: string): string {
    return createHmac('sha256', key).update(`mac\0${body}`).digest().subarray(0, MAC_BYTES).toString('base64url');
  }
}

/** Who a session belongs to: stable across the caller's tokens (same issuer and subject). */
export function callerKey(identity: { method: string; issuer: string | undefined; subject: string }): string {
  const method = identity.method === 'envoy_jwt_authn' ? 'jwt' : identity.method;
  return `${method}\0${identity.issuer ?? ''}\0${identity.subject}`;
}
