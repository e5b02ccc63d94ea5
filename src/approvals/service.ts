// The approvals of one sidecar: the store, the gate the exchanges ask, and the page's
// listener. Built once at start (a reload keeps them: pending requests survive it).
import { createHmac, randomBytes } from 'node:crypto';
import type { AuditSink } from '../audit/event.js';
import type { GatewayConfig } from '../config/types.js';
import { readSecret } from '../credentials/secret.js';
import type { Authenticator } from '../identity/types.js';
import type { Logger } from '../telemetry/log.js';
import type { ApprovalsConfig } from './config.js';
import { CookieSigner } from './cookies.js';
import { ApprovalGate } from './gate.js';
import { startApprovalListener, type ApprovalListener } from './http.js';
import { MemoryApprovalStore } from './memory-store.js';
import { RedisApprovalStore } from './redis-store.js';
import type { ApprovalStore } from './store.js';

export interface Approvals {
  readonly gate: ApprovalGate;
  /** Where the page listens (`http://host:port`); undefined in a worker that does not serve it. */
  readonly url: string | undefined;
  close(): Promise<void>;
}

export function createApprovalStore(cfg: ApprovalsConfig, log: Logger): ApprovalStore {
  return cfg.store.kind === 'memory' ? new MemoryApprovalStore() : new RedisApprovalStore(cfg.store, (err) => log.warn({ err: err.message }, 'Redis (approvals) unavailable'));
}

/**
 * The sign-in cookies' key: derived from sessions.key when it is set (so every replica reads
 * every replica's cookies), else random for this process (one replica; a restart signs everyone out).
 */
async function cookieKey(config: GatewayConfig, log: Logger): Promise<Buffer> {
  if (!config.sessions.key) {
    if (config.approvals!.store.kind === 'redis') log.warn('approvals: sessions.key_file/key_env not set: approvers signed in at one replica are not signed in at the others');
    return randomBytes(32);
  }
  const first = (await readSecret(config.sessions.key, 'sessions key')).split(/\r?\n/).map((k) => k.trim()).find(Boolean) ?? '';
  return createHmac('sha256', first).update('mcp-gateway approvals sign-in cookie').digest();
}

export async function startApprovals(config: GatewayConfig, audit: AuditSink, log: Logger, authenticator: () => Authenticator | undefined): Promise<Approvals> {
  const cfg = config.approvals!;
  const store = createApprovalStore(cfg, log);
  const gate = new ApprovalGate(cfg, store, audit, (message) => log.warn(message));
  if (!cfg.servePage) return { gate, url: undefined, close: () => store.close() };
  const signer = new CookieSigner(await cookieKey(config, log), cfg.publicUrl.startsWith('https:'));
  let listener: ApprovalListener;
  try {
    listener = await startApprovalListener(cfg.listen, { gate, audit, signer, authenticator });
  } catch (err) {
    await store.close();
    throw err;
  }
  log.info({ url: listener.url, public_url: cfg.publicUrl, store: cfg.store.kind }, 'approval page listening');
  return {
    gate,
    url: listener.url,
    close: async () => {
      await listener.close();
      await store.close();
    },
  };
}
