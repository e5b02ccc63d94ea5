// Who is calling: one decision per request, from the credentials it carries.
//
// Credentials are tried in a fixed order, and the first one present decides:
//   1. the payload Envoy's jwt_authn filter verified (when envoy_jwt_authn is on);
//   2. `Authorization: Bearer <jwt>`;
//   3. an API key (`Authorization: ApiKey <key>`, or the api_keys header);
//   4. the TLS client certificate Envoy verified (XFCC), when mtls is on.
// A credential that is present but fails refuses the request; it never falls
// through to a later credential or to anonymous. Only a request with no
// credential at all can be anonymous.
import { loadApiKeys, type ApiKeyStore } from './api-keys.js';
import { identityFromClaims } from './claims.js';
import type { AuthConfig } from './config.js';
import { createJwtVerifier, type JwksObserver, type JwtVerifier } from './jwt.js';
import type { AuthFailureReason, AuthRequest, AuthResult, Authenticator, Identity } from './types.js';
import { parseXfcc } from './xfcc.js';

export { wwwAuthenticate, type BearerChallenge } from './www-authenticate.js';
export { AuthSetupError } from './setup-error.js';

/** RFC 6750 b64token (RFC 7235 token68): what a JWT in compact form always matches. */
const TOKEN68 = /^[A-Za-z0-9._~+/-]+=*$/;

const ANONYMOUS: AuthResult = Object.freeze({
  ok: true as const,
  identity: Object.freeze<Identity>({
    subject: 'anonymous',
    issuer: undefined,
    groups: Object.freeze([]) as unknown as string[],
    scopes: Object.freeze([]) as unknown as string[],
    claims: Object.freeze({}),
    method: 'anonymous',
  }),
});

/**
 * Builds the authenticator once: reads the JWKS file and API key file, creates
 * the JWKS cache (and starts its background refresh). Throws AuthSetupError
 * when a file cannot be used.
 */
export async function createAuthenticator(cfg: AuthConfig, jwksObserver?: JwksObserver): Promise<Authenticator> {
  const apiKeys: ApiKeyStore | undefined = cfg.apiKeys ? await loadApiKeys(cfg.apiKeys) : undefined;
  const jwt: JwtVerifier | undefined = cfg.jwt ? await createJwtVerifier(cfg.jwt, cfg.claims, jwksObserver) : undefined;
  const { envoyJwtAuthn, claims } = cfg;

  const noCredentials = cfg.anonymous ? ANONYMOUS : fail('missing_credentials', apiKeys ? `no credentials: send "Authorization: Bearer <token>" or an API key in ${apiKeys.header}` : jwt || envoyJwtAuthn ? 'no credentials: send "Authorization: Bearer <token>"' : 'no credentials');
  const noJwt = fail('invalid_token', 'bearer tokens are not accepted here (no JWT issuer is configured)');
  const emptyBearer = fail('invalid_token', 'the Authorization header says Bearer but carries no token');
  const malformedBearer = fail('invalid_token', 'the bearer token is malformed (expected a JWT: three base64url parts separated by dots)');
  const noApiKeys = fail('invalid_api_key', 'API keys are not accepted here (no api_keys are configured)');
  const schemes = [jwt || envoyJwtAuthn ? 'Bearer' : undefined, apiKeys ? 'ApiKey' : undefined].filter((s) => s !== undefined).join(' or ');

  function bearer(token: string): Promise<AuthResult> | AuthResult {
    if (token === '') return emptyBearer;
    if (!jwt) return noJwt;
    if (!TOKEN68.test(token)) return malformedBearer;
    return jwt.verify(token);
  }

  return {
    async authenticate(req: AuthRequest): Promise<AuthResult> {
      if (envoyJwtAuthn && req.envoyJwtPayload !== undefined) {
        const identity = identityFromClaims(req.envoyJwtPayload, claims, 'envoy_jwt_authn');
        return typeof identity === 'string' ? fail('invalid_token', `Envoy jwt_authn verified a token, but ${identity}`) : { ok: true, identity };
      }
      const h = req.headers;
      const authorization = h['authorization'];
      if (authorization !== undefined) {
        const value = authorization.trim();
        const space = value.indexOf(' ');
        const scheme = (space === -1 ? value : value.slice(0, space)).toLowerCase();
        const credentials = space === -1 ? '' : value.slice(space + 1).trim();
        if (scheme === 'bearer') return bearer(credentials);
        if (scheme === 'apikey') return apiKeys ? apiKeys.check(credentials) : noApiKeys;
        // RFC 6750 §3.1: an unsupported scheme is a request without (usable)
        // authentication. It is still refused, never taken for anonymous.
        return fail('missing_credentials', `the Authorization scheme ${JSON.stringify(scheme.slice(0, 32))} is not accepted${schemes ? `; use ${schemes}` : ''}`);
      }
      if (apiKeys) {
        const key = h[apiKeys.header];
        if (key !== undefined) return apiKeys.check(key.trim());
      }
      if (cfg.mtls) {
        const cert = parseXfcc(h['x-forwarded-client-cert']);
        if (cert) {
          // A SPIFFE id (URI SAN) names a workload better than a DN; fall back to the subject.
          const subject = cert.uri[0] ?? cert.subject ?? `sha256:${cert.hash}`;
          const claims = { uri: cert.uri, dns: cert.dns, ...(cert.subject !== undefined && { subject_dn: cert.subject }), ...(cert.hash !== undefined && { hash: cert.hash }) };
          return { ok: true, identity: { subject, issuer: undefined, groups: [], scopes: [], claims, method: 'mtls' } };
        }
      }
      return noCredentials;
    },
    close(): void {
      jwt?.close();
    },
    keysUnavailable: async () => jwt?.keysUnavailable(),
  };
}

function fail(reason: AuthFailureReason, message: string): AuthResult {
  return Object.freeze({ ok: false, reason, message });
}
