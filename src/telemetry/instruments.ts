// What the runtime's parts report to metrics, as the small observer interfaces each
// module declares for itself. GatewayMetrics implements it; every part works without
// one (tests, embedding), so none of them imports prom-client.
import type { PolicyObserver } from '../policy/engine.js';
import type { JwksObserver } from '../identity/jwt.js';
import type { TokenExchangeObserver } from '../credentials/token-exchange.js';

export interface Instruments extends JwksObserver {
  /** The observer of one policy bundle's evaluations. */
  policyObserver(bundle: string): PolicyObserver;
  /** A bundle was put in force (at start-up, or `reload`ed after a change). */
  policyBundleLoaded(bundle: string, revision: string, reload: boolean): void;
  /** A changed bundle could not be loaded (the last good one stays in force). */
  policyBundleFailed(bundle: string): void;
  /** The observer of one server's token exchanges. */
  tokenExchangeObserver(server: string): TokenExchangeObserver;
}
