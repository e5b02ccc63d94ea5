// JWT bearer tokens, verified with jose against a JWKS (fetched from the
// issuer, or read from a file once). The key set and the verify options are
// built once; a request costs one jwtVerify (and, for an unknown `kid`, at
// most one JWKS refetch per cooldown: that is how key rotation works without
// a restart).
import { readFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type CryptoKey,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type ProtectedHeaderParameters,
} from 'jose';
import { identityFromClaims } from './claims.js';
import type { ClaimMapping, JwksSource, JwtConfig } from './config.js';
import { AuthSetupError } from './setup-error.js';
import type { AuthFailureReason, AuthResult } from './types.js';

export interface JwtVerifier {
  verify(token: string): Promise<AuthResult>;
  /** Stops the background JWKS refresh. */
  close(): void;
  /**
   * Undefined once signing keys are in hand (a JWKS file; a JWKS URL fetched at least
   * once); otherwise why not, after one more fetch attempt. For readiness.
   */
  keysUnavailable(): Promise<string | undefined>;
}

/** Told about every JWKS fetch (for metrics): `success` is an HTTP 200; anything else, a network error or a timeout is `failure`. */
export interface JwksObserver {
  jwksFetched(result: 'success' | 'failure'): void;
}

/** The JWKS could not be fetched or used: not the token's fault. */
class KeySetUnavailable extends Error {
  override name = 'KeySetUnavailable';
}

const UNAVAILABLE = fail('jwks_unavailable', "the token's signing keys could not be fetched from the identity provider; try again later");
const BAD_SIGNATURE = fail('invalid_token', 'the token signature is invalid');
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_MAX = 10_000;

export async function createJwtVerifier(cfg: JwtConfig, claims: ClaimMapping, observer?: JwksObserver): Promise<JwtVerifier> {
  const keys = cfg.jwks.kind === 'file' ? { getKey: await fileKeySet(cfg.jwks.path), close() {}, unavailable: async () => undefined } : remoteKeySet(cfg.jwks, observer);
  const options: JWTVerifyOptions = {
    issuer: cfg.issuer,
    audience: [...cfg.audiences],
    algorithms: [...cfg.algorithms],
    clockTolerance: cfg.clockSkewS,
    // A token without an expiry would be good forever once leaked.
    requiredClaims: ['exp'],
  };
  const acceptedAlgorithms = cfg.algorithms.join(', ');
  const audiences = cfg.audiences.map((a) => JSON.stringify(a)).join(', ');
  const issuer = JSON.stringify(cfg.issuer);

  async function verifiedPayload(token: string): Promise<JWTPayload> {
    try {
      return (await jwtVerify(token, keys.getKey, options)).payload;
    } catch (err) {
      if (codeOf(err) !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') throw err;
      // No "kid", and several keys fit the algorithm (common mid-rotation): try each, as jose advises.
      for await (const key of err as AsyncIterable<CryptoKey>) {
        try {
          return (await jwtVerify(token, key, options)).payload;
        } catch (inner) {
          if (codeOf(inner) !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw inner;
        }
      }
      throw new errors.JWSSignatureVerificationFailed();
    }
  }

  function failure(err: unknown, token: string): AuthResult {
    switch (codeOf(err)) {
      case 'ERR_JWT_EXPIRED': {
        const exp = (err as errors.JWTExpired).payload.exp;
        return fail('expired_token', typeof exp === 'number' ? `the token expired at ${isoTime(exp)}` : 'the token has expired');
      }
      case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
        const e = err as errors.JWTClaimValidationFailed;
        const missing = e.reason === 'missing';
        switch (e.claim) {
          case 'nbf':
            if (e.reason === 'check_failed') return fail('token_not_yet_valid', `the token is not valid before ${isoTime(e.payload.nbf as number)}`);
            break;
          case 'aud':
            return fail('wrong_audience', missing ? `the token has no "aud" claim; it must name one of ${audiences}` : `the token is not meant for this resource: its "aud" names none of ${audiences}`);
          case 'iss':
            return fail('wrong_issuer', missing ? `the token has no "iss" claim; expected ${issuer}` : `the token was issued by ${describe(e.payload.iss)}, not by the trusted issuer ${issuer}`);
          case 'exp':
            if (missing) return fail('invalid_token', 'the token has no "exp" claim; tokens that never expire are refused');
            break;
        }
        return fail('invalid_token', `the token's "${e.claim}" claim is invalid`);
      }
      case 'ERR_JOSE_ALG_NOT_ALLOWED':
        return fail('unsupported_algorithm', `the token's algorithm ${describe(headerOf(token)?.alg)} is not accepted (accepted: ${acceptedAlgorithms})`);
      case 'ERR_JWKS_NO_MATCHING_KEY': {
        const h = headerOf(token);
        return fail('unknown_key', `no trusted signing key matches the token (kid ${describe(h?.kid)}, alg ${describe(h?.alg)})`);
      }
      case 'ERR_JWKS_TIMEOUT':
        return UNAVAILABLE;
      case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
        return BAD_SIGNATURE;
      case 'ERR_JWS_INVALID':
      case 'ERR_JWT_INVALID':
      case 'ERR_JOSE_NOT_SUPPORTED':
        // jose's messages for these are fixed texts that never quote the token.
        return fail('invalid_token', `the token is malformed: ${(err as Error).message}`);
    }
    if (err instanceof KeySetUnavailable) return UNAVAILABLE;
    return fail('invalid_token', 'the token could not be verified');
  }

  // Verified tokens, remembered briefly: a caller sends the same token on every request
  // of a session, and a signature check costs far more than a map lookup. An entry lives
  // until the token expires or VERIFIED_TTL_MS passes, whichever is first, so a key
  // removed from the JWKS stops working within that time.
  const verified = new Map<string, { result: AuthResult; until: number }>();
  const skewMs = cfg.clockSkewS * 1000;

  return {
    async verify(token: string): Promise<AuthResult> {
      const now = Date.now();
      const hit = verified.get(token);
      if (hit) {
        if (hit.until > now) return hit.result;
        verified.delete(token);
      }
      let payload: JWTPayload;
      try {
        payload = await verifiedPayload(token);
      } catch (err) {
        return failure(err, token);
      }
      const identity = identityFromClaims(payload, claims, 'jwt');
      if (typeof identity === 'string') return fail('invalid_token', identity);
      const result: AuthResult = Object.freeze({ ok: true as const, identity: Object.freeze(identity) });
      if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!);
      verified.set(token, { result, until: Math.min(now + VERIFIED_TTL_MS, (payload.exp as number) * 1000 + skewMs) });
      return result;
    },
    close: keys.close,
    keysUnavailable: keys.unavailable,
  };
}

/**
 * The issuer's JWKS, cached. Known keys never expire on the request path
 * (cacheMaxAge Infinity): a background refresh replaces them, and a failed
 * refresh keeps the old ones, so an IdP outage does not take the gateway down
 * with it. An unknown `kid` refetches at once unless one was fetched within
 * the cooldown.
 */
function remoteKeySet(src: Extract<JwksSource, { kind: 'url' }>, observer: JwksObserver | undefined): { getKey: JWTVerifyGetKey; close(): void; unavailable(): Promise<string | undefined> } {
  const set = createRemoteJWKSet(src.url, {
    timeoutDuration: src.timeoutMs,
    cooldownDuration: src.cooldownMs,
    cacheMaxAge: Infinity,
    // jose's own fetch, counted: the one place every JWKS request (refresh or unknown kid) passes.
    ...(observer && { [customFetch]: countedFetch(observer) }),
  });
  // Until the first successful fetch, why the last one failed (readiness reports it).
  let missing: string | undefined = `JWKS ${src.url.href} not fetched yet`;
  const refresh = () =>
    set.reload().then(
      () => void (missing = undefined),
      (err: Error) => {
        // Keep the keys we have; a request that needs a key we lack reports jwks_unavailable.
        if (missing !== undefined) missing = `JWKS ${src.url.href} not fetched yet: ${err.message}`;
      },
    );
  void refresh(); // Warm the cache so the first request need not wait for the IdP.
  const timer = setInterval(refresh, src.refreshMs);
  timer.unref();
  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await set(header, token);
    } catch (err) {
      const code = codeOf(err);
      if (code === 'ERR_JWKS_NO_MATCHING_KEY' || code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') throw err;
      // Timeout, connection failure, non-200, not a JWKS: none of it is about the token.
      throw new KeySetUnavailable(`JWKS ${src.url.href} unavailable`, { cause: err });
    }
  };
  const unavailable = async () => {
    if (missing !== undefined) await refresh(); // jose shares one fetch between concurrent reloads
    return missing;
  };
  return { getKey, close: () => clearInterval(timer), unavailable };
}

function countedFetch(observer: JwksObserver): (url: string, init: RequestInit) => Promise<Response> {
  const tell = (result: 'success' | 'failure') => {
    try {
      observer.jwksFetched(result);
    } catch {
      // Metrics never change what the key set does.
    }
  };
  return async (url, init) => {
    try {
      const res = await fetch(url, init);
      tell(res.status === 200 ? 'success' : 'failure');
      return res;
    } catch (err) {
      tell('failure');
      throw err;
    }
  };
}

/** A JWKS file, read and checked once. */
async function fileKeySet(file: string): Promise<JWTVerifyGetKey> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new AuthSetupError(file, `cannot read the JWKS: ${(err as Error).message}`, { cause: err });
  }
  const keys = (json as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new AuthSetupError(file, 'expected a JWKS: a JSON object with a "keys" array');
  if (keys.length === 0) throw new AuthSetupError(file, 'the JWKS has no keys; no token could ever verify');
  keys.forEach((k: unknown, i) => {
    if (k === null || typeof k !== 'object') throw new AuthSetupError(file, `keys[${i}] is not a JSON object`);
    if ((k as { kty?: unknown }).kty === 'oct') throw new AuthSetupError(file, `keys[${i}] is a symmetric ("oct") key; only public keys verify tokens here`);
    if ('d' in k) throw new AuthSetupError(file, `keys[${i}] is a private key; the JWKS must hold public keys only (remove "d" and the other private members)`);
  });
  try {
    return createLocalJWKSet(json as Parameters<typeof createLocalJWKSet>[0]);
  } catch (err) {
    throw new AuthSetupError(file, `invalid JWKS: ${(err as Error).message}`, { cause: err });
  }
}

function fail(reason: AuthFailureReason, message: string): AuthResult {
  return Object.freeze({ ok: false, reason, message });
}

function codeOf(err: unknown): string | undefined {
  return err instanceof errors.JOSEError ? err.code : undefined;
}

function headerOf(token: string): ProtectedHeaderParameters | undefined {
  try {
    return decodeProtectedHeader(token);
  } catch {
    return undefined;
  }
}

/** A header or claim value for a message: quoted, short, never more than the caller sent. */
function describe(v: unknown): string {
  if (v === undefined) return '(none)';
  if (typeof v !== 'string') return `(a ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v})`;
  return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v);
}

function isoTime(seconds: number): string {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? String(seconds) : d.toISOString();
}
