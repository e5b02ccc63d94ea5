// Resource URIs: only the canonical spelling is accepted, so the gateway and every
// upstream resolution (WHATWG URL, RFC 3986 normalisation, decode-then-resolve) agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkResourceUri } from '../../src/mcp/resource-uri.js';
import { compileCuration } from '../../src/curation/curation.js';

const accepted = [
  'test://public/readme',
  'file:///srv/data/report.csv',
  'demo://resource/static/document/architecture.md',
  'https://example.com/a/b?c=d',
  'https://example.com:8443/x',
  'urn:isbn:0451450523',
  'test://host/a%2Fb',
  'test://host/%C3%A9t%C3%A9',
  'test://host/a..b/c.d/...',
  'test://user@host/x',
  'mailto:someone@example.com',
];

for (const uri of accepted) {
  test(`canonical: ${uri}`, () => assert.deepEqual(checkResourceUri(uri), { ok: true }));
}

const refused: [string, RegExp][] = [
  ['test://public/../secret/key', /"\." or "\.\."/],
  ['test://public/./x', /"\." or "\.\."/],
  ['test://public/..', /"\." or "\.\."/],
  ['test://public/%2e%2e/secret', /unreserved|lower-case/],
  ['test://public/%2E%2E/secret', /unreserved/],
  ['test://public/..%2Fsecret', /once percent-decoded/],
  ['test://public/..%5Csecret', /once percent-decoded/],
  ['test://public/%252E%252E%252Fsecret', /once percent-decoded|unreserved/],
  ['test://public/a%2fb', /lower-case/],
  ['test://secret/%6Bey', /unreserved/],
  ['TEST://secret/key', /upper-case scheme/],
  ['Test://secret/key', /upper-case scheme/],
  ['test://SECRET/key', /upper-case host/],
  ['test://secret:/key', /empty port/],
  ['http://example.com:80/x', /default port/],
  ['https://example.com:0443/x', /plain number/],
  ['test://secret/key#frag', /fragment/],
  ['test://secret/ke\ty', /percent-encode/],
  ['test://secret/key\n', /percent-encode/],
  [' test://secret/key', /scheme/],
  ['test://secret\\key', /percent-encode/],
  ['test://secret/ké', /percent-encode/],
  ['test://secret/%00', /NUL/],
  ['test://secret/%zz', /two hex digits/],
  ['/etc/passwd', /no scheme/],
  ['secret/key', /no scheme/],
  ['', /no scheme/],
  // Found by the fuzzer (test/fuzz): what WHATWG URL rewrites for special schemes.
  ['http:a/b', /WHATWG/],
  ['http:/a/b', /WHATWG/],
  ['http://127.1/', /WHATWG/],
  ['http://0x7f.0.0.1/', /WHATWG/],
  ['http://2130706433/', /WHATWG/],
  ['http://[0:0::1]/', /WHATWG/],
  ['file://localhost/a', /WHATWG/],
  ['ftp://a:21/x', /WHATWG/],
  ['http://u:@h/', /WHATWG/],
  ['http://a;b@h/', /WHATWG/],
  ['http://a', /WHATWG/],
  ["http://a/?'", /WHATWG/],
];

for (const [uri, why] of refused) {
  test(`refused: ${JSON.stringify(uri)}`, () => {
    const r = checkResourceUri(uri);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.problem, why);
  });
}

test('templates: RFC 6570 expressions are opaque, the rest is judged as a URI', () => {
  assert.equal(checkResourceUri('test://files/{path}', { template: true }).ok, true);
  assert.equal(checkResourceUri('test://files/{+path}{?q,r}{#frag}', { template: true }).ok, true);
  assert.equal(checkResourceUri('test://files/../{path}', { template: true }).ok, false);
  assert.equal(checkResourceUri('test://files/{path', { template: true }).ok, false);
  assert.equal(checkResourceUri('TEST://files/{path}', { template: true }).ok, false);
  // Without template mode, braces are characters a URI must encode.
  assert.equal(checkResourceUri('test://files/{path}').ok, false);
});

test('a deny rule also covers the URI with any query (a lenient upstream may ignore it)', () => {
  const c = compileCuration({ tools: { allow: ['*'], deny: [] }, prompts: { allow: ['*'], deny: [] }, resources: { allow: ['*'], deny: ['test://secret/key'] } });
  assert.equal(c.visible('resource', 'test://secret/key'), false);
  assert.equal(c.visible('resource', 'test://secret/key?x=1'), false);
  assert.equal(c.visible('resource', 'test://secret/keys'), true);
});

// ---- property: every other spelling that an upstream resolves to the same URI is refused ----

const SECRET = 'test://secret/dir/key.txt';

/** Spellings WHATWG URL (what the SDK's servers run) reads as the same resource. */
const respelling = fc.array(
  fc.oneof(
    fc.constant('dot'), // insert "./"
    fc.constant('dotdot'), // insert "x/../"
    fc.constant('encdot'), // insert "%2e/" or "%2E%2E" forms
    fc.constant('scheme'), // upper-case scheme letters
    fc.constant('tab'), // WHATWG drops tabs and newlines anywhere
    fc.constant('space'), // and leading/trailing C0 and spaces
  ),
  { minLength: 1, maxLength: 4 },
);

function respell(uri: string, edits: string[], rnd: () => number): string {
  let u = uri;
  for (const e of edits) {
    const slash = u.indexOf('/', 'test://'.length);
    const at = slash + 1;
    switch (e) {
      case 'dot':
        u = `${u.slice(0, at)}./${u.slice(at)}`;
        break;
      case 'dotdot':
        u = `${u.slice(0, at)}zz/../${u.slice(at)}`;
        break;
      case 'encdot':
        u = `${u.slice(0, at)}${rnd() < 0.5 ? '%2e' : '%2E'}/${u.slice(at)}`;
        break;
      case 'scheme':
        u = `${u.slice(0, 4).replace(/[a-z]/g, (c) => (rnd() < 0.5 ? c.toUpperCase() : c))}${u.slice(4)}`;
        if (u.startsWith('test')) u = `T${u.slice(1)}`;
        break;
      case 'tab': {
        const i = 1 + Math.floor(rnd() * (u.length - 1));
        u = `${u.slice(0, i)}${rnd() < 0.5 ? '\t' : '\n'}${u.slice(i)}`;
        break;
      }
      case 'space':
        u = rnd() < 0.5 ? ` ${u}` : `${u}\u0001`;
        break;
    }
  }
  return u;
}

test('property: any other spelling that WHATWG URL resolves to a canonical URI is refused', () => {
  const target = new URL(SECRET).href;
  fc.assert(
    fc.property(respelling, fc.integer(), (edits, seed) => {
      let s = seed;
      const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
      const spelled = respell(SECRET, edits, rnd);
      let resolved: string | undefined;
      try {
        resolved = new URL(spelled).href;
      } catch {
        resolved = undefined;
      }
      if (spelled === SECRET || resolved !== target) return; // not an equivalent spelling
      assert.equal(checkResourceUri(spelled).ok, false, `accepted ${JSON.stringify(spelled)}, which the SDK reads as ${target}`);
    }),
    { numRuns: 3000 },
  );
});

test('property: percent-encoding any unreserved character is refused (RFC 3986 decodes it back)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 'test://secret/'.length, max: SECRET.length - 1 }), fc.boolean(), (i, lower) => {
      const c = SECRET[i]!;
      if (!/[A-Za-z0-9\-._~]/.test(c)) return;
      let hex = c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
      if (lower) hex = hex.toLowerCase();
      const spelled = `${SECRET.slice(0, i)}%${hex}${SECRET.slice(i + 1)}`;
      assert.equal(checkResourceUri(spelled).ok, false, spelled);
    }),
    { numRuns: 500 },
  );
});

test('property: never throws, and whatever it accepts WHATWG URL leaves unchanged (for special schemes, modulo a trailing "/")', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.webUrl({ withFragments: true, withQueryParameters: true }), fc.constantFrom(...accepted, ...refused.map(([u]) => u))), (uri) => {
      const r = checkResourceUri(uri);
      if (!r.ok) return;
      let href: string;
      try {
        href = new URL(uri).href;
      } catch {
        return; // an accepted URI WHATWG cannot parse: the SDK refuses it too
      }
      const same = href === uri || href === `${uri}/` || href.toLowerCase() === uri.toLowerCase();
      // WHATWG percent-encodes some characters RFC 3986 allows raw (e.g. in queries "'");
      // what matters is that it never resolves dots or case away.
      if (!same) assert.ok(!/(^|\/)\.\.?(\/|$)/.test(new URL(href).pathname) && href.length >= uri.length, `${uri} → ${href}`);
    }),
    { numRuns: 3000 },
  );
});
