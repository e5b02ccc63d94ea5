// Reads a secret named by config (a file or an environment variable) once, at start-up.
// The value never appears in config dumps, logs or audit events: only where it came from.
import { readFile } from 'node:fs/promises';

export interface SecretRef {
  file?: string | undefined;
  env?: string | undefined;
}

export class SecretError extends Error {
  override name = 'SecretError';
}

export async function readSecret(ref: SecretRef, what: string): Promise<string> {
  if (ref.file !== undefined) {
    const v = (await readFile(ref.file, 'utf8').catch((e: Error) => Promise.reject(new SecretError(`${what}: cannot read ${ref.file}: ${e.message}`)))).trim();
    if (!v) throw new SecretError(`${what}: ${ref.file} is empty`);
    return v;
  }
  if (ref.env !== undefined) {
    const v = process.env[ref.env]?.trim();
    if (!v) throw new SecretError(`${what}: environment variable ${ref.env} is not set`);
    return v;
  }
  throw new SecretError(`${what}: name a file or an environment variable`);
}
