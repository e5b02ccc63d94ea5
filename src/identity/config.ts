// The `auth:` section of the YAML config: its user-facing schema (named
// defaults, unknown keys refused, dangerous choices refused with a hint) and
// the normalized shape createAuthenticator() reads.
//
// Every check that can be made without touching the filesystem or network is
// made here, so the config loader reports it with its line and key path.
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

export const AUTH_DEFAULTS = {
  anonymous: false,
  envoyJwtAuthn: false,
  algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'],
  clockSkewS: 30,
  groupsClaim: 'groups',
  scopesClaim: 'scope',
  subjectClaim: 'sub',
  apiKeyHeader: 'x-api-key',
  /**
   * A cold or unknown-`kid` JWKS fetch happens on the request path, inside
   * Envoy's ext_proc message_timeout (1000 ms by default): fail below it so the
   * caller gets a precise 401 rather than Envoy's timeout.
   */
  jwksTimeoutMs: 750,
  /** After a fetch, an unknown `kid` cannot trigger another for this long (a flood of random kids must not hammer the IdP). */
  jwksCooldownS: 30,
  /** Background refresh interval; the same as Envoy jwt_authn's remote_jwks cache_duration default. */
  jwksRefreshS: 600,
} as const;

/** Asymmetric JWS algorithms a JWKS of public keys can verify. */
export const JWS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number];
const ACCEPTED = new Set<string>(JWS_ALGORITHMS);

const algorithm = z
  .string()
  .superRefine((alg, ctx) => {
    if (ACCEPTED.has(alg)) return;
    let message: string;
    if (alg.toLowerCase() === 'none') message = '"none" is refused: an unsigned token proves nothing about its sender';
    else if (/^hs\d*$/i.test(alg)) {
      message = `"${alg}" is refused: HMAC needs a shared secret, and accepting it beside public keys invites key confusion (a token "signed" with the public key's bytes)`;
    } else message = `unknown algorithm "${alg}"; expected one of ${JWS_ALGORITHMS.join(', ')}`;
    ctx.addIssue({ code: 'custom', message });
  })
  .transform((alg) => alg as JwsAlgorithm);

const jwksUrl = z.string().superRefine((s, ctx) => {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected an absolute URL such as https://idp.example.com/.well-known/jwks.json' });
    return;
  }
  if (url.username || url.password) {
    ctx.addIssue({ code: 'custom', message: 'credentials in the URL are not allowed' });
  } else if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    ctx.addIssue({ code: 'custom', message: 'use https: signing keys fetched over plain http can be replaced in transit (http is accepted only for loopback hosts)' });
  } else if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    ctx.addIssue({ code: 'custom', message: `unsupported scheme ${url.protocol} (expected https:)` });
  }
});

/** A claim name, matched exactly against the top-level claims (no path syntax: "https://example.com/roles" is one name). */
const claimName = z.string().min(1, 'a claim name cannot be empty');

const jwtSchema = z
  .object({
    issuer: z.string().min(1, 'the issuer cannot be empty'),
    // Optional only when the config has an `oauth` section: then each virtual server's
    // canonical resource URI is an audience (RFC 8707), checked per server.
    audiences: z.array(z.string().min(1, 'an audience cannot be empty')).min(1, 'at least one audience is needed (RFC 8707: the token must name this resource)').optional(),
    jwks_url: jwksUrl.optional(),
    jwks_file: z.string().min(1).optional(),
    algorithms: z.array(algorithm).min(1, 'at least one algorithm is needed').optional(),
    clock_skew_s: z.number().int().min(0).max(300).optional(),
    groups_claim: claimName.optional(),
    scopes_claim: claimName.optional(),
    subject_claim: claimName.optional(),
    jwks_timeout_ms: z.number().int().min(50).max(30_000).optional(),
    jwks_cooldown_s: z.number().min(0).max(3600).optional(),
    jwks_refresh_s: z.number().int().min(1).max(86_400).optional(),
  })
  .strict()
  .superRefine((j, ctx) => {
    if (j.jwks_url !== undefined && j.jwks_file !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['jwks_file'], message: 'set one of jwks_url or jwks_file, not both' });
    } else if (j.jwks_url === undefined && j.jwks_file === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'one of jwks_url or jwks_file is needed to verify tokens' });
    }
    if (j.jwks_file !== undefined) {
      for (const key of ['jwks_timeout_ms', 'jwks_cooldown_s', 'jwks_refresh_s'] as const) {
        if (j[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${key} applies only to jwks_url` });
      }
    }
  });

const sha256Hex = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, 'expected the SHA-256 of the key as 64 hex digits (e.g. printf %s "$KEY" | sha256sum), never the key itself');

/** One API key entry: the same shape inline and in `api_keys.file`. */
export const apiKeyEntrySchema = z
  .object({
    sha256: sha256Hex,
    subject: z.string().min(1, 'the subject cannot be empty'),
    groups: z.array(z.string().min(1)).optional(),
    scopes: z.array(z.string().min(1)).optional(),
  })
  .strict();

/** A list of API key entries; the same hash twice is refused (which subject would it be?). */
export const apiKeyListSchema = z.array(apiKeyEntrySchema).superRefine((keys, ctx) => {
  const seen = new Map<string, number>();
  keys.forEach((k, i) => {
    const h = k.sha256.toLowerCase();
    const first = seen.get(h);
    if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'sha256'], message: `the same key hash as entry ${first}` });
    else seen.set(h, i);
  });
});

const headerName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'expected an HTTP header name such as x-api-key')
  .refine((h) => h.toLowerCase() !== 'authorization', 'Authorization is already read ("Bearer <jwt>" or "ApiKey <key>"); choose another header such as x-api-key');

const apiKeysSchema = z
  .object({
    header: headerName.optional(),
    keys: apiKeyListSchema.optional(),
    file: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.keys === undefined && a.file === undefined) ctx.addIssue({ code: 'custom', path: [], message: 'api_keys needs keys or a file of keys' });
  });

export const authSchema = z
  .object({
    anonymous: z.boolean().optional(),
    jwt: jwtSchema.optional(),
    api_keys: apiKeysSchema.optional(),
    envoy_jwt_authn: z.boolean().optional(),
    mtls: z.boolean().optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.jwt === undefined && a.api_keys === undefined && a.envoy_jwt_authn !== true && a.mtls !== true && a.anonymous !== true) {
      ctx.addIssue({ code: 'custom', path: [], message: 'no caller could ever authenticate: configure jwt, api_keys, envoy_jwt_authn or mtls, or set anonymous: true' });
    }
  });

export type RawAuthConfig = z.infer<typeof authSchema>;

// ---- normalized -------------------------------------------------------------

/** Which claims carry the subject, groups and scopes (JWTs and Envoy jwt_authn payloads alike). */
export interface ClaimMapping {
  subject: string;
  /** A string (one group) or an array of strings. */
  groups: string;
  /** A space-separated string ("scope") or an array of strings ("scp"). */
  scopes: string;
}

export type JwksSource =
  | { kind: 'url'; url: URL; timeoutMs: number; cooldownMs: number; refreshMs: number }
  | { kind: 'file'; path: string };

export interface JwtConfig {
  /** Exact match of "iss". */
  issuer: string;
  /** "aud" must contain one of these. */
  audiences: readonly string[];
  jwks: JwksSource;
  algorithms: readonly JwsAlgorithm[];
  clockSkewS: number;
}

export interface ApiKeyEntry {
  /** Lower-case hex SHA-256 of the key. */
  sha256: string;
  subject: string;
  groups: readonly string[];
  scopes: readonly string[];
}

export interface ApiKeysConfig {
  /** Lower-cased header name. */
  header: string;
  keys: readonly ApiKeyEntry[];
  /** Absolute path of a YAML list of entries, read once by createAuthenticator(). */
  file: string | undefined;
}

export interface AuthConfig {
  /** Requests without credentials are let through as subject "anonymous". */
  anonymous: boolean;
  jwt: JwtConfig | undefined;
  apiKeys: ApiKeysConfig | undefined;
  /** Trust the payload Envoy's jwt_authn filter verified instead of verifying again. */
  envoyJwtAuthn: boolean;
  /** Take the identity of a caller without other credentials from its TLS client certificate (XFCC). */
  mtls: boolean;
  claims: ClaimMapping;
}

export function normalizeApiKeyEntry(e: z.infer<typeof apiKeyEntrySchema>): ApiKeyEntry {
  return { sha256: e.sha256.toLowerCase(), subject: e.subject, groups: e.groups ?? [], scopes: e.scopes ?? [] };
}

/**
 * Applies defaults and resolves file paths against `baseDir` (the config
 * file's folder). An absent `auth:` section means no authentication at all:
 * every caller is anonymous, as before the section existed.
 */
export function normalizeAuth(raw: RawAuthConfig | undefined, baseDir: string, defaultAudiences: readonly string[] = []): AuthConfig {
  const j = raw?.jwt;
  const a = raw?.api_keys;
  const path = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    anonymous: raw === undefined ? true : (raw.anonymous ?? AUTH_DEFAULTS.anonymous),
    envoyJwtAuthn: raw?.envoy_jwt_authn ?? AUTH_DEFAULTS.envoyJwtAuthn,
    mtls: raw?.mtls ?? false,
    claims: {
      subject: j?.subject_claim ?? AUTH_DEFAULTS.subjectClaim,
      groups: j?.groups_claim ?? AUTH_DEFAULTS.groupsClaim,
      scopes: j?.scopes_claim ?? AUTH_DEFAULTS.scopesClaim,
    },
    jwt: j && {
      issuer: j.issuer,
      audiences: j.audiences ?? defaultAudiences,
      jwks:
        j.jwks_url !== undefined
          ? {
              kind: 'url',
              url: new URL(j.jwks_url),
              timeoutMs: j.jwks_timeout_ms ?? AUTH_DEFAULTS.jwksTimeoutMs,
              cooldownMs: (j.jwks_cooldown_s ?? AUTH_DEFAULTS.jwksCooldownS) * 1000,
              refreshMs: (j.jwks_refresh_s ?? AUTH_DEFAULTS.jwksRefreshS) * 1000,
            }
          : { kind: 'file', path: path(j.jwks_file!) },
      algorithms: [...new Set(j.algorithms ?? AUTH_DEFAULTS.algorithms)],
      clockSkewS: j.clock_skew_s ?? AUTH_DEFAULTS.clockSkewS,
    },
    apiKeys: a && {
      header: (a.header ?? AUTH_DEFAULTS.apiKeyHeader).toLowerCase(),
      keys: (a.keys ?? []).map(normalizeApiKeyEntry),
      file: a.file === undefined ? undefined : path(a.file),
    },
  };
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
