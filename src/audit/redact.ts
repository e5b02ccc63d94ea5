// Redacts argument values by key name (case-insensitive, at any depth) before an
// audit event is written. The key set is compiled once per config.

export const REDACTED = '[REDACTED]';
const MAX_DEPTH = 32;

export type Redactor = (value: unknown) => unknown;

export function createRedactor(keys: readonly string[]): Redactor {
  const set = new Set(keys.map((k) => k.toLowerCase()));
  const walk = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (depth >= MAX_DEPTH) return '[TRUNCATED]';
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      Object.defineProperty(out, k, { value: set.has(k.toLowerCase()) ? REDACTED : walk(x, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  return set.size === 0 ? (v) => v : (v) => walk(v, 0);
}
