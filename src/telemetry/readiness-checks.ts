// What "ready" means for the sidecar, one check each: the config is compiled and every
// policy bundle loaded, the JWKS fetched at least once (jwt auth with a JWKS URL), the
// audit file can be appended to (file sink), and it is not draining.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { GatewayConfig } from '../config/types.js';
import type { GatewayRuntime } from '../gateway/runtime.js';
import type { ReadinessCheck } from './readiness.js';

export interface SidecarState {
  /** Undefined until createRuntime() has compiled the config and loaded the policy bundles. */
  runtime(): GatewayRuntime | undefined;
  draining(): boolean;
  /** The audit file the sidecar appends to (file sink), if any. */
  auditFile: string | undefined;
}

/** `current()`: the config in force (a live reload replaces it; the audit sink is fixed at start). */
export function sidecarChecks(current: () => GatewayConfig, state: SidecarState): ReadinessCheck[] {
  const config = current();
  const bundles = () => new Set(current().servers.map((s) => s.policyBundle).filter((p) => p !== undefined)).size;
  const checks: ReadinessCheck[] = [{ name: 'config', check: () => (state.runtime() ? undefined : `${config.source} not compiled yet`) }];
  // createRuntime() fails unless every bundle loads; a failed reload later keeps the last good one in force.
  checks.push({ name: 'policy', check: () => (state.runtime() || bundles() === 0 ? undefined : `${bundles()} bundle(s) not loaded yet`) });
  checks.push({
    name: 'jwks',
    check: async () => (current().auth.jwt?.jwks.kind !== 'url' ? undefined : ((await state.runtime()?.authenticator?.keysUnavailable()) ?? (state.runtime() ? undefined : 'not fetched yet'))),
  });
  if (config.audit.sink === 'file' && state.auditFile) checks.push(auditFileCheck(state.auditFile));
  checks.push({ name: 'draining', check: () => (state.draining() ? 'the sidecar is shutting down' : undefined) });
  return checks;
}

/**
 * The audit file can be opened for appending, as it is (no O_CREAT: a file moved or
 * deleted under the sidecar is reported, not recreated empty while the sidecar keeps
 * writing to the old inode).
 */
export function auditFileCheck(file: string): ReadinessCheck {
  return {
    name: 'audit',
    async check() {
      try {
        await (await open(file, constants.O_WRONLY | constants.O_APPEND)).close();
        return undefined;
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'ENOENT') return `${file} does not exist (moved or deleted?): audit events would not reach it`;
        return `${file} cannot be appended to (${e.code ?? e.message})`;
      }
    },
  };
}
