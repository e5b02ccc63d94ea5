// What one approval covers: the SHA-256 of the canonical JSON (RFC 8785) of who calls,
// on which server, which tool (prompt, resource) and with exactly which arguments. Any
// other caller, target or argument value is another digest, so not covered.
import { digestOf } from '../integrity/definition.js';

export interface CallFacts {
  /** callerKey(identity): auth method, issuer and subject. */
  caller: string;
  server: string;
  method: string;
  target: { kind: string; name: string };
  /** The call's arguments as sent (params.arguments; undefined for resources/read). */
  arguments: unknown;
}

export function callDigest(c: CallFacts): string {
  return digestOf({ v: 1, caller: c.caller, server: c.server, method: c.method, target: c.target, arguments: c.arguments ?? null });
}
