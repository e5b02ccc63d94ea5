// What an upstream receives instead of the caller's credentials: nothing, a static
// secret of its own, or a per-caller token from RFC 8693 token exchange.
import type { UpstreamAuthConfig } from '../config/types.js';
import { readSecret } from './secret.js';
import { TokenExchanger, TokenExchangeError, type TokenExchangeObserver } from './token-exchange.js';

export type BrokerResult = { ok: true; headers: readonly [string, string][] } | { ok: false; status: number; reason: 'credential_unavailable' | 'token_exchange_failed'; message: string };

export interface CredentialBroker {
  /** Upstream headers for a caller whose bearer token (if any) is `callerToken`. */
  headersFor(callerToken: string | undefined): BrokerResult | Promise<BrokerResult>;
}

export async function createBroker(cfg: UpstreamAuthConfig, server: string, observer?: TokenExchangeObserver): Promise<CredentialBroker | undefined> {
  if (cfg.kind === 'none') return undefined;
  if (cfg.kind === 'static') {
    const value = await readSecret(cfg.secret, `servers "${server}" upstream_auth.static`);
    const fixed: BrokerResult = Object.freeze({ ok: true, headers: Object.freeze([[cfg.header, `${cfg.prefix}${value}`] as [string, string]]) });
    return { headersFor: () => fixed };
  }
  const secret = await readSecret(cfg.clientSecret, `servers "${server}" upstream_auth.token_exchange client secret`);
  const exchanger = new TokenExchanger({ tokenEndpoint: cfg.tokenEndpoint, clientId: cfg.clientId, clientSecret: secret, audience: cfg.audience, scope: cfg.scope, timeoutMs: cfg.timeoutMs }, Date.now, observer);
  return {
    headersFor(callerToken) {
      if (!callerToken) {
        return { ok: false, status: 403, reason: 'credential_unavailable', message: `server "${server}" needs an OAuth access token to exchange; this caller presented none` };
      }
      return exchanger.exchange(callerToken).then(
        (token): BrokerResult => ({ ok: true, headers: [['authorization', `Bearer ${token}`]] }),
        (err: unknown): BrokerResult => {
          const refused = err instanceof TokenExchangeError && err.refused;
          return { ok: false, status: refused ? 403 : 502, reason: 'token_exchange_failed', message: (err as Error).message };
        },
      );
    },
  };
}
