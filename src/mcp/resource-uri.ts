// Resource URIs in the one form the gateway decides on.
//
// Upstreams resolve a URI before they look a resource up: the SDK runs it through
// WHATWG `new URL()` (dot segments removed, `%2e` read as ".", tabs and newlines
// dropped, special schemes' "\" read as "/"), others apply RFC 3986 normalisation
// (case of scheme and host, percent-encoding of unreserved characters, default
// ports), and some decode the path and resolve it as a file name. A decision made on
// the raw text while the upstream acts on a resolved one is a way around curation.
//
// So the gateway accepts a resource URI only when it is already in canonical form:
// nothing that any of those resolutions would change or read differently. Such a URI
// means the same to the gateway and to every upstream, and curation globs match it
// as written. Anything else is refused (resources/read, subscribe, unsubscribe,
// completion refs) and dropped from lists (resources/list, templates/list). Refusing
// is safer than normalising: the gateway cannot know which resolution an upstream
// applies, and two of them disagree (e.g. WHATWG leaves `%7E` alone, RFC 3986
// decodes it).

export type UriCheck = { ok: true } | { ok: false; problem: string };

const OK: UriCheck = Object.freeze({ ok: true });
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** RFC 3986 unreserved + reserved characters, and "%" (checked separately). */
const URI_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]*$/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;
const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443', ws: '80', wss: '443' };
/** RFC 6570 expressions in a URI template: `{var}`, `{+path}`, `{?a,b}`. */
const TEMPLATE_EXPRESSION = /\{[^{}]*\}/g;
const MAX_DECODE_ROUNDS = 4;

const fail = (problem: string): UriCheck => ({ ok: false, problem });

/**
 * Whether `uri` is in canonical form (see the file comment). With `template`, RFC 6570
 * expressions are allowed and judged as opaque values (resource templates, completion refs).
 */
export function checkResourceUri(uri: string, opts: { template?: boolean } = {}): UriCheck {
  let text = uri;
  if (opts.template) {
    if (/[{}]/.test(text.replace(TEMPLATE_EXPRESSION, ''))) return fail('has an unbalanced "{" or "}"');
    text = text.replace(TEMPLATE_EXPRESSION, 'x');
  }
  const scheme = SCHEME.exec(text)?.[0];
  if (scheme === undefined) return fail('is not an absolute URI (no scheme)');
  if (scheme !== scheme.toLowerCase()) return fail('has an upper-case scheme');
  if (!URI_CHARS.test(text)) return fail('has characters a URI must percent-encode (spaces, controls, "\\", non-ASCII, …)');
  const pct = checkPercentEncoding(text);
  if (!pct.ok) return pct;
  if (text.includes('#')) return fail('has a fragment (never part of what a resource is)');

  let rest = text.slice(scheme.length);
  const q = rest.indexOf('?');
  const path = q === -1 ? rest : rest.slice(0, q);
  rest = path;
  if (rest.startsWith('//')) {
    const end = rest.indexOf('/', 2);
    const authority = end === -1 ? rest.slice(2) : rest.slice(2, end);
    const a = checkAuthority(authority, scheme.slice(0, -1));
    if (!a.ok) return a;
    rest = end === -1 ? '' : rest.slice(end);
  }
  const p = checkPath(rest);
  if (!p.ok) return p;
  // Whatever else WHATWG URL (what the SDK's servers run) would rewrite: special schemes'
  // hosts (IPv4 shorthands, IPv6 forms, "localhost" in file:), missing "//", empty paths,
  // userinfo, default ports, characters it percent-encodes.
  const whatwg = whatwgHref(text);
  if (whatwg !== undefined && whatwg !== text) return fail(`is read by WHATWG URL as ${JSON.stringify(whatwg)}`);
  return OK;
}

function checkPercentEncoding(text: string): UriCheck {
  for (let i = text.indexOf('%'); i !== -1; i = text.indexOf('%', i + 1)) {
    const hex = text.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return fail('has a "%" that is not followed by two hex digits');
    if (hex !== hex.toUpperCase()) return fail(`has lower-case percent-encoding ("%${hex}")`);
    if (UNRESERVED.test(String.fromCharCode(parseInt(hex, 16)))) return fail(`percent-encodes an unreserved character ("%${hex}")`);
  }
  return OK;
}

function checkAuthority(authority: string, scheme: string): UriCheck {
  const at = authority.lastIndexOf('@');
  const hostPort = at === -1 ? authority : authority.slice(at + 1);
  if (hostPort !== hostPort.toLowerCase()) return fail('has an upper-case host');
  const colon = hostPort.startsWith('[') ? hostPort.indexOf(':', hostPort.indexOf(']')) : hostPort.lastIndexOf(':');
  if (colon !== -1) {
    const port = hostPort.slice(colon + 1);
    if (port === '') return fail('has an empty port');
    if (!/^[0-9]+$/.test(port) || port.startsWith('0')) return fail('has a port that is not a plain number');
    if (DEFAULT_PORTS[scheme] === port) return fail(`names the default port of ${scheme}`);
  }
  return OK;
}

/**
 * No dot segments, neither as written nor once the path is percent-decoded (repeatedly:
 * an upstream that decodes and then resolves a file name must not find one either).
 */
function checkPath(path: string): UriCheck {
  let text = path;
  for (let round = 0; round <= MAX_DECODE_ROUNDS; round++) {
    // Once decoded, "\" and "/" both separate segments (Windows paths, special schemes).
    for (const segment of text.split(round === 0 ? '/' : /[/\\]/)) {
      if (segment === '.' || segment === '..') return fail(round === 0 ? 'has a "." or ".." segment' : 'has a "." or ".." segment once percent-decoded');
    }
    if (round > 0 && text.includes('\u0000')) return fail('has a NUL character once percent-decoded');
    if (!text.includes('%')) return OK;
    let decoded: string;
    try {
      decoded = decodeURIComponent(text);
    } catch {
      // Not UTF-8 once decoded: judge the bytes as latin1, which keeps "." and "/" visible.
      decoded = unescape(text);
    }
    if (decoded === text) return OK;
    text = decoded;
  }
  return fail('is percent-encoded more times than the gateway decodes');
}

/** The URI without its query: what a lenient upstream may look up instead. */
export function withoutQuery(uri: string): string {
  const q = uri.indexOf('?');
  return q === -1 ? uri : uri.slice(0, q);
}

function whatwgHref(text: string): string | undefined {
  try {
    return new URL(text).href;
  } catch {
    return undefined; // Not a URL to WHATWG: an SDK server cannot read it either.
  }
}
