// Who the caller is: the value the identity concern hands to the rest of the
// sidecar. Plain data; nothing here knows of Envoy, gRPC or jose.

export type AuthMethod = 'jwt' | 'api_key' | 'envoy_jwt_authn' | 'mtls' | 'anonymous';

/**
 * An authenticated caller. Treat it as read-only: identities built at start-up
 * (API keys, anonymous) are frozen and shared between requests.
 */
export interface Identity {
  /** "anonymous" for anonymous callers. */
  subject: string;
  issuer: string | undefined;
  groups: string[];
  scopes: string[];
  /** Raw verified claims ({} for API keys and anonymous callers). */
  claims: Record<string, unknown>;
  method: AuthMethod;
}

export type AuthFailureReason =
  | 'missing_credentials'
  | 'invalid_token'
  | 'expired_token'
  | 'token_not_yet_valid'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'unsupported_algorithm'
  | 'unknown_key'
  | 'invalid_api_key'
  | 'jwks_unavailable';

export type AuthResult =
  | { ok: true; identity: Identity }
  /** `message` is precise and safe to return to the caller: it never echoes the token or key. */
  | { ok: false; reason: AuthFailureReason; message: string };

export interface AuthRequest {
  /** Lower-cased header name → value (the gateway's HeaderBag). */
  headers: Record<string, string>;
  /** Claims Envoy's jwt_authn filter verified (payload_in_metadata), if any. */
  envoyJwtPayload?: Record<string, unknown> | undefined;
}

export interface Authenticator {
  authenticate(req: AuthRequest): Promise<AuthResult>;
  /** Stops background work (JWKS refresh). Requests still in flight complete. */
  close(): void;
  /** Undefined when the keys it needs are in hand (JWKS fetched); otherwise why not. For readiness. */
  keysUnavailable(): Promise<string | undefined>;
}
