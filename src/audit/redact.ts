// What an audit event must not record in clear. A redactor is compiled once per
// config (and once per policy `redact` list) and applied to each event's arguments.
//
// Names. A key is normalised to words: canonicalName (NFKC, invisible characters
// removed, trimmed), split at camelCase and letter/digit boundaries and at every
// character that is not a letter or digit, lower-cased: `dbPassword`, `DB-PASSWORD`,
// `db_password` and `ｄｂ\u200bpassword` are all "db password". All name patterns are
// one RegExp over that word string. A secret key's whole value (string, number,
// object, array: a secret parent hides its subtree) becomes "[REDACTED]"; `null` and
// booleans are kept (they say whether, not what).
//
// Pairs. An object whose own string `name` (or `key`) is a secret name has its `value`
// redacted: completion/complete's `{ name: "password", value }`, env lists, header lists.
//
// Values. Every other string is searched for secret-looking substrings (PEM private
// keys, JWTs, well-known token prefixes, ...; one RegExp); each match is replaced.
import { canonicalName } from '../curation/canonical.js';

export const REDACTED = '[REDACTED]';
const MAX_DEPTH = 32;

export type Redactor = (value: unknown) => unknown;

export interface RedactionSpec {
  /** Secret-name patterns: words, or globs of words (see compileNamePattern). */
  names: readonly string[];
  /** Value patterns: JavaScript RegExp sources, case-sensitive, without backreferences. */
  values?: readonly string[];
}

/**
 * Built-in secret names. Word patterns match whole words (`pass` is not `passenger`
 * or `compass`, `auth` is not `author`); the few globs catch separator-less
 * compounds (`dbpassword`, `accesstoken`, `clientsecret`).
 */
export const DEFAULT_SECRET_NAMES: readonly string[] = [
  'password', '*password*', 'passwd', '*passwd*', 'pass', 'pwd', 'passphrase', '*passphrase*', 'passcode',
  'secret', 'secrets', '*secret',
  'token', '*token',
  'api key', '*apikey', 'access key', 'secret key', 'private key', '*privatekey', 'signing key', 'encryption key', 'master key',
  'credential', 'credentials', 'creds', '*credential', '*credentials',
  'auth', 'authorization', 'bearer',
  'cookie', 'cookies', 'session', 'sessionid',
  'otp', 'totp', 'mfa code',
  'connection string', 'dsn',
  'ssn', 'social security number', 'card number', 'cvv', 'cvc',
];

/** Built-in value patterns, by name (the names are for documentation and tests). */
export const DEFAULT_VALUE_PATTERNS: Readonly<Record<string, string>> = {
  pem_private_key: '-----BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----[\\s\\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|$)',
  jwt: '\\beyJ[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]*',
  bearer: '\\b(?:[Bb]earer|BEARER)\\s+[A-Za-z0-9._~+/-]{12,}=*',
  url_userinfo: '://[^\\s/?#@:]+:[^\\s/?#@]+@',
  github: '\\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})',
  gitlab: '\\bglpat-[A-Za-z0-9_-]{20,}',
  slack: '\\bxox[abeprs]-[A-Za-z0-9-]{10,}',
  aws_access_key_id: '\\b(?:AKIA|ASIA)[A-Z0-9]{16}\\b',
  stripe: '\\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}',
  openai_anthropic: '\\bsk-[A-Za-z0-9_-]{20,}',
  google_api_key: '\\bAIza[0-9A-Za-z_-]{35}',
  npm: '\\bnpm_[A-Za-z0-9]{36}',
};

/** The words of a name, lower-case, joined by single spaces ("" when it has none). */
export function nameWords(name: string): string {
  // Printable ASCII (most keys) is already canonical; the ASCII expressions are faster.
  if (PRINTABLE_ASCII.test(name)) {
    return name
      .replace(/([a-z0-9])(?=[A-Z])/g, '$1 ')
      .replace(/([A-Z])(?=[A-Z][a-z])/g, '$1 ')
      .replace(/([A-Za-z])(?=[0-9])|([0-9])(?=[A-Za-z])/g, '$1$2 ')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, ' ')
      .trim();
  }
  return splitWords(canonicalName(name), /[^\p{L}\p{N}]+/gu);
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function splitWords(s: string, separators: RegExp): string {
  return s
    .replace(/(\p{Ll}|\p{N})(?=\p{Lu})/gu, '$1 ') // dbPassword → db Password
    .replace(/(\p{Lu})(?=\p{Lu}\p{Ll})/gu, '$1 ') // APIKey → API Key
    .replace(/(\p{L})(?=\p{N})|(\p{N})(?=\p{L})/gu, '$1$2 ') // password2 → password 2
    .toLowerCase()
    .replace(separators, ' ')
    .trim();
}

const escapeChar = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * The RegExp source (over nameWords) of one name pattern, or undefined when the
 * pattern has no words. A pattern without `*`/`?` matches when its words, joined,
 * equal a run of consecutive words of the key, joined: `api key` matches `apiKey`,
 * `x.api.key` and `apikey`. A glob's words are matched one to one against a run of
 * consecutive words of the key, `*` standing for any run of characters within a
 * word and `?` for one: `*token` matches `accesstoken` and `csrf_token`, not `tokens`.
 */
export function compileNamePattern(pattern: string): string | undefined {
  const isGlob = /[*?]/.test(pattern);
  const words = splitWords(canonicalName(pattern), isGlob ? /[^\p{L}\p{N}*?]+/gu : /[^\p{L}\p{N}]+/gu);
  if (words === '') return undefined;
  const body = isGlob
    ? words
        .split(' ')
        .map((w) => [...w].map((c) => (c === '*' ? '[^ ]*' : c === '?' ? '[^ ]' : escapeChar(c))).join(''))
        .join(' ')
    : [...words.replaceAll(' ', '')].map(escapeChar).join(' ?');
  return `(?:^| )${body}(?= |$)`;
}

/** Why a value pattern cannot be used, or undefined when it can. */
export function valuePatternProblem(source: string): string | undefined {
  try {
    new RegExp(source, 'g');
  } catch (err) {
    return `not a valid regular expression: ${(err as Error).message}`;
  }
  if (/\\[1-9]|\\k</.test(source)) return 'backreferences are not supported (all value patterns are combined into one expression)';
  if (new RegExp(`(?:${source})`).test('')) return 'the pattern matches the empty string';
  return undefined;
}

/** A predicate "is this a secret name?", compiled from name patterns (with a bounded memo). */
export function createNameMatcher(patterns: readonly string[]): (name: string) => boolean {
  const sources = [...new Set(patterns.map(compileNamePattern).filter((s): s is string => s !== undefined))];
  if (sources.length === 0) return () => false;
  const re = new RegExp(sources.join('|'), 'u');
  // Keys repeat from event to event; remember the last few thousand verdicts.
  const memo = new Map<string, boolean>();
  return (name) => {
    let hit = memo.get(name);
    if (hit === undefined) {
      hit = re.test(nameWords(name));
      if (memo.size >= 4096) memo.clear();
      memo.set(name, hit);
    }
    return hit;
  };
}

// A match keeps what names it: "Bearer <token>" becomes "Bearer [REDACTED]" and
// "://user:pass@" becomes "://[REDACTED]@". (Prefixes rather than lookbehinds: a
// lookbehind at every position makes the combined expression several times slower.)
const SCHEME = /^((?:[Bb]earer|BEARER)\s+)/;
function replacement(m: string): string {
  if (m.startsWith('://') && m.endsWith('@')) return `://${REDACTED}@`;
  const scheme = SCHEME.exec(m);
  return scheme ? scheme[1] + REDACTED : REDACTED;
}

function compileValues(sources: readonly string[]): ((s: string) => string) | undefined {
  const usable = [...new Set(sources)].filter((s) => valuePatternProblem(s) === undefined);
  if (usable.length === 0) return undefined;
  // One expression, one pass per string; most strings do not match and are returned as they are.
  const re = new RegExp(usable.map((s) => `(?:${s})`).join('|'), 'g');
  return (s) => {
    if (s.length < 8) return s;
    re.lastIndex = 0;
    if (!re.test(s)) return s;
    re.lastIndex = 0;
    return s.replace(re, replacement);
  };
}

const own = Object.prototype.hasOwnProperty;

export function createRedactor(spec: RedactionSpec): Redactor {
  const hasNames = spec.names.some((p) => compileNamePattern(p) !== undefined);
  const isSecret = createNameMatcher(spec.names);
  const scrub = compileValues(spec.values ?? []);
  if (!hasNames && !scrub) return (v) => v;

  const secretPair = (o: object): boolean => {
    const r = o as Record<string, unknown>;
    return (own.call(r, 'value') && ((own.call(r, 'name') && typeof r.name === 'string' && isSecret(r.name)) || (own.call(r, 'key') && typeof r.key === 'string' && isSecret(r.key))));
  };
  const hide = (x: unknown): unknown => (x === null || typeof x === 'boolean' ? x : REDACTED);
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return scrub ? scrub(v) : v;
    if (v === null || typeof v !== 'object') return v;
    if (depth >= MAX_DEPTH) return '[TRUNCATED]';
    if (Array.isArray(v)) {
      const out = new Array<unknown>(v.length);
      for (let i = 0; i < v.length; i++) out[i] = walk(v[i], depth + 1);
      return out;
    }
    const pair = hasNames && secretPair(v);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      const x = (v as Record<string, unknown>)[k];
      const value = (hasNames && isSecret(k)) || (pair && k === 'value') ? hide(x) : walk(x, depth + 1);
      // defineProperty: an own "__proto__" key stays a plain key.
      Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  return (v) => walk(v, 0);
}
