// From verified claims (a JWT payload or Envoy jwt_authn's) to an Identity.
import type { ClaimMapping } from './config.js';
import type { AuthMethod, Identity } from './types.js';

const SPACES = / +/;

/**
 * The identity the claims describe, or a message saying why they describe none.
 * Values of the wrong type count as absent: a malformed groups claim grants no
 * groups rather than failing the request.
 */
export function identityFromClaims(claims: Record<string, unknown>, map: ClaimMapping, method: AuthMethod): Identity | string {
  const subject = claims[map.subject];
  if (typeof subject !== 'string' || subject === '') return `the token has no "${map.subject}" claim naming the caller`;
  const iss = claims.iss;
  return {
    subject,
    issuer: typeof iss === 'string' ? iss : undefined,
    groups: stringList(claims[map.groups], false),
    scopes: stringList(claims[map.scopes], true),
    claims,
    method,
  };
}

/** An array claim's strings, or a string claim as one value (or space-separated values when `split`). */
function stringList(v: unknown, split: boolean): string[] {
  if (typeof v === 'string') {
    if (!split) return v === '' ? [] : [v];
    const parts = v.split(SPACES);
    return parts.filter((p) => p !== '');
  }
  if (Array.isArray(v)) {
    const out: string[] = [];
    for (const x of v) if (typeof x === 'string' && x !== '') out.push(x);
    return out;
  }
  return [];
}
