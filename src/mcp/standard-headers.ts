// MCP 2026-07-28 standard request headers (SEP-2243): `Mcp-Method` and `Mcp-Name` mirror the
// body so intermediaries can route without parsing it. Anything that does parse the body must
// check the copies agree: otherwise a load balancer could route on one name while the server
// runs another.

import { NAMED_TARGETS } from './protocol.js';
const SENTINEL_PREFIX = '=?base64?';
const SENTINEL_SUFFIX = '?=';
const MIN_SENTINEL = SENTINEL_PREFIX.length + SENTINEL_SUFFIX.length;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Longest header or body value quoted in a message. */
const MAX_QUOTED = 128;

/**
 * The value a header carries: `=?base64?<canonical base64 of UTF-8>?=` (markers case-sensitive)
 * decoded, any other value literally. Undefined when it cannot be a valid value: bad base64 or
 * UTF-8 inside the markers, or a plain value with characters outside visible ASCII, space and tab
 * (the spec requires those to be encoded, and refusing them means no component has to guess
 * how raw non-ASCII header bytes were meant to be read).
 */
export function decodeHeaderValue(v: string): string | undefined {
  if (v.length >= MIN_SENTINEL && v.startsWith(SENTINEL_PREFIX) && v.endsWith(SENTINEL_SUFFIX)) {
    const b64 = v.slice(SENTINEL_PREFIX.length, -SENTINEL_SUFFIX.length);
    const bytes = Buffer.from(b64, 'base64');
    // Buffer's decoder skips junk and accepts base64url; re-encoding and comparing accepts only
    // canonical standard base64 (right alphabet, padding and zero trailing bits).
    if (bytes.toString('base64') !== b64) return undefined;
    try {
      return utf8.decode(bytes);
    } catch {
      return undefined;
    }
  }
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c > 0x7e) return undefined;
  }
  return v;
}

/** The value `Mcp-Name` must carry for this request, or undefined when it carries none. */
export function expectedMcpName(method: string, params: Record<string, unknown> | undefined): string | undefined {
  const field = NAMED_TARGETS.get(method)?.param;
  if (field === undefined) return undefined;
  const v = params?.[field];
  return typeof v === 'string' ? v : undefined;
}

export type HeaderCheck = { ok: true } | { ok: false; message: string };

const OK: HeaderCheck = { ok: true };

/**
 * Checks `Mcp-Method` / `Mcp-Name` (raw header values, undefined when absent) against the body.
 * Requests: `Mcp-Method` is required and must equal the method; `Mcp-Name` is required where
 * the method names a target and must equal it after decoding, and must be absent elsewhere.
 * Notifications: a present `Mcp-Method` must match (the spec defines no other header rules for
 * them, so `Mcp-Name` is not checked). Responses: not checked.
 */
export function checkStandardHeaders(
  msg: { kind: 'request' | 'notification' | 'response'; method?: string; params?: Record<string, unknown> },
  mcpMethod: string | undefined,
  mcpName: string | undefined,
): HeaderCheck {
  if (msg.kind === 'response') return OK;
  const method = msg.method ?? '';
  if (mcpMethod === undefined) {
    if (msg.kind === 'request') return fail('Missing required Mcp-Method header');
  } else if (mcpMethod !== method) {
    return fail(`Mcp-Method header ${quote(mcpMethod)} does not match body method ${quote(method)}`);
  }
  if (msg.kind === 'notification') return OK;

  const field = NAMED_TARGETS.get(method)?.param;
  const expected = expectedMcpName(method, msg.params);
  if (expected === undefined) {
    if (mcpName === undefined) return OK;
    return fail(
      field === undefined
        ? `Mcp-Name header ${quote(mcpName)} is not expected for method ${quote(method)}`
        : `Mcp-Name header ${quote(mcpName)} is present but params.${field} is missing or not a string`,
    );
  }
  if (mcpName === undefined) return fail(`Missing required Mcp-Name header for ${method} (params.${field} is ${quote(expected)})`);
  const decoded = decodeHeaderValue(mcpName);
  if (decoded === undefined) {
    return fail(`Mcp-Name header ${quote(mcpName)} is malformed (invalid =?base64?…?= encoding, or characters that must be encoded)`);
  }
  if (decoded !== expected) return fail(`Mcp-Name header ${quote(decoded)} does not match params.${field} ${quote(expected)}`);
  return OK;
}

function fail(message: string): HeaderCheck {
  return { ok: false, message };
}

function quote(v: string): string {
  return JSON.stringify(v.length > MAX_QUOTED ? `${v.slice(0, MAX_QUOTED)}…` : v);
}
