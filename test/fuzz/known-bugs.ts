// Known bugs the fuzzer finds in src/, allowed for now so that `npm test` stays green.
//
// Each entry is one bug: which target finds it, a matcher that recognises its
// violations (and nothing else), and the minimal input that shows it. The bounded
// test (test/fuzz/fuzz.test.ts) replays every minimal input: while the bug is there
// it reports it as a known bug (a `todo`); once it is fixed that test FAILS and
// asks for the entry to be deleted, so this list cannot go stale and hide a
// regression. Fix the bug, then delete its entry.
import type { Violation } from './target.js';

export interface KnownBug {
  target: string;
  /** What breaks, and where in src the cause is. */
  summary: string;
  /** Recognises this bug's violations. */
  matches: (v: Violation) => boolean;
  /** The minimal input, replayed by the bounded test (target-specific shape). */
  minimal: unknown;
}

/** The parts of a URI as written: scheme, whether "//" follows, userinfo, host, port, path, query. */
function uriParts(s: string) {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:)(\/\/([^/?#]*))?([^?#]*)(\?[^#]*)?/.exec(s);
  if (!m) return undefined;
  const authority = m[3];
  const at = authority?.lastIndexOf('@') ?? -1;
  const hostPort = authority === undefined ? undefined : authority.slice(at + 1);
  const portAt = hostPort === undefined ? -1 : hostPort.startsWith('[') ? hostPort.indexOf(':', hostPort.indexOf(']')) : hostPort.lastIndexOf(':');
  return {
    scheme: m[1]!,
    slashes: m[2] !== undefined,
    userinfo: authority === undefined || at === -1 ? undefined : authority.slice(0, at),
    host: hostPort === undefined ? undefined : portAt === -1 ? hostPort : hostPort.slice(0, portAt),
    port: hostPort === undefined || portAt === -1 ? undefined : hostPort.slice(portAt + 1),
    path: m[4]!,
    query: m[5],
  };
}

/** Which part of an accepted resource URI WHATWG `new URL()` rewrites (the one-spelling violations). */
export function uriRewrite(v: Violation): string | undefined {
  if (v.invariant !== 'one-spelling') return undefined;
  const t = uriParts(String(v.facts.t));
  const h = uriParts(String(v.facts.href));
  if (!t || !h) return undefined;
  if (!t.slashes && h.slashes) return 'missing-slashes';
  if (t.userinfo !== h.userinfo) return 'userinfo';
  if (t.host !== h.host) return 'host';
  if (t.port !== h.port) return 'port';
  if (t.path !== h.path) return t.path === '' && h.path === '/' ? 'empty-path' : 'path';
  if (t.query !== h.query) return 'query';
  return undefined;
}

// All found by the `resource-uri` target's one-spelling invariant: checkResourceUri
// (src/mcp/resource-uri.ts) accepts a URI, and also accepts the different text that
// WHATWG `new URL(t).href` (what the SDK's upstreams look resources up by) turns it
// into. So a deny rule written for one spelling does not cover the other, which
// resolves to the same resource upstream. E.g. with `resources: deny:
// [https://internal.example/*, file:///etc/*, http://127.0.0.1/*]`, the URIs
// "https:internal.example/secret", "file://localhost/etc/passwd" and "http://127.1/admin"
// are canonical for the check and visible for curation, and an SDK upstream reads the
// denied resource. (The fuzz config's deny rule is on test://, a non-special scheme
// WHATWG does not rewrite, which is why the exchange target does not see it.) The file
// comment promises the opposite
// ("nothing that any of those resolutions would change"). The cause is the same for
// all five: the check knows dot segments, case, percent-encoding and http(s)/ws(s)
// default ports, but not the other rewrites WHATWG applies to special schemes
// (http, https, ws, wss, ftp, file).
const uriBug = (kind: string, summary: string, t: string, href: string): KnownBug => ({
  target: 'resource-uri',
  summary,
  matches: (v) => uriRewrite(v) === kind,
  minimal: { t, u: href, template: false },
});

export const KNOWN_BUGS: Record<string, KnownBug> = {
  'uri-special-missing-slashes': uriBug('missing-slashes', 'a special scheme without "//" is accepted: "http:a/b" (or "http:/a/b") resolves to "http://a/b"; checkResourceUri reads "a/b" as a path (no authority branch)', 'http:a/b', 'http://a/b'),
  'uri-special-host-forms': uriBug('host', 'hosts WHATWG rewrites are accepted: IPv4 shorthands/hex/octal/decimal ("http://127.1/", "http://0x7f.0.0.1/", "http://2130706433/" → 127.0.0.1), IPv6 uncompressed ("http://[0:0::1]/" → [::1]), "file://localhost/a" → "file:///a"; checkAuthority only checks case and port', 'http://127.1/', 'http://127.0.0.1/'),
  'uri-special-default-port': uriBug('port', 'a default port outside DEFAULT_PORTS is accepted: "ftp://a:21/x" resolves to "ftp://a/x" (DEFAULT_PORTS lacks ftp: 21)', 'ftp://a:21/x', 'ftp://a/x'),
  'uri-special-userinfo': uriBug('userinfo', 'userinfo WHATWG rewrites is accepted: "http://u:@h/" → "http://u@h/", "http://:@h/" → "http://h/", "http://a;b@h/" → "http://a%3Bb@h/" (";", "=", "[", "]" are percent-encoded in userinfo); checkAuthority ignores userinfo', 'http://u:@h/', 'http://u@h/'),
  'uri-special-empty-path': uriBug('empty-path', 'a special-scheme URI with an empty path is accepted beside its "/" form: "http://a" → "http://a/" (and "http://a?q" → "http://a/?q")', 'http://a', 'http://a/'),
  'method-lookalike': {
    target: 'exchange',
    summary:
      'a call of a hidden item under a method that only looks like tools/call (trailing space, zero-width character, full-width letters: "tools/call ", "tools/call\\u200b", "ｔｏｏｌｓ/ｃａｌｌ") is not refused: caseCollision (src/mcp/protocol.ts) compares only toLowerCase(), not the canonical form names get (canonicalName: NFKC, invisible characters removed, trimmed), so targetOf finds no target and the request goes upstream with params.name "secret-x". An upstream that trims or NFKC-folds methods runs the hidden tool.',
    matches: (v) => v.invariant === 'no-hidden-call' && v.facts.exactMethod === false,
    minimal: { body: '{"jsonrpc":"2.0","id":1,"method":"tools/call ","params":{"name":"secret-x"}}' },
  },
  'options-session-unchecked': {
    target: 'exchange',
    summary:
      'an OPTIONS request passes its Mcp-Session-Id upstream unchecked and unsealed: the sealed id (or a forged one, or another caller\'s) reaches the upstream as is, where every other method gets it opened, checked against the caller and replaced by the upstream\'s own id (or a 404). Cause: Exchange.requestHeaders (src/gateway/exchange.ts) answers OPTIONS with stripHeaders(h) before afterAuthentication, which is where the session is opened. Low impact (a preflight has no use for a session; the upstream sees a sealed id it cannot use), but it breaks "the upstream only ever gets the id it issued"; stripping mcp-session-id on OPTIONS would do.',
    matches: (v) => v.invariant === 'session-bound' && v.facts.method === 'OPTIONS',
    minimal: { body: '', method: 'OPTIONS', session: 'sealed' },
  },
  'uri-special-curation-bypass': {
    target: 'exchange',
    summary:
      'the uri-special-* gaps, end to end: with resources deny [https://internal.example/*], resources/read (or subscribe, or a completion ref) of "https:internal.example/a" is let through to the upstream, and a resources/list answer listing it reaches the client; both resolve to https://internal.example/a for an SDK upstream. Same cause as uri-special-missing-slashes (src/mcp/resource-uri.ts); fixing those fixes this.',
    matches: (v) => (v.invariant === 'no-hidden-call' || v.invariant === 'no-hidden-item-out') && v.facts.uriRewritten === true,
    minimal: { body: '{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"https:internal.example/a"}}' },
  },
  'uri-special-query-apostrophe': uriBug('query', `an apostrophe in the query of a special scheme is accepted beside its encoded form: "http://a/?'" → "http://a/?%27" (WHATWG's special-query percent-encode set includes "'")`, "http://a/?'", 'http://a/?%27'),
};

/** The KNOWN_BUGS key a violation of `target` belongs to, if any. */
export function knownBug(target: string, v: Violation): string | undefined {
  for (const [key, bug] of Object.entries(KNOWN_BUGS)) if (bug.target === target && bug.matches(v)) return key;
  return undefined;
}
