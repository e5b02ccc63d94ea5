// The policy's answer, parsed strictly.
//
// `data.mcp.authz.decision` evaluates to a boolean or to an object
//
//   { allowed: boolean, reasons?: string[], error_message?: string,
//     headers?: { [name]: string }, redact?: string[],
//     rate_limits?: [{ key: string, requests_per_unit: number, unit: "second"|"minute"|"hour"|"day", shadow?: boolean }],
//     approval?: { required: boolean, approvers: ["group:<name>"|"subject:<id>", ...], reason?: string, ttl_s?: number } }
//
// Each field is checked on its own and every problem is reported with an exact
// message; anything unrecognised (an unknown key, a wrong type, a non-boolean
// `allowed`, an undefined result) denies. (After opa-envoy-plugin's
// envoyauth/response.go.)
//
// `data.mcp.authz.visible` is a boolean (undefined means not visible);
// `data.mcp.authz.visible_names` is a set of strings.

export interface Decision {
  allowed: boolean;
  /** Why, for the audit trail (the policy's own words; problems with the decision when it was malformed). */
  reasons: string[];
  /** What the client is told when denied; undefined lets the gateway say something generic. */
  errorMessage: string | undefined;
  /** Lower-cased header names with values: set on the upstream request when allowed, on the refusal when denied. */
  headers: [string, string][];
  /** Argument keys the audit trail must redact for this message. */
  redact: string[];
  /** Limits the policy names for this request (counted after an allow; see src/limits). */
  rateLimits: PolicyLimit[];
  /** An allowed call that must first be approved by a human (src/approvals); absent: none needed. */
  approval?: ApprovalDemand | undefined;
  /** Set when the decision itself was malformed or evaluation failed; the decision then denies. */
  error: string | undefined;
}

import type { PolicyLimit } from '../limits/types.js';
import { parseApprovalMember, type ApprovalDemand } from '../approvals/demand.js';

const KEYS = new Set(['allowed', 'reasons', 'error_message', 'headers', 'redact', 'rate_limits', 'approval']);
const LIMIT_KEYS = new Set(['key', 'requests_per_unit', 'unit', 'shadow']);
const UNITS = new Set(['second', 'minute', 'hour', 'day']);
/** Policy limits per decision, and the length of a key: enough for any rule, bounded for the counters. */
const MAX_POLICY_LIMITS = 8;
const MAX_LIMIT_KEY = 256;

// RFC 9110 token; names are lower-cased before the check.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
// Field values: no control characters but HTAB (no CR/LF injection, no NUL).
const HEADER_VALUE_BAD = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** Rego-ish name of a JSON value's type, for messages. */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** A deny that carries why (evaluation failure, timeout, malformed decision). */
export function failedDecision(error: string, redact: string[] = []): Decision {
  return { allowed: false, reasons: [error], errorMessage: undefined, headers: [], redact, rateLimits: [], error };
}

/**
 * The single result of an entrypoint from an opa-wasm result set
 * (`[]` when undefined, `[{ result }]` when defined).
 */
export function singleResult(resultSet: unknown, what: string): { defined: true; value: unknown } | { defined: false } | { error: string } {
  if (!Array.isArray(resultSet)) return { error: `policy ${what}: the result set is not an array (got ${typeName(resultSet)})` };
  if (resultSet.length === 0) return { defined: false };
  if (resultSet.length > 1) return { error: `policy ${what}: expected one result, got ${resultSet.length}` };
  const first: unknown = resultSet[0];
  if (first === null || typeof first !== 'object' || !('result' in first)) return { error: `policy ${what}: the result set entry has no "result"` };
  return { defined: true, value: (first as { result: unknown }).result };
}

/** Parses the result set of `mcp/authz/decision`. Never throws. */
export function parseDecision(resultSet: unknown): Decision {
  const r = singleResult(resultSet, 'decision');
  if ('error' in r) return failedDecision(r.error);
  if (!r.defined) return failedDecision('policy decision is undefined (give data.mcp.authz.decision a default)');
  return parseDecisionValue(r.value);
}

/** Parses a decision value (boolean or object). Never throws. */
export function parseDecisionValue(value: unknown): Decision {
  // A bare boolean carries no reasons; the gateway describes a bare `false` itself.
  if (typeof value === 'boolean') return { allowed: value, reasons: [], errorMessage: undefined, headers: [], redact: [], rateLimits: [], error: undefined };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return failedDecision(`policy decision must be a boolean or an object, got ${typeName(value)}`);
  }
  const d = value as Record<string, unknown>;
  const problems: string[] = [];

  let allowed = false;
  if (!('allowed' in d)) problems.push('policy decision: "allowed" is missing');
  else if (typeof d.allowed !== 'boolean') problems.push(`policy decision: "allowed" must be a boolean, got ${typeName(d.allowed)}`);
  else allowed = d.allowed;

  const reasons = stringArray(d, 'reasons', problems);

  let errorMessage: string | undefined;
  if ('error_message' in d) {
    if (typeof d.error_message !== 'string') problems.push(`policy decision: "error_message" must be a string, got ${typeName(d.error_message)}`);
    else errorMessage = d.error_message;
  }

  const headers = headerList(d, problems);
  const redact = stringArray(d, 'redact', problems);
  const rateLimits = policyLimits(d, problems);
  const approval = 'approval' in d ? parseApprovalMember(d.approval, problems) : undefined;

  for (const k of Object.keys(d).sort()) {
    if (!KEYS.has(k)) problems.push(`policy decision: unknown key ${JSON.stringify(k)} (expected allowed, reasons, error_message, headers, redact, rate_limits, approval)`);
  }

  if (problems.length > 0) {
    // Denied. A well-formed redact list still applies: redacting more is the safe side.
    return { allowed: false, reasons: problems, errorMessage: undefined, headers: [], redact: redact ?? [], rateLimits: [], error: problems.join('; ') };
  }
  return { allowed, reasons: reasons ?? [], errorMessage, headers: headers ?? [], redact: redact ?? [], rateLimits: rateLimits ?? [], error: undefined, ...(approval && { approval }) };
}

function policyLimits(d: Record<string, unknown>, problems: string[]): PolicyLimit[] | undefined {
  if (!('rate_limits' in d)) return undefined;
  const v = d.rate_limits;
  if (!Array.isArray(v)) {
    problems.push(`policy decision: "rate_limits" must be an array of objects, got ${typeName(v)}`);
    return undefined;
  }
  if (v.length > MAX_POLICY_LIMITS) problems.push(`policy decision: "rate_limits" names ${v.length} limits (at most ${MAX_POLICY_LIMITS})`);
  const before = problems.length;
  const out: PolicyLimit[] = [];
  v.forEach((x: unknown, i) => {
    const at = `policy decision: "rate_limits"[${i}]`;
    if (x === null || typeof x !== 'object' || Array.isArray(x)) return void problems.push(`${at} must be an object, got ${typeName(x)}`);
    const l = x as Record<string, unknown>;
    for (const k of Object.keys(l).sort()) if (!LIMIT_KEYS.has(k)) problems.push(`${at}: unknown key ${JSON.stringify(k)} (expected key, requests_per_unit, unit, shadow)`);
    const { key, requests_per_unit: rpu, unit, shadow } = l;
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_LIMIT_KEY) problems.push(`${at}.key must be a string of 1-${MAX_LIMIT_KEY} characters, got ${typeName(key)}`);
    if (typeof rpu !== 'number' || !Number.isInteger(rpu) || rpu < 1 || rpu > 4_294_967_295) problems.push(`${at}.requests_per_unit must be a whole number from 1, got ${JSON.stringify(rpu) ?? 'nothing'}`);
    if (typeof unit !== 'string' || !UNITS.has(unit)) problems.push(`${at}.unit must be "second", "minute", "hour" or "day", got ${JSON.stringify(unit) ?? 'nothing'}`);
    if (shadow !== undefined && typeof shadow !== 'boolean') problems.push(`${at}.shadow must be a boolean, got ${typeName(shadow)}`);
    if (problems.length === before) out.push({ key: key as string, requestsPerUnit: rpu as number, unit: unit as PolicyLimit['unit'], shadow: shadow === true });
  });
  return problems.length === before ? out : undefined;
}

function stringArray(d: Record<string, unknown>, key: 'reasons' | 'redact', problems: string[]): string[] | undefined {
  if (!(key in d)) return undefined;
  const v = d[key];
  if (!Array.isArray(v)) {
    problems.push(`policy decision: "${key}" must be an array of strings, got ${typeName(v)}`);
    return undefined;
  }
  let ok = true;
  v.forEach((x: unknown, i) => {
    if (typeof x !== 'string') {
      problems.push(`policy decision: "${key}"[${i}] must be a string, got ${typeName(x)}`);
      ok = false;
    }
  });
  return ok ? (v as string[]) : undefined;
}

function headerList(d: Record<string, unknown>, problems: string[]): [string, string][] | undefined {
  if (!('headers' in d)) return undefined;
  const v = d.headers;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    problems.push(`policy decision: "headers" must be an object of strings, got ${typeName(v)}`);
    return undefined;
  }
  const out: [string, string][] = [];
  const seen = new Set<string>();
  const before = problems.length;
  for (const [rawName, value] of Object.entries(v)) {
    const at = `policy decision: "headers"[${JSON.stringify(rawName)}]`;
    const name = rawName.toLowerCase();
    if (!HEADER_NAME.test(name)) problems.push(`${at} is not a valid header name`);
    else if (seen.has(name)) problems.push(`${at} repeats "${name}" (header names are case-insensitive)`);
    seen.add(name);
    if (typeof value !== 'string') problems.push(`${at} must be a string, got ${typeName(value)}`);
    else if (HEADER_VALUE_BAD.test(value)) problems.push(`${at} contains a control character`);
    else out.push([name, value]);
  }
  return problems.length === before ? out : undefined;
}

/** Parses the result set of `mcp/authz/visible`. Undefined means not visible. */
export function parseVisible(resultSet: unknown): { visible: boolean; error: string | undefined } {
  const r = singleResult(resultSet, 'visible');
  if ('error' in r) return { visible: false, error: r.error };
  if (!r.defined) return { visible: false, error: undefined };
  if (typeof r.value !== 'boolean') return { visible: false, error: `policy visible must be a boolean, got ${typeName(r.value)}` };
  return { visible: r.value, error: undefined };
}

/** Parses the result set of `mcp/authz/visible_names` (a set of strings, serialized as an array). */
export function parseVisibleNames(resultSet: unknown): { names: Set<string> } | { error: string } {
  const r = singleResult(resultSet, 'visible_names');
  if ('error' in r) return r;
  if (!r.defined) return { error: 'policy visible_names is undefined' };
  if (!Array.isArray(r.value)) return { error: `policy visible_names must be a set of strings, got ${typeName(r.value)}` };
  const names = new Set<string>();
  for (const [i, x] of r.value.entries()) {
    if (typeof x !== 'string') return { error: `policy visible_names[${i}] must be a string, got ${typeName(x)}` };
    names.add(x);
  }
  return { names };
}
