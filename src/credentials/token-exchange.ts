// OAuth 2.0 Token Exchange (RFC 8693): trades the caller's access token for one meant
// for the upstream, so each caller gets its own upstream token and the caller's token
// itself never leaves the gateway. Results are cached until shortly before expiry;
// concurrent requests for the same token share one exchange.
import { createHash } from 'node:crypto';

export interface TokenExchangeConfig {
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string;
  /** The upstream's resource URI (sent as both `resource` and `audience`). */
  audience: string;
  scope: string | undefined;
  timeoutMs: number;
}

export class TokenExchangeError extends Error {
  override name = 'TokenExchangeError';
  constructor(
    message: string,
    /** True when the authorization server refused this subject token (the caller's problem). */
    readonly refused: boolean,
  ) {
    super(message);
  }
}

/** Told about every cache lookup and every exchange with the authorization server (for metrics). */
export interface TokenExchangeObserver {
  /** `miss` includes a lookup that joins an exchange already in flight for the same token. */
  cacheLookup(result: 'hit' | 'miss'): void;
  /** `refused`: the authorization server refused this caller's token; `error`: anything else went wrong. */
  exchanged(result: 'success' | 'refused' | 'error'): void;
}

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const EXPIRY_MARGIN_MS = 30_000;
const MAX_ENTRIES = 10_000;

interface Entry {
  token: string;
  expiresAt: number;
}

export class TokenExchanger {
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly basic: string;

  constructor(
    private readonly cfg: TokenExchangeConfig,
    private readonly now: () => number = Date.now,
    private readonly observer?: TokenExchangeObserver,
  ) {
    // RFC 6749 §2.3.1: form-encode, then base64 the pair.
    this.basic = `Basic ${Buffer.from(`${encodeURIComponent(cfg.clientId)}:${encodeURIComponent(cfg.clientSecret)}`).toString('base64')}`;
  }

  /** The upstream token for this caller token (cached), or a TokenExchangeError. */
  exchange(subjectToken: string): Promise<string> {
    // Keyed by a hash: the cache never holds callers' tokens themselves.
    const key = createHash('sha256').update(subjectToken).digest('base64url');
    const hit = this.cache.get(key);
    const obs = this.observer;
    if (hit && hit.expiresAt > this.now()) {
      obs?.cacheLookup('hit');
      return Promise.resolve(hit.token);
    }
    obs?.cacheLookup('miss');
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetchToken(subjectToken).then(
        (e) => {
          obs?.exchanged('success');
          this.inflight.delete(key);
          if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
          this.cache.set(key, e);
          return e.token;
        },
        (err: unknown) => {
          obs?.exchanged(err instanceof TokenExchangeError && err.refused ? 'refused' : 'error');
          this.inflight.delete(key);
          throw err;
        },
      );
      this.inflight.set(key, p);
    }
    return p;
  }

  private async fetchToken(subjectToken: string): Promise<Entry> {
    const body = new URLSearchParams({
      grant_type: TOKEN_EXCHANGE,
      subject_token: subjectToken,
      subject_token_type: ACCESS_TOKEN,
      requested_token_type: ACCESS_TOKEN,
      resource: this.cfg.audience,
      audience: this.cfg.audience,
    });
    if (this.cfg.scope) body.set('scope', this.cfg.scope);
    let res: Response;
    try {
      res = await fetch(this.cfg.tokenEndpoint, {
        method: 'POST',
        headers: { authorization: this.basic, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(this.cfg.timeoutMs),
      });
    } catch (e) {
      throw new TokenExchangeError(`token exchange with ${this.cfg.tokenEndpoint} failed: ${(e as Error).message}`, false);
    }
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) {
      const err = typeof json.error === 'string' ? json.error : `HTTP ${res.status}`;
      // invalid_grant / invalid_target: this caller's token cannot be exchanged; anything else is ours.
      throw new TokenExchangeError(`the authorization server refused the token exchange: ${err}`, res.status === 400 && (err === 'invalid_grant' || err === 'invalid_target' || err === 'invalid_request'));
    }
    if (typeof json.access_token !== 'string' || !json.access_token) throw new TokenExchangeError('token exchange response has no access_token', false);
    if (typeof json.token_type === 'string' && json.token_type.toLowerCase() !== 'bearer' && json.token_type.toLowerCase() !== 'n_a') {
      throw new TokenExchangeError(`token exchange returned an unsupported token_type ${json.token_type}`, false);
    }
    const expiresIn = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in * 1000 : 60_000;
    return { token: json.access_token, expiresAt: this.now() + Math.max(0, expiresIn - EXPIRY_MARGIN_MS) };
  }
}
