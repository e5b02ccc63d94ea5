// Parses Envoy's x-forwarded-client-cert header (XFCC): `Key=value` pairs separated by
// ";", elements (one per proxy hop) by ","; values may be double-quoted with "\"" escapes.
// Only trustworthy when Envoy sanitizes the header (forward_client_cert_details:
// SANITIZE_SET), as the generated config does: then it is always Envoy's own.

export interface ClientCertificate {
  /** URI SAN(s), e.g. a SPIFFE id. */
  uri: string[];
  /** The certificate subject DN. */
  subject: string | undefined;
  dns: string[];
  /** SHA-256 of the certificate (hex). */
  hash: string | undefined;
}

/** The element Envoy added (the last one), or undefined when the header is absent or empty. */
export function parseXfcc(header: string | undefined): ClientCertificate | undefined {
  if (!header) return undefined;
  const elements = splitOutsideQuotes(header, ',');
  const last = elements[elements.length - 1];
  if (!last) return undefined;
  const cert: ClientCertificate = { uri: [], subject: undefined, dns: [], hash: undefined };
  for (const pair of splitOutsideQuotes(last, ';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    const key = pair.slice(0, eq).trim().toLowerCase();
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    if (key === 'uri') cert.uri.push(value);
    else if (key === 'dns') cert.dns.push(value);
    else if (key === 'subject') cert.subject = value;
    else if (key === 'hash') cert.hash = value;
  }
  return cert.uri.length || cert.subject || cert.hash ? cert : undefined;
}

function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === sep && !quoted) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out.map((x) => x.trim()).filter(Boolean);
}
