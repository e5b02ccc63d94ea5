// The approval page's two cookies, both HttpOnly and SameSite=Strict:
// - the approver's sign-in: who they are (subject, auth method, issuer, groups) and until
//   when, HMAC-signed, so any replica with the key can read it and nobody can forge it;
// - a random CSRF value, whose HMAC every form carries back (double submit, signed).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthMethod, Identity } from '../identity/types.js';

export const SIGN_IN_COOKIE = 'mcpgw_approver';
export const CSRF_COOKIE = 'mcpgw_csrf';

export interface Approver {
  subject: string;
  method: AuthMethod;
  issuer: string | undefined;
  groups: string[];
  /** Until when the sign-in holds (ms). */
  expMs: number;
}

export class CookieSigner {
  constructor(
    private readonly key: Buffer,
    private readonly secure: boolean,
  ) {}

  signIn(who: Identity, ttlS: number, nowMs = Date.now()): string {
    const a: Approver = { subject: who.subject, method: who.method, issuer: who.issuer, groups: who.groups, expMs: nowMs + ttlS * 1000 };
    const body = Buffer.from(JSON.stringify(a), 'utf8').toString('base64url');
    return this.cookie(SIGN_IN_COOKIE, `${body}.${this.mac('signin', body)}`, ttlS);
  }

  signOut(): string {
    return this.cookie(SIGN_IN_COOKIE, '', 0);
  }

  /** The signed-in approver, when the cookie verifies and has not expired. */
  approver(cookies: ReadonlyMap<string, string>, nowMs = Date.now()): Approver | undefined {
    const v = cookies.get(SIGN_IN_COOKIE);
    const dot = v?.lastIndexOf('.') ?? -1;
    if (!v || dot < 1) return undefined;
    const body = v.slice(0, dot);
    if (!this.equal(v.slice(dot + 1), this.mac('signin', body))) return undefined;
    try {
      const a = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Approver;
      return typeof a.subject === 'string' && Array.isArray(a.groups) && a.expMs > nowMs ? a : undefined;
    } catch {
      return undefined;
    }
  }

  /** A fresh CSRF cookie value (set when the browser has none). */
  newCsrf(): { value: string; header: string } {
    const value = randomBytes(18).toString('base64url');
    return { value, header: this.cookie(CSRF_COOKIE, value, 24 * 3600) };
  }

  /** What forms carry: bound to the browser's CSRF cookie. */
  csrfToken(cookieValue: string): string {
    return this.mac('csrf', cookieValue);
  }

  csrfValid(cookies: ReadonlyMap<string, string>, token: string | undefined): boolean {
    const v = cookies.get(CSRF_COOKIE);
    return v !== undefined && token !== undefined && this.equal(token, this.csrfToken(v));
  }

  private cookie(name: string, value: string, maxAgeS: number): string {
    return `${name}=${value}; Path=/approvals; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${this.secure ? '; Secure' : ''}`;
  }

  private mac(purpose: string, value: string): string {
    return createHmac('sha256', this.key).update(`${purpose}\0${value}`).digest('base64url');
  }

  private equal(a: string, b: string): boolean {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  }
}

/** `Cookie:` header → name → value (first one wins, as browsers send the most specific first). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 1) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}
