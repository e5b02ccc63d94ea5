// Strict parsing of one JSON-RPC 2.0 message as MCP carries it over HTTP.
//
// The gateway decides on what it parses here and the upstream then acts on the same bytes,
// so anything two parsers could read differently is refused rather than guessed at:
// invalid UTF-8, duplicate keys, batches, ambiguous shapes (a "method" beside a "result").
import { JsonRpcErrorCode } from './errors.js';
import { countTopLevelKey, parseStrictJson, StrictJsonError } from './strict-json.js';

export type JsonRpcId = string | number;

export type JsonRpcMessage =
  | { kind: 'request'; id: JsonRpcId; method: string; params: Record<string, unknown> | undefined; body: Record<string, unknown> }
  | { kind: 'notification'; method: string; params: Record<string, unknown> | undefined; body: Record<string, unknown> }
  | { kind: 'response'; id: JsonRpcId | null; body: Record<string, unknown> }; // result or error

export type JsonRpcParseFailure = {
  ok: false;
  reason: 'invalid_utf8' | 'invalid_json' | 'duplicate_key' | 'too_deep' | 'batch_not_supported' | 'not_an_object' | 'invalid_request';
  code: -32700 | -32600;
  message: string;
  /** The message's id when it is known unambiguously, else null (as JSON-RPC requires for parse errors). */
  id: JsonRpcId | null;
};

export type JsonRpcParseResult = { ok: true; message: JsonRpcMessage } | JsonRpcParseFailure;

// fatal: malformed UTF-8 (overlong forms, surrogates, truncation) is refused, not replaced.
// ignoreBOM: keep a leading BOM in the text so the JSON parse refuses it; by default the
// decoder would strip it silently and the gateway would accept what JSON.parse-on-bytes
// upstreams may not.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses and validates one JSON-RPC message from an HTTP body. Never throws on bad input. */
export function parseJsonRpcMessage(body: Uint8Array): JsonRpcParseResult {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return parseFailure('invalid_utf8', `invalid UTF-8 at byte ${utf8ErrorOffset(body)}`, null);
  }
  let value: unknown;
  try {
    value = parseStrictJson(text);
  } catch (e) {
    if (!(e instanceof StrictJsonError)) throw e;
    return strictJsonFailure(e, text);
  }
  if (typeof value !== 'object' || value === null) {
    return invalid('not_an_object', `a JSON-RPC message must be an object, got ${value === null ? 'null' : typeof value}`, null);
  }
  if (Array.isArray(value)) {
    return invalid('batch_not_supported', 'JSON-RPC batches are not supported (removed in MCP 2025-06-18); send one message per request', null);
  }
  return validateMessage(value as Record<string, unknown>);
}

/** A JSON-RPC error response, serialized. `data` is omitted when undefined. */
export function jsonRpcErrorBody(id: JsonRpcId | null, code: number, message: string, data?: unknown): string {
  const error = data === undefined ? { code, message } : { code, message, data };
  return JSON.stringify({ jsonrpc: '2.0', id, error });
}

// Request ids: strings or integers. Integers must be safe: a larger one does not survive
// JSON.parse (12345678901234567890 becomes …7000), so the id echoed in a reply would not
// be the one the client sent.
function isId(v: unknown): v is JsonRpcId {
  return typeof v === 'string' || Number.isSafeInteger(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Parsed objects come from JSON.parse: every key is an own property, and none of the names
// read below exist on Object.prototype, so `body.x === undefined` means "no such key".
function validateMessage(body: Record<string, unknown>): JsonRpcParseResult {
  const id = body.id;
  const errId = isId(id) ? id : null;
  if (body.jsonrpc !== '2.0') return invalid('invalid_request', '"jsonrpc" must be exactly "2.0"', errId);

  const method = body.method;
  const params = body.params;
  if (method !== undefined) {
    if (typeof method !== 'string' || method === '') return invalid('invalid_request', '"method" must be a non-empty string', errId);
    if (body.result !== undefined || body.error !== undefined) {
      return invalid('invalid_request', 'a request or notification must not have "result" or "error"', errId);
    }
    if (params !== undefined && !isPlainObject(params)) {
      return invalid('invalid_request', '"params" must be an object (MCP uses by-name parameters only)', errId);
    }
    if (id === undefined) return { ok: true, message: { kind: 'notification', method, params, body } };
    if (!isId(id)) return invalid('invalid_request', `"id" must be a string or an integer, got ${describe(id)}`, null);
    return { ok: true, message: { kind: 'request', id, method, params, body } };
  }

  if (id === undefined) return invalid('invalid_request', 'a message needs "method" (request or notification) or "id" (response)', null);
  if (id !== null && !isId(id)) return invalid('invalid_request', `"id" must be a string, an integer or null, got ${describe(id)}`, null);
  if (params !== undefined) return invalid('invalid_request', 'a response must not have "params" (is "method" missing?)', errId);
  const result = body.result;
  const error = body.error;
  if ((result === undefined) === (error === undefined)) {
    return invalid('invalid_request', `a response must have exactly one of "result" and "error", it has ${result === undefined ? 'neither' : 'both'}`, errId);
  }
  if (error !== undefined) {
    if (!isPlainObject(error)) return invalid('invalid_request', '"error" must be an object', errId);
    if (!Number.isInteger(error.code)) return invalid('invalid_request', '"error.code" must be an integer', errId);
    if (typeof error.message !== 'string') return invalid('invalid_request', '"error.message" must be a string', errId);
  } else if (id === null) {
    // JSON-RPC allows a null id only when the request's id could not be determined, i.e. on errors.
    return invalid('invalid_request', 'a successful response must not have a null "id"', null);
  }
  return { ok: true, message: { kind: 'response', id, body } };
}

function strictJsonFailure(e: StrictJsonError, text: string): JsonRpcParseFailure {
  // Report bytes, not UTF-16 units: that is what the client sent. The text came from valid
  // UTF-8 (no lone surrogates), so re-encoding the prefix gives the exact offset.
  const at = `at byte ${Buffer.byteLength(text.slice(0, e.position), 'utf8')}`;
  if (e.reason === 'invalid_json') {
    const detail = e.position === 0 && text.charCodeAt(0) === 0xfeff ? 'a byte order mark (BOM) is not allowed' : e.detail;
    return parseFailure('invalid_json', `${detail} ${at}`, null);
  }
  return parseFailure(e.reason, `${e.detail} ${at}`, recoverId(text));
}

/**
 * The id of a message refused for duplicate keys or depth, when it is unambiguous: the text is
 * otherwise valid JSON, its top level is an object, and that object has exactly one valid "id".
 */
function recoverId(text: string): JsonRpcId | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isPlainObject(value) || !isId(value.id)) return null;
  return countTopLevelKey(text, 'id') === 1 ? value.id : null;
}

function parseFailure(reason: 'invalid_utf8' | 'invalid_json' | 'duplicate_key' | 'too_deep', detail: string, id: JsonRpcId | null): JsonRpcParseFailure {
  return { ok: false, reason, code: JsonRpcErrorCode.ParseError, message: `Parse error: ${detail}`, id };
}

function invalid(reason: 'batch_not_supported' | 'not_an_object' | 'invalid_request', detail: string, id: JsonRpcId | null): JsonRpcParseFailure {
  return { ok: false, reason, code: JsonRpcErrorCode.InvalidRequest, message: `Invalid Request: ${detail}`, id };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return Number.isInteger(v) ? `${v}, beyond the safe integer range` : `the non-integer number ${v}`;
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * Offset of the first byte that starts an ill-formed UTF-8 sequence (the same well-formedness
 * rules as TextDecoder's fatal mode: no overlongs, surrogates or code points above U+10FFFF).
 * Only called after decoding failed, to make the error message exact.
 */
function utf8ErrorOffset(b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let len: number;
    let lo = 0x80; // allowed range of the second byte
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c === 0xe0) lo = 0xa0; // overlong
      else if (c === 0xed) hi = 0x9f; // UTF-16 surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c === 0xf0) lo = 0x90; // overlong
      else if (c === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return i;
    if (i + len > n) return i;
    const c1 = b[i + 1]!;
    if (c1 < lo || c1 > hi) return i;
    for (let k = 2; k < len; k++) {
      const ck = b[i + k]!;
      if (ck < 0x80 || ck > 0xbf) return i;
    }
    i += len;
  }
  return n;
}
