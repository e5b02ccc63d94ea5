// What audit redaction costs per event: the pattern redactor with the built-in names
// and value patterns, against the old exact-key redactor measured in the same run.
//
//   npm run bench:redact            (BENCH_MS=2000 for longer points)
import { createRedactor, DEFAULT_SECRET_NAMES, DEFAULT_VALUE_PATTERNS, type Redactor } from '../src/audit/redact.js';

const MIN_MS = Number(process.env.BENCH_MS ?? 1000);

/** The redactor this replaced: exact key names, case-insensitive, any depth. */
function exactKeyRedactor(keys: readonly string[]): Redactor {
  const set = new Set(keys.map((k) => k.toLowerCase()));
  const walk = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (depth >= 32) return '[TRUNCATED]';
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      Object.defineProperty(out, k, { value: set.has(k.toLowerCase()) ? '[REDACTED]' : walk(x, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  return (v) => walk(v, 0);
}
const OLD_DEFAULTS = ['password', 'passwd', 'secret', 'token', 'access_token', 'refresh_token', 'api_key', 'apikey', 'authorization', 'cookie', 'private_key'];

function bench(fn: () => unknown): number {
  for (let i = 0; i < 500; i++) fn(); // warm up
  let ops = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  const minNs = BigInt(MIN_MS) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < minNs) {
    for (let i = 0; i < 20; i++) sink += fn() === undefined ? 0 : 1;
    ops += 20;
    elapsed = process.hrtime.bigint() - start;
  }
  if (sink < 0) console.log(sink);
  return Number(elapsed) / 1e3 / ops;
}

const text = (n: number) => 'The quick brown fox jumps over the lazy dog; see https://example.com/docs?id=42 for more. '.repeat(Math.ceil(n / 90)).slice(0, n);
const typical = {
  query: 'select id, total from orders where customer_id = 42 order by created_at desc',
  limit: 50,
  options: { format: 'json', include_archived: false, timezone: 'Europe/Paris' },
  tags: ['billing', 'eu', 'priority'],
  api_key: 'k-1234567890',
  auth: { user: 'svc-reporting', password: 'hunter2' },
};

// Fresh key names on every call (more than the redactor's memo holds): the cold path.
const fresh = Array.from({ length: 8192 }, (_, i) => ({ [`field_${i}_a`]: 'x', [`Field${i}B`]: 1, [`field.${i}.c`]: { [`deep_${i}`]: 'y' } }));
let f = 0;

const cases: [string, unknown | (() => unknown)][] = [
  ['tools/call, typical arguments (6 keys, nested, 2 secrets)', typical],
  ['prompts/get, { city, days }', { city: 'Paris', days: '3' }],
  ['completion argument { name: "password", value }', { name: 'password', value: 'hun' }],
  ['tools/call with a 10 KB text argument', { path: '/tmp/notes.md', content: text(10_000) }],
  ['tools/call with a 100 KB text argument', { path: '/tmp/notes.md', content: text(100_000) }],
  ['never-seen keys each call (memo misses)', () => fresh[f++ % fresh.length]],
];

const before = exactKeyRedactor(OLD_DEFAULTS);
const after = createRedactor({ names: DEFAULT_SECRET_NAMES, values: Object.values(DEFAULT_VALUE_PATTERNS) });
const namesOnly = createRedactor({ names: DEFAULT_SECRET_NAMES });

console.log(`audit redaction, µs per event (Node ${process.version}, ${MIN_MS} ms per point)\n`);
console.log(`${'arguments'.padEnd(58)} ${'exact keys (old)'.padStart(17)} ${'names'.padStart(9)} ${'names+values'.padStart(13)} ${'× old'.padStart(7)}`);
for (const [name, input] of cases) {
  const get = typeof input === 'function' ? (input as () => unknown) : () => input;
  const old = bench(() => before(get()));
  const n = bench(() => namesOnly(get()));
  const all = bench(() => after(get()));
  console.log(`${name.padEnd(58)} ${old.toFixed(2).padStart(17)} ${n.toFixed(2).padStart(9)} ${all.toFixed(2).padStart(13)} ${(all / old).toFixed(1).padStart(6)}×`);
}
