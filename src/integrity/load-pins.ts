// Reads the lockfiles of the servers that pin or validate, once at start-up, and
// compiles each server's pins. A lockfile that is missing, malformed, tampered with (a
// digest that is not its definition's) or has no entry for a pinned server stops the
// start: pinning that silently did nothing would be worse than none.
import type { GatewayConfig } from '../config/types.js';
import type { Logger } from '../telemetry/log.js';
import { readLockfile, LockfileError, type Lockfile } from './lockfile.js';
import { ServerPins } from './pins.js';

export async function loadPins(config: GatewayConfig, log: Logger): Promise<Map<string, ServerPins>> {
  const files = new Map<string, Lockfile>();
  const out = new Map<string, ServerPins>();
  for (const s of config.servers) {
    const { pinning, validateArguments, lockfile } = s.integrity;
    if ((pinning === 'off' && validateArguments === 'off') || lockfile === undefined) continue;
    let lock = files.get(lockfile);
    if (!lock) files.set(lockfile, (lock = await readLockfile(lockfile)));
    const mine = lock.servers.get(s.name);
    if (!mine) throw new LockfileError(`${lockfile} has no entry for server "${s.name}" (pinning: ${pinning}, validate_arguments: ${validateArguments}): run mcp-gateway tools lock --config ${config.source} --server ${s.name}`);
    const pins = new ServerPins(mine, pinning, validateArguments === 'enforce');
    for (const u of pins.uncompilable) log.warn({ server: s.name, tool: u.name, problem: u.error }, 'validate_arguments: calls to this tool are refused (its pinned inputSchema cannot be validated against)');
    for (const t of pins.unparsableTemplates) log.warn({ server: s.name, template: t.template, problem: t.error }, 'pinning: this resource template cannot be parsed (RFC 6570), so no URI is an instance of it');
    out.set(s.name, pins);
  }
  return out;
}
