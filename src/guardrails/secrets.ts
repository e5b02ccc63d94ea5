// Secrets in tool results: the value patterns audit redaction already uses (src/audit/redact.ts:
// PEM private keys, JWTs, bearer tokens, credentials in URLs, GitHub, GitLab, Slack, AWS,
// Stripe, OpenAI/Anthropic, Google and npm tokens), so a secret the audit trail would hide
// is also hidden from the model. Formats without a recognisable shape (a random password,
// a hex key) are not found.
import { DEFAULT_VALUE_PATTERNS } from '../audit/redact.js';
import { regexScanner, type TextScanner } from './scanner.js';

export function secretScanner(): TextScanner {
  return regexScanner(
    'secrets',
    Object.entries(DEFAULT_VALUE_PATTERNS).map(([kind, pattern]) => ({ kind, pattern })),
  );
}
