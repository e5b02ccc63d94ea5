// API keys: the config holds only SHA-256 hashes; a presented key is hashed
// and looked up. Everything but that hash is computed once at load.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { apiKeyListSchema, normalizeApiKeyEntry, type ApiKeyEntry, type ApiKeysConfig } from './config.js';
import { AuthSetupError } from './setup-error.js';
import type { AuthResult, Identity } from './types.js';

export interface ApiKeyStore {
  /** Lower-cased header that carries a key (besides `Authorization: ApiKey <key>`). */
  readonly header: string;
  /** The identity the key belongs to, or invalid_api_key. */
  check(key: string): AuthResult;
}

interface StoredKey {
  hash: Buffer;
  /** Built once and frozen: every request with this key gets the same object. */
  result: AuthResult;
}

const EMPTY_KEY: AuthResult = Object.freeze({ ok: false, reason: 'invalid_api_key', message: 'the API key is empty' });
const UNKNOWN_KEY: AuthResult = Object.freeze({ ok: false, reason: 'invalid_api_key', message: 'the API key is not recognised' });

/** Reads `cfg.file` (once) and indexes every key by its hash. */
export async function loadApiKeys(cfg: ApiKeysConfig): Promise<ApiKeyStore> {
  const entries = [...cfg.keys];
  if (cfg.file !== undefined) {
    const fromFile = await readKeyFile(cfg.file);
    const inline = new Map(cfg.keys.map((k, i) => [k.sha256, i]));
    fromFile.forEach((k, i) => {
      const j = inline.get(k.sha256);
      if (j !== undefined) throw new AuthSetupError(cfg.file!, `[${i}].sha256: the same key hash as auth.api_keys.keys[${j}]`);
    });
    entries.push(...fromFile);
  }

  // Looking the key up by its hash in a Map is not a timing oracle worth the
  // name: the caller chooses the key, not its SHA-256, so the time a lookup
  // takes tells them about hash bytes they cannot steer towards a stored
  // hash (that would need a preimage). The final comparison of the full
  // digest is constant-time regardless.
  const byHash = new Map<string, StoredKey>();
  for (const e of entries) byHash.set(e.sha256, { hash: Buffer.from(e.sha256, 'hex'), result: frozenResult(e) });

  return {
    header: cfg.header,
    check(key: string): AuthResult {
      if (key === '') return EMPTY_KEY;
      const digest = createHash('sha256').update(key, 'utf8').digest();
      const stored = byHash.get(digest.toString('hex'));
      if (stored === undefined || !timingSafeEqual(digest, stored.hash)) return UNKNOWN_KEY;
      return stored.result;
    },
  };
}

async function readKeyFile(file: string): Promise<ApiKeyEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new AuthSetupError(file, `cannot read the API key file: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new AuthSetupError(file, `YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const parsed = apiKeyListSchema.safeParse(raw ?? []);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const path = issue.path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('');
      const message = issue.code === 'invalid_type' && issue.path.length === 0 ? 'expected a YAML list of { sha256, subject, groups, scopes } entries' : issue.message;
      return `${path || '(top level)'}: ${message}`;
    });
    throw new AuthSetupError(file, problems.join('; '));
  }
  return parsed.data.map(normalizeApiKeyEntry);
}

function frozenResult(e: ApiKeyEntry): AuthResult {
  const identity: Identity = Object.freeze({
    subject: e.subject,
    issuer: undefined,
    groups: Object.freeze([...e.groups]) as string[],
    scopes: Object.freeze([...e.scopes]) as string[],
    claims: Object.freeze({}),
    method: 'api_key' as const,
  });
  return Object.freeze({ ok: true as const, identity });
}
