// The RFC 6750 `WWW-Authenticate: Bearer …` challenge (with RFC 9728's
// resource_metadata) that goes with a 401 or a 403 insufficient_scope.
//
// Values are written as RFC 9110 quoted-strings. RFC 6750 §3 narrows error,
// error_description and scope to printable ASCII without `"` and `\`, so those
// are sanitized to that set (`"`→`'`, `\`→`/`, anything else outside it →
// `?`, CR/LF/TAB → space: no value can end the header or inject another one).
// resource_metadata is a URI: bytes outside printable ASCII are
// percent-encoded, and `"`/`\` are backslash-escaped.

export interface BearerChallenge {
  /** RFC 9728 protected-resource metadata URL. */
  resourceMetadata?: string | undefined;
  /** Space-separated scopes the resource needs. */
  scope?: string | undefined;
  /** RFC 6750 error code: invalid_request, invalid_token, insufficient_scope. */
  error?: string | undefined;
  errorDescription?: string | undefined;
}

const NOT_6750_TEXT = /[^\x20\x21\x23-\x5b\x5d-\x7e]/gu;
const NOT_URI_CHAR = /[^\x21-\x7e]/gu;
const QUOTED_SPECIALS = /["\\]/g;
const WHITESPACE = /\s+/;
const encoder = new TextEncoder();

export function wwwAuthenticate(params: BearerChallenge): string {
  const parts: string[] = [];
  const { resourceMetadata, scope, error, errorDescription } = params;
  if (resourceMetadata) parts.push(`resource_metadata="${uriText(resourceMetadata).replace(QUOTED_SPECIALS, '\\$&')}"`);
  if (scope) {
    const tokens = scope
      .split(WHITESPACE)
      .filter((t) => t !== '')
      .map(text6750);
    if (tokens.length) parts.push(`scope="${tokens.join(' ')}"`);
  }
  if (error) parts.push(`error="${text6750(error)}"`);
  if (errorDescription) parts.push(`error_description="${text6750(errorDescription)}"`);
  return parts.length ? `Bearer ${parts.join(', ')}` : 'Bearer';
}

function text6750(s: string): string {
  return s.replace(NOT_6750_TEXT, (c) => (c === '"' ? "'" : c === '\\' ? '/' : c === '\t' || c === '\r' || c === '\n' ? ' ' : '?'));
}

function uriText(s: string): string {
  return s.replace(NOT_URI_CHAR, (c) => {
    let out = '';
    for (const b of encoder.encode(c)) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    return out;
  });
}
