// The refusals of the authentication step, with the challenges RFC 6750 / RFC 9728 and
// the MCP authorization spec prescribe. Pure functions of the result and the server's
// OAuth facts.
import type { ServerOAuth } from '../config/types.js';
import type { AuthResult, Identity } from '../identity/types.js';
import { wwwAuthenticate } from '../identity/www-authenticate.js';
import { JsonRpcErrorCode } from '../mcp/errors.js';
import type { Refusal } from './refusal.js';

/** RFC 8707: a token minted for another virtual server (or resource) is not for this one. */
export function checkAudience(r: AuthResult, oauth: ServerOAuth | undefined): AuthResult {
  if (!r.ok || !oauth || (r.identity.method !== 'jwt' && r.identity.method !== 'envoy_jwt_authn')) return r;
  const aud = r.identity.claims.aud;
  if (Array.isArray(aud) ? aud.includes(oauth.resource) : aud === oauth.resource) return r;
  return { ok: false, reason: 'wrong_audience', message: `the token is not meant for this resource: its "aud" does not name ${oauth.resource}` };
}

/** 401 (503 when the key set is unreachable) with the Bearer challenge that starts MCP's OAuth discovery. */
export function authFailure(r: Extract<AuthResult, { ok: false }>, oauth: ServerOAuth | undefined): Refusal {
  const unavailable = r.reason === 'jwks_unavailable';
  const challenge = wwwAuthenticate({
    ...(oauth && { resourceMetadata: oauth.metadataUrl }),
    ...(oauth?.scopesSupported.length && { scope: oauth.scopesSupported.join(' ') }),
    // RFC 6750 §3.1: no error code when the request carried no credentials at all.
    ...(r.reason !== 'missing_credentials' && { error: 'invalid_token', errorDescription: r.message }),
  });
  return {
    reason: r.reason,
    httpStatus: unavailable ? 503 : 401,
    rpcCode: JsonRpcErrorCode.Unauthorized,
    rpcId: null,
    message: r.message,
    headers: unavailable ? [['retry-after', '5']] : [['www-authenticate', challenge]],
  };
}

/** 403 insufficient_scope (step-up) when the token lacks a required scope; undefined when it has them all. */
export function scopeFailure(identity: Identity, oauth: ServerOAuth | undefined): Refusal | undefined {
  if (!oauth?.requiredScopes.length) return undefined;
  const missing = oauth.requiredScopes.filter((s) => !identity.scopes.includes(s));
  if (!missing.length) return undefined;
  const scope = oauth.requiredScopes.join(' ');
  return {
    reason: 'insufficient_scope',
    httpStatus: 403,
    rpcCode: JsonRpcErrorCode.Forbidden,
    rpcId: null,
    message: `the token lacks the scope(s) ${missing.join(' ')}`,
    headers: [['www-authenticate', wwwAuthenticate({ error: 'insufficient_scope', scope, resourceMetadata: oauth.metadataUrl, errorDescription: `requires scope ${scope}` })]],
  };
}
