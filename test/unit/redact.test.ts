// Audit redaction: secret names (normalised, word-bounded, any depth), name/value
// pairs, value patterns, the config that shapes them, and properties over random input.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  createRedactor,
  createNameMatcher,
  nameWords,
  DEFAULT_SECRET_NAMES,
  DEFAULT_VALUE_PATTERNS,
  REDACTED,
} from '../../src/audit/redact.js';
import { parseConfig, ConfigError } from '../../src/config/load.js';

const minimal = `servers:\n  - name: everything\n    url: http://127.0.0.1:3001/mcp\n`;
const defaults = createRedactor({ names: DEFAULT_SECRET_NAMES, values: Object.values(DEFAULT_VALUE_PATTERNS) });
const isSecret = createNameMatcher(DEFAULT_SECRET_NAMES);

describe('names are normalised to words', () => {
  const table: [string, string][] = [
    ['db_password', 'db password'],
    ['dbPassword', 'db password'],
    ['DB-PASSWORD', 'db password'],
    ['x.api.key', 'x api key'],
    ['APIKey', 'api key'],
    ['password2', 'password 2'],
    ['  client secret ', 'client secret'],
    ['ｄｂ＿ｐａｓｓｗｏｒｄ', 'db password'], // full-width letters and low line
    ['pass\u200bword', 'password'], // zero-width space
    ['pa\u00adss', 'pass'], // soft hyphen
    ['\ufeffto\u2066ken\u202e', 'token'], // BOM, bidi isolate, bidi override
    ['se\u200dcret\u2060', 'secret'], // zero-width joiner, word joiner
    ['---', ''],
  ];
  for (const [name, words] of table) test(JSON.stringify(name), () => assert.equal(nameWords(name), words));
});

describe('default secret names (and the words that only look like them)', () => {
  const secret = [
    'password', 'Password', 'db_password', 'dbPassword', 'DB-PASSWORD', 'dbpassword', 'user.password', 'passwd', 'pass', 'PASS', 'pwd',
    'passphrase', 'keyPassphrase', 'client_secret', 'clientSecret', 'clientsecret', 'secret', 'SECRETS', 'token', 'access_token',
    'accessToken', 'accesstoken', 'refresh-token', 'id_token', 'csrftoken', 'api_key', 'apiKey', 'API-KEY', 'apikey', 'x-api-key', 'x.api.key',
    'aws_access_key_id', 'secret_key', 'private_key', 'privateKey', 'signing key', 'credential', 'credentials', 'creds', 'auth', 'basic_auth',
    'Authorization', 'authorization_code', 'cookie', 'Set-Cookie', 'session', 'session_id', 'sessionId', 'sessionid', 'otp', 'ssn',
    'card_number', 'cvv', 'connection_string', 'dsn', 'bearer',
    'ｐａｓｓｗｏｒｄ', 'pass\u200bword', 'pass\u00adword', 'pass\u202eword', '\ufeffpassword', 'pass\u2066word',
  ];
  const plain = [
    'passenger', 'passengers', 'compass', 'bypass', 'passage', 'author', 'authority', 'authors', 'oauth', 'secretary', 'tokens',
    'max_tokens', 'maxTokens', 'keyword', 'key', 'monkey', 'message', 'city', 'name', 'value', 'path', 'sessions_total', 'description',
  ];
  for (const k of secret) test(`secret: ${JSON.stringify(k)}`, () => assert.equal(isSecret(k), true));
  for (const k of plain) test(`not secret: ${JSON.stringify(k)}`, () => assert.equal(isSecret(k), false));
});

describe('structure', () => {
  const table: { name: string; input: unknown; want: unknown }[] = [
    { name: 'flat', input: { db_password: 'hunter2', user: 'bob' }, want: { db_password: REDACTED, user: 'bob' } },
    { name: 'nested in objects and arrays', input: { a: [{ b: { clientSecret: 's', n: 1 } }] }, want: { a: [{ b: { clientSecret: REDACTED, n: 1 } }] } },
    { name: 'a secret parent hides its subtree', input: { credentials: { user: 'bob', pass: 'x' } }, want: { credentials: REDACTED } },
    { name: 'credentials.pass as a path', input: { login: { pass: 'x', user: 'bob' } }, want: { login: { pass: REDACTED, user: 'bob' } } },
    { name: 'a dotted key', input: { 'credentials.pass': 'x' }, want: { 'credentials.pass': REDACTED } },
    { name: 'secret arrays and numbers', input: { tokens_: ['a'], pin_cvv: 123, cvv: 123 }, want: { tokens_: ['a'], pin_cvv: REDACTED, cvv: REDACTED } },
    { name: 'null and booleans say whether, not what', input: { password: null, token: false, password_required: true }, want: { password: null, token: false, password_required: true } },
    { name: 'completion argument { name, value }', input: { name: 'password', value: 'hunter2' }, want: { name: 'password', value: REDACTED } },
    { name: 'a non-secret completion argument', input: { name: 'city', value: 'Par' }, want: { name: 'city', value: 'Par' } },
    { name: 'env lists', input: { env: [{ name: 'DB_PASSWORD', value: 'x' }, { name: 'HOME', value: '/root' }] }, want: { env: [{ name: 'DB_PASSWORD', value: REDACTED }, { name: 'HOME', value: '/root' }] } },
    { name: 'key/value pairs', input: [{ key: 'Authorization', value: 'Basic dXNlcjpwYXNz' }], want: [{ key: 'Authorization', value: REDACTED }] },
    {
      name: 'completion params: argument and context.arguments',
      input: { ref: { type: 'ref/prompt', name: 'login' }, argument: { name: 'passphrase', value: 'open sesame' }, context: { arguments: { username: 'bob', password: 'x' } } },
      want: { ref: { type: 'ref/prompt', name: 'login' }, argument: { name: 'passphrase', value: REDACTED }, context: { arguments: { username: 'bob', password: REDACTED } } },
    },
    { name: 'scalars pass', input: 'hello', want: 'hello' },
  ];
  for (const c of table) test(c.name, () => assert.deepEqual(defaults(c.input), c.want));

  test('the input is left alone', () => {
    const input = { password: 'p', nested: [{ token: 't' }] };
    defaults(input);
    assert.deepEqual(input, { password: 'p', nested: [{ token: 't' }] });
  });

  test('an own __proto__ key stays a plain key, and is redacted by name like any other', () => {
    const input = JSON.parse('{"__proto__":{"password":"x","ok":1},"a":1}');
    const out = defaults(input) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.equal(JSON.stringify(out), '{"__proto__":{"password":"[REDACTED]","ok":1},"a":1}');
  });

  test('deep nesting stops at depth 32 instead of overflowing the stack', () => {
    let deep: unknown = { password: 'x' };
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.ok(!JSON.stringify(defaults(deep)).includes('"x"'));
  });
});

describe('value patterns (whatever the key)', () => {
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl';
  const table: [string, string, string][] = [
    ['pem_private_key', 'key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nok', `key:\n${REDACTED}\nok`],
    ['pem_private_key (openssh, truncated)', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC', REDACTED],
    ['pem_private_key (encrypted pkcs8)', '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMII\n-----END ENCRYPTED PRIVATE KEY-----', REDACTED],
    ['jwt', `token is ${jwt}.`, `token is ${REDACTED}.`],
    ['bearer', 'Authorization: Bearer abcdefghijklmnop123', `Authorization: Bearer ${REDACTED}`],
    ['url_userinfo', 'postgres://bob:s3cr3t@db:5432/app', `postgres://${REDACTED}@db:5432/app`],
    ['github', `ghp_${'a1'.repeat(18)}`, REDACTED],
    ['github (oauth/server)', `gho_${'B2'.repeat(18)} ghs_${'c3'.repeat(18)}`, `${REDACTED} ${REDACTED}`],
    ['github fine-grained', `github_pat_${'A'.repeat(22)}_${'b'.repeat(59)}`, REDACTED],
    ['gitlab', `glpat-${'g'.repeat(20)}`, REDACTED],
    ['slack', 'xoxb-1234567890-abcdefghij', REDACTED],
    ['aws_access_key_id', 'AKIAIOSFODNN7EXAMPLE and ASIAIOSFODNN7EXAMPLE', `${REDACTED} and ${REDACTED}`],
    ['stripe', `sk_live_${'x'.repeat(24)}, rk_live_${'y'.repeat(24)}`, `${REDACTED}, ${REDACTED}`],
    ['openai', `sk-proj-${'Z'.repeat(40)}`, REDACTED],
    ['anthropic', `sk-ant-api03-${'q'.repeat(40)}`, REDACTED],
    ['google_api_key', `AIza${'S'.repeat(35)}`, REDACTED],
    ['npm', `npm_${'n'.repeat(36)}`, REDACTED],
  ];
  for (const [name, input, want] of table) test(name, () => assert.deepEqual(defaults({ message: input }), { message: want }));

  const untouched = ['hello world', 'Bearer bonds', 'sk-learn', 'the AKIA prefix', 'eyJ', 'https://example.com/a@b', 'mailto:bob@example.com', 'a -----BEGIN PUBLIC KEY----- b'];
  for (const s of untouched) test(`untouched: ${JSON.stringify(s)}`, () => assert.deepEqual(defaults({ message: s }), { message: s }));

  test('every built-in value pattern is exercised above', () => {
    const covered = new Set(table.map(([n]) => n.split(' ')[0]));
    for (const name of Object.keys(DEFAULT_VALUE_PATTERNS)) assert.ok(covered.has(name.replace('openai_anthropic', 'openai')), name);
  });
});

describe('configuration', () => {
  const redactorOf = (yaml: string) => {
    const c = parseConfig(minimal + yaml);
    return createRedactor({ names: c.audit.redact, values: c.audit.redactValues });
  };

  test('defaults on: built-in names and value patterns', () => {
    const r = redactorOf('');
    assert.deepEqual(r({ api_key: 'k', note: 'AKIAIOSFODNN7EXAMPLE' }), { api_key: REDACTED, note: REDACTED });
  });

  test('audit.redact extends the built-in names (words and globs)', () => {
    const r = redactorOf('audit:\n  redact: [card_holder, "acct*"]\n');
    assert.deepEqual(r({ cardHolder: 'Bob', acct_no: 1, acctId: 2, account: 3, password: 'x', passenger: 'Ann' }), { cardHolder: REDACTED, acct_no: REDACTED, acctId: REDACTED, account: 3, password: REDACTED, passenger: 'Ann' });
  });

  test('redact_defaults: false replaces the built-in names (and with no redact, disables name matching)', () => {
    assert.deepEqual(redactorOf('audit:\n  redact_defaults: false\n  redact: [pin]\n')({ pin: 1, password: 'x' }), { pin: REDACTED, password: 'x' });
    assert.deepEqual(redactorOf('audit:\n  redact_defaults: false\n')({ password: 'x' }), { password: 'x' });
  });

  test('redact_values adds patterns; redact_value_defaults: false drops the built-ins', () => {
    assert.deepEqual(redactorOf('audit:\n  redact_values: ["acme_[a-z0-9]{8}"]\n')({ m: 'k=acme_abcd1234 AKIAIOSFODNN7EXAMPLE' }), { m: `k=${REDACTED} ${REDACTED}` });
    assert.deepEqual(redactorOf('audit:\n  redact_value_defaults: false\n')({ m: 'AKIAIOSFODNN7EXAMPLE', token: 't' }), { m: 'AKIAIOSFODNN7EXAMPLE', token: REDACTED });
  });

  const bad: [string, string, RegExp][] = [
    ['a name without words', 'audit:\n  redact: ["--"]\n', /audit\.redact\[0\]: "--" has no letters or digits/],
    ['an invalid regex', 'audit:\n  redact_values: ["(unclosed"]\n', /audit\.redact_values\[0\]: not a valid regular expression/],
    ['a backreference', 'audit:\n  redact_values: ["(a)\\\\1"]\n', /audit\.redact_values\[0\]: backreferences are not supported/],
    ['an empty match', 'audit:\n  redact_values: ["x*"]\n', /audit\.redact_values\[0\]: the pattern matches the empty string/],
  ];
  for (const [name, yaml, re] of bad) {
    test(`refused: ${name}`, () => assert.throws(() => parseConfig(minimal + yaml), (e: unknown) => e instanceof ConfigError && re.test(e.message)));
  }
});

describe('properties', () => {
  const SECRET_WORDS: readonly (readonly string[])[] = [
    ['db', 'password'], ['password'], ['client', 'secret'], ['secret'], ['api', 'key'], ['x', 'api', 'key'], ['passphrase'],
    ['access', 'token'], ['refresh', 'token'], ['private', 'key'], ['credentials'], ['auth', 'token'], ['session', 'id'], ['pass'], ['ssn'],
  ];
  const PLAIN_KEYS = ['message', 'city', 'count', 'passenger', 'author', 'compass', 'query', 'bypass', 'max_tokens', 'authority', 'secretary', 'keyword', 'monkey'];
  const INVISIBLES = ['\u200b', '\u200c', '\u200d', '\u200e', '\u200f', '\u202a', '\u202e', '\u2060', '\u2066', '\u2069', '\u00ad', '\ufeff', '\u180e'];
  const fullWidth = (c: string) => (c >= '!' && c <= '~' ? String.fromCodePoint(c.codePointAt(0)! + 0xfee0) : c);

  /** A secret key in disguise: random case, separators or camelCase, invisible characters, full-width forms. */
  const disguisedKey = fc
    .record({
      words: fc.constantFrom(...SECRET_WORDS),
      sep: fc.constantFrom('_', '-', '.', ' ', '__', '', '$camel'),
      cases: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
      wide: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
      invisible: fc.array(fc.tuple(fc.nat(40), fc.constantFrom(...INVISIBLES)), { maxLength: 4 }),
    })
    .map(({ words, sep, cases, wide, invisible }) => {
      let i = 0;
      // Random case within words; with no separator, words meet camelCase-style
      // (a lower-case last letter, an upper-case first), the only way a reader could tell them apart.
      const cased = words.map((w, wi) =>
        [...w]
          .map((c, ci) => {
            const up = cases[i++ % cases.length]!;
            if (sep === '$camel' || sep === '') {
              if (ci === 0 && wi > 0) return c.toUpperCase();
              if (ci === w.length - 1 && wi < words.length - 1) return c.toLowerCase();
            }
            return up ? c.toUpperCase() : c.toLowerCase();
          })
          .join(''),
      );
      let key = cased.join(sep === '$camel' || sep === '' ? '' : sep);
      key = [...key].map((c, ci) => (wide[ci % wide.length] ? fullWidth(c) : c)).join('');
      for (const [at, ch] of invisible) {
        const chars = [...key];
        chars.splice(at % (chars.length + 1), 0, ch);
        key = chars.join('');
      }
      return key;
    });

  const secretValue = fc.stringMatching(/^[A-Za-z0-9]{12}$/).map((s) => `S3CR3T${s}`);
  const plainValue = fc.oneof(fc.stringMatching(/^[a-z ]{0,12}$/), fc.integer(), fc.boolean());

  /** A random tree with one disguised secret somewhere in it, and plain keys around it. */
  const treeWithSecret = fc.tuple(disguisedKey, secretValue, fc.array(fc.tuple(fc.constantFrom(...PLAIN_KEYS), plainValue), { maxLength: 4 }), fc.array(fc.oneof(fc.constant('array'), fc.constantFrom(...PLAIN_KEYS)), { maxLength: 6 })).map(
    ([key, value, siblings, path]) => {
      const leaf: Record<string, unknown> = Object.fromEntries(siblings);
      leaf[key] = value;
      let tree: unknown = leaf;
      for (const p of path) tree = p === 'array' ? [1, tree] : { [p]: tree };
      return { tree, value, siblings: Object.fromEntries(siblings) as Record<string, unknown> };
    },
  );

  test('a disguised secret key is still a secret name', () => {
    fc.assert(fc.property(disguisedKey, (k) => isSecret(k)), { numRuns: 2000 });
  });

  test('the secret value never appears in the redacted JSON; plain siblings keep their values', () => {
    fc.assert(
      fc.property(treeWithSecret, ({ tree, value, siblings }) => {
        const out = defaults(tree);
        const json = JSON.stringify(out);
        assert.ok(!json.includes(value), json);
        let leaf: any = out;
        while (Array.isArray(leaf) || (leaf && typeof leaf === 'object' && Object.keys(leaf).length === 1 && !Object.values(leaf).includes(REDACTED))) {
          leaf = Array.isArray(leaf) ? leaf[1] : Object.values(leaf)[0];
        }
        for (const [k, v] of Object.entries(siblings)) assert.deepEqual(leaf[k], v, k);
      }),
      { numRuns: 1000 },
    );
  });

  test('completion arguments named by a disguised secret name have their value redacted', () => {
    fc.assert(
      fc.property(disguisedKey, secretValue, (name, value) => !JSON.stringify(defaults({ argument: { name, value } })).includes(value)),
      { numRuns: 500 },
    );
  });

  test('plain keys keep their values', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...PLAIN_KEYS), plainValue, { noNullPrototype: true }), (o) => {
        assert.deepEqual(defaults(o), o);
      }),
    );
  });

  test('never throws on any JSON value, and the output is JSON again', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 40 }), (v) => {
        JSON.stringify(defaults(v));
      }),
      { numRuns: 500 },
    );
  });

  test('never throws on __proto__ keys, huge arrays or text full of near-secrets', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        const o = JSON.parse(`{"__proto__":${JSON.stringify(a)},"constructor":${JSON.stringify(b)},"prototype":{"__proto__":{"password":1}}}`);
        const json = JSON.stringify(defaults(o));
        assert.ok(json.startsWith('{"__proto__":'));
      }),
      { numRuns: 200 },
    );
    const huge = Array.from({ length: 200_000 }, (_, i) => ({ i, token: `t${i}` }));
    assert.equal((defaults(huge) as unknown[]).length, huge.length);
    const nearMisses = 'eyJ. AKIA sk- ghp_ -----BEGIN PRIVATE KEY Bearer :// @ '.repeat(20_000);
    assert.equal(typeof defaults({ m: nearMisses }), 'object');
  });
});
