// What a curated virtual server lets reach the client: every JSON-RPC message in an
// upstream response body (buffered JSON, or an SSE stream re-framed event by event, on
// POST answers, GET streams and replays of earlier events alike) is judged here.
//
// - The answer to the exchange's own list request is filtered by that list's rules.
// - Any other response whose result carries a list (`tools`, `prompts`, `resources`,
//   `resourceTemplates`) is filtered by the shape of its result: clients match answers
//   to their pending requests by id, loosely (the SDK compares Number(id)), so an answer
//   whose id is not exactly the request's, or a replayed one, must not slip through
//   unfiltered just because it does not answer this exchange.
// - `notifications/resources/updated` about a hidden resource is dropped.
// - What cannot be inspected is refused: an SSE event that mentions a list key but is
//   not JSON is dropped, a JSON body that is not JSON is replaced by an error, an event
//   larger than the cap ends the stream with an error.
//
// Curation first, then (when the server has one) the Rego policy's visibility, in one
// evaluation per list.
import type { JsonRpcId } from '../mcp/jsonrpc.js';
import { SseFramer, serializeSseEvent, type SseBlock } from '../mcp/sse.js';
import { JsonRpcErrorCode } from '../mcp/errors.js';
import { LIST_METHODS, type ListMethod } from '../mcp/protocol.js';
import { checkResourceUri } from '../mcp/resource-uri.js';
import { filterListResult, type FilterOutcome } from '../curation/filter-list.js';
import { filterListBytes, type ByteFilterOutcome } from '../curation/filter-list-bytes.js';
import type { PolicyInput, ListItem } from '../policy/input.js';
import type { ServerRuntime } from './runtime.js';
import { refusalBody } from './refusal.js';
import { integrityRecord, type IntegrityFinding, type IntegrityRecord } from '../integrity/findings.js';
import { scanRecord, type ScanFinding, type ScanRecord } from '../integrity/screen.js';
import type { Prefetched, ResultScanRecord } from '../guardrails/result-guard.js';
import { SERVER_REQUEST_METHODS, inputRequestsOf, type ServerRequest } from './server-request-step.js';
import { CONTINUE, JSON_CONTENT_TYPE, type Verdict } from './verdict.js';

const encoder = new TextEncoder();

export interface ResponseFilterContext {
  server: ServerRuntime;
  /** The request this body answers (a POST's); undefined for a GET stream. */
  request: { id: JsonRpcId; list: ListMethod | undefined } | undefined;
  /** The policy input of the exchange (built lazily, once). */
  input: () => PolicyInput;
  /** Largest SSE event held back while incomplete. */
  maxEventBytes: number;
  /** The request is a tools/call whose result servers[].scan_results scans. */
  scanOwnResult?: boolean;
  /** A request from the upstream to the client (sampling, elicitation, roots; on its own or in an input_required result): decided. */
  onServerRequest?: (req: ServerRequest) => { allowed: boolean; message?: string | undefined };
  /** Called for each message the filter changed or dropped that is not the exchange's own answer. */
  onServerMessage?: (m: ServerMessageReport) => void;
  /** false: the exchange's own list answer is always parsed, never filtered on its bytes (tests compare the two). */
  listBytes?: boolean;
}

/** A message other than the exchange's own answer that the filter changed or dropped (audited on its own). */
export interface ServerMessageReport {
  kind: 'request' | 'notification' | 'response' | 'unknown';
  id: JsonRpcId | null | undefined;
  method: string | undefined;
  action: 'filtered' | 'dropped';
  reason: 'not_curated' | 'uri_not_canonical' | 'response_uninspectable' | 'integrity_finding' | 'result_scan';
  message: string;
  target: { kind: 'resource'; name: string } | undefined;
  filtered: { returned: number; visible: number } | undefined;
  /** What the lockfile check found in the lists it carried. */
  integrity?: IntegrityRecord | undefined;
  /** What definition scanning found in the lists it carried. */
  definitionScan?: ScanRecord | undefined;
  /** What result scanning found in it. */
  resultScan?: ResultScanRecord | undefined;
}

/** The body modes of ResponseFilter. */
export type BodyMode = 'json' | 'sse' | 'opaque';

/** How a 2xx response body can be read, or why it cannot (then it is refused). */
export function bodyModeOf(h: Readonly<Record<string, string>>): BodyMode | { problem: string } {
  const encoding = (h['content-encoding'] ?? '').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') return { problem: `it is ${encoding}-encoded` };
  const type = h['content-type'] ?? '';
  const media = type.split(';', 1)[0]!.trim().toLowerCase();
  // Clients differ in how they read Content-Type (the SDK looks for "text/event-stream"
  // anywhere in it): an ambiguous one is refused rather than read one way.
  const mentionsSse = type.toLowerCase().includes('text/event-stream');
  if (media === 'text/event-stream') return 'sse';
  if (media === 'application/json' && !mentionsSse) return 'json';
  // Anything else (a 202 without a type, say) is looked at: it may be empty; if not, it is replaced.
  return 'opaque';
}

export type FailureReason = 'response_uninspectable' | 'response_too_large' | 'policy_denied';

/** What the filter found about the exchange's own answer, for its audit event. */
export interface ResponseFilterReport {
  filtered: { returned: number; visible: number } | undefined;
  /** Set when the response could not be inspected and was replaced by an error (fail closed). */
  failure: { reason: FailureReason; message: string } | undefined;
  /** Listed items that differ from the lockfile, or that it lacks (servers[].pinning). */
  integrity: IntegrityRecord | undefined;
  /** Listed items whose definitions look poisoned (servers[].scan_definitions). */
  definitionScan: ScanRecord | undefined;
  /** What result scanning found in the exchange's own answer (servers[].scan_results). */
  resultScan: ResultScanRecord | undefined;
}

// Bytes that every list result and every resource notification must contain, even
// escaped ("\u0074ools" contains "\u"). A body with none of them carries no list and
// passes without being parsed: most tool results.
// Server-to-client requests are looked for too (by their method's first word), and the
// 2026-07-28 input_required results that carry them (by their inputRequests key).
const MARKERS = ['tools', 'prompts', 'resource', 'sampling', 'elicitation', 'roots', 'inputRequests', '\\u'].map((m) => Buffer.from(m, 'latin1'));

function mentionsListKey(bytes: Uint8Array): boolean {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const m of MARKERS) if (b.indexOf(m) !== -1) return true;
  return false;
}

type ListOutcome = FilterOutcome & { findings: readonly IntegrityFinding[]; scanned: readonly ScanFinding[] };
const NO_FINDINGS: readonly IntegrityFinding[] = Object.freeze([]);
const NO_SCANS: readonly ScanFinding[] = Object.freeze([]);

type Judgement = { action: 'pass' } | { action: 'replace'; value: unknown } | { action: 'drop' };
const PASS: Judgement = Object.freeze({ action: 'pass' });
const DROP: Judgement = Object.freeze({ action: 'drop' });

export class ResponseFilter {
  readonly report: ResponseFilterReport = { filtered: undefined, failure: undefined, integrity: undefined, definitionScan: undefined, resultScan: undefined };
  /** Every body is parsed: results are scanned (no marker fast path). */
  private readonly scanning: boolean;
  private readonly framer: SseFramer | undefined;
  private failed = false;

  constructor(
    private readonly ctx: ResponseFilterContext,
    /** opaque: a 2xx body that is neither JSON nor SSE; it passes only when empty. */
    readonly mode: BodyMode,
  ) {
    this.framer = mode === 'sse' ? new SseFramer() : undefined;
    this.scanning = ctx.scanOwnResult === true || ctx.server.resultGuard?.coversAll === true;
  }

  /** What the external guardrail said about the strings of the body or events being judged. */
  private prefetched: Prefetched | undefined;

  /**
   * The verdict for one body chunk (the whole body in JSON mode). Asynchronous only when
   * an external guardrail is asked about the results it carries first.
   */
  chunk(chunk: Uint8Array, endOfStream: boolean): Verdict | Promise<Verdict> {
    const external = this.scanning && this.ctx.server.resultGuard?.external !== undefined;
    if (this.framer) {
      if (this.failed) return { kind: 'continue', body: 'clear' };
      const heldBefore = this.framer.pendingBytes;
      const blocks = this.framer.push(chunk);
      if (!external) return this.sseBlocks(this.framer, blocks, heldBefore, endOfStream);
      const framer = this.framer;
      return this.prefetch(blocks.map((b) => (b.event?.hasData ? b.event.data : ''))).then(() => this.sseBlocks(framer, blocks, heldBefore, endOfStream));
    }
    if (this.mode !== 'json') return this.opaqueBody(chunk);
    if (!external || chunk.length === 0) return this.jsonBody(chunk);
    return this.prefetch([Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8')]).then(() => this.jsonBody(chunk));
  }

  /** Asks the external guardrail about every string in the results of these JSON texts. */
  private async prefetch(texts: readonly string[]): Promise<void> {
    const results: unknown[] = [];
    for (const t of texts) {
      const v = t === '' ? undefined : parseJson(t);
      for (const m of Array.isArray(v) ? v : [v]) if (m !== null && typeof m === 'object' && 'result' in m) results.push((m as Record<string, unknown>).result);
    }
    this.prefetched = results.length ? await this.ctx.server.resultGuard!.prefetch(results) : undefined;
  }

  private opaqueBody(body: Uint8Array): Verdict {
    if (body.length === 0) return CONTINUE;
    return this.replaceBody(this.fail('response_uninspectable', 'Upstream response could not be inspected: its Content-Type is neither application/json nor text/event-stream'));
  }

  private replaceBody(text: string | Uint8Array): Verdict {
    const bytes = typeof text === 'string' ? encoder.encode(text) : text;
    return { kind: 'continue', body: bytes, headers: { set: [['content-length', String(bytes.length)], JSON_CONTENT_TYPE] } };
  }

  private jsonBody(body: Uint8Array): Verdict {
    if (body.length === 0 || (!this.scanning && !mentionsListKey(body))) return CONTINUE;
    const fast = this.ownListBytes(body);
    if (fast) return fast.body ? this.replaceBody(fast.body) : CONTINUE;
    const value = parseJson(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    let replacement: string | undefined;
    if (value === undefined) replacement = this.fail('response_uninspectable', 'Upstream response could not be inspected: not JSON');
    else {
      const j = this.judge(value);
      if (j.action === 'replace') replacement = JSON.stringify(j.value);
      else if (j.action === 'drop') replacement = this.fail('response_uninspectable', 'Upstream response held only messages the caller may not see');
    }
    return replacement === undefined ? CONTINUE : this.replaceBody(replacement);
  }

  private sseBlocks(framer: SseFramer, blocks: readonly SseBlock[], heldBefore: number, endOfStream: boolean): Verdict {
    let changed = false;
    const out: (Uint8Array | string)[] = [];
    for (const block of blocks) {
      const replaced = this.sseBlock(block);
      if (replaced === undefined) out.push(block.bytes);
      else {
        out.push(replaced);
        changed = true;
      }
    }
    if (framer.pendingBytes > this.ctx.maxEventBytes) {
      // An event larger than we are willing to hold: fail closed for the rest of the stream.
      this.failed = true;
      out.push(serializeSseEvent({ data: this.fail('response_too_large', `an upstream SSE event exceeded ${this.ctx.maxEventBytes} bytes`) }));
      changed = true;
    }
    if (endOfStream) {
      const tail = framer.end();
      if (tail.length) out.push(tail);
    }
    // Nothing held back, nothing replaced: the chunk passes as it is.
    if (!changed && heldBefore === 0 && framer.pendingBytes === 0) return CONTINUE;
    const bytes = concat(out);
    return { kind: 'continue', body: bytes.length ? bytes : 'clear' };
  }

  /** A replacement for one SSE event ("" drops it), or undefined to pass its bytes unchanged. */
  private sseBlock(block: SseBlock): string | undefined {
    const ev = block.event;
    if (!ev || !ev.hasData || ev.data === '' || (!this.scanning && !mentionsListKey(block.bytes))) return undefined;
    const keep = { ...(ev.event !== undefined && { event: ev.event }), ...(ev.id !== undefined && { id: ev.id }), ...(ev.retry !== undefined && { retry: ev.retry }) };
    const fast = this.ctx.request?.list ? this.ownListBytes(Buffer.from(ev.data, 'utf8')) : undefined;
    if (fast) return fast.body ? serializeSseEvent({ data: fast.body.toString('utf8'), ...keep }) : undefined;
    const value = parseJson(ev.data);
    let j: Judgement;
    if (value === undefined) {
      // Not JSON: passes unless it mentions a list key (a lenient client might still read it as a list).
      if (this.scanning && !mentionsListKey(block.bytes)) return undefined;
      this.ctx.onServerMessage?.({ kind: 'unknown', id: undefined, method: undefined, action: 'dropped', reason: 'response_uninspectable', message: 'an SSE event that is not JSON was dropped', target: undefined, filtered: undefined });
      j = DROP;
    } else j = this.judge(value);
    if (j.action === 'pass') return undefined;
    if (j.action === 'replace') return serializeSseEvent({ data: JSON.stringify(j.value), ...keep });
    // Dropped: keep the event id (and retry), so the client's resumption point still moves on.
    return `${ev.id !== undefined ? `id: ${ev.id}\n` : ''}${ev.retry !== undefined ? `retry: ${ev.retry}\n` : ''}${ev.id !== undefined || ev.retry !== undefined ? '\n' : ''}`;
  }

  /**
   * The exchange's own list answer filtered on its bytes (src/curation/filter-list-bytes.ts),
   * when nothing needs its items as objects: no result scanning, no lockfile, no definition
   * scanning. undefined: parse it (also whenever the bytes are not plainly such an answer).
   */
  private ownListBytes(body: Uint8Array): ByteFilterOutcome | undefined {
    const { server, request: own } = this.ctx;
    const list = own?.list;
    if (!list || this.scanning || this.ctx.listBytes === false || server.pins?.listOf(list.resultKey) || server.screen?.listOf(list.resultKey)) return undefined;
    const { input } = this.ctx;
    const policy = server.policy ? (names: string[]) => server.visibleSet!(input(), names.map((name) => ({ kind: list.kind, name, item: null }))) : undefined;
    const out = filterListBytes(Buffer.from(body.buffer, body.byteOffset, body.byteLength), own.id, list, server.curation, policy);
    if (out) this.report.filtered = { returned: out.returned, visible: out.visible };
    return out;
  }

  /** One JSON value from the upstream: a message, or (2025-03-26) a batch of them. */
  private judge(value: unknown): Judgement {
    if (Array.isArray(value)) {
      let changed = false;
      const kept: unknown[] = [];
      for (const m of value) {
        const j = this.judgeMessage(m);
        if (j.action === 'pass') kept.push(m);
        else {
          changed = true;
          if (j.action === 'replace') kept.push(j.value);
        }
      }
      if (!changed) return PASS;
      return kept.length ? { action: 'replace', value: kept } : DROP;
    }
    return this.judgeMessage(value);
  }

  private judgeMessage(value: unknown): Judgement {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return PASS;
    const m = value as Record<string, unknown>;
    if (typeof m.method === 'string') {
      if (m.method === 'notifications/resources/updated') return this.judgeResourceUpdate(m);
      const id = m.id;
      if (this.ctx.onServerRequest && SERVER_REQUEST_METHODS.has(m.method) && (typeof id === 'string' || typeof id === 'number')) {
        const params = m.params !== null && typeof m.params === 'object' && !Array.isArray(m.params) ? (m.params as Record<string, unknown>) : undefined;
        return this.ctx.onServerRequest({ id, method: m.method, params, via: 'message' }).allowed ? PASS : DROP;
      }
      return PASS;
    }
    if (m.result === undefined) return PASS; // A JSON-RPC error carries no items.
    const id = m.id as JsonRpcId | null | undefined;
    if (this.ctx.onServerRequest) {
      const asked = this.judgeInputRequests(m.result, id);
      if (asked) return asked;
    }
    const own = this.ctx.request;
    if (own !== undefined && sameId(id, own.id)) {
      // The answer to this very request: the client reads it as what it asked for.
      if (!own.list) return this.ctx.scanOwnResult ? this.scanResult(m, id, true) : PASS;
      return this.filterOwnList(m, own.list);
    }
    const j = this.filterByShape(m, id);
    // An answer to an unknown request that looks like a tool result: scanned when every tool's results are.
    if (j.action === 'drop' || !this.ctx.server.resultGuard?.coversAll || !looksLikeToolResult(m.result)) return j;
    const scanned = this.scanResult(j.action === 'replace' ? (j.value as Record<string, unknown>) : m, id, false);
    return scanned.action === 'pass' ? j : scanned;
  }

  /**
   * 2026-07-28: an input_required result's embedded server requests, each decided by the
   * policy. One refused (or one that cannot be read) and the answer becomes an error for
   * the request it answers; undefined when the result asks for nothing.
   */
  private judgeInputRequests(result: unknown, id: JsonRpcId | null | undefined): Judgement | undefined {
    const asked = inputRequestsOf(result);
    if (asked === undefined || (Array.isArray(asked) && asked.length === 0)) return undefined;
    const own = this.ctx.request !== undefined && sameId(id, this.ctx.request.id);
    if (!Array.isArray(asked)) {
      const message = `Upstream input_required result could not be inspected: ${asked.problem}`;
      if (own) return { action: 'replace', value: JSON.parse(this.fail('response_uninspectable', message)) };
      this.ctx.onServerMessage?.({ kind: 'response', id, method: undefined, action: 'dropped', reason: 'response_uninspectable', message, target: undefined, filtered: undefined });
      return DROP;
    }
    const refused: { key: JsonRpcId; method: string; message: string }[] = [];
    // Every one is decided (and audited), not only up to the first refusal.
    for (const r of asked) {
      const d = this.ctx.onServerRequest!(r);
      if (!d.allowed) refused.push({ key: r.id, method: r.method, message: d.message ?? `${r.method} refused` });
    }
    if (!refused.length) return undefined;
    const first = refused[0]!;
    const message = `${first.message} (input request "${first.key}"${refused.length > 1 ? ` and ${refused.length - 1} more` : ''})`;
    if (own) this.report.failure = { reason: 'policy_denied', message };
    const data = { input_requests: refused.map((r) => ({ key: r.key, method: r.method })) };
    return { action: 'replace', value: JSON.parse(refusalBody({ reason: 'policy_denied', httpStatus: 200, rpcCode: JsonRpcErrorCode.Forbidden, rpcId: (id ?? null) as JsonRpcId | null, message, data })) };
  }

  /** Result scanning of one answer: redacted in place, replaced by an error (block), or only recorded (flag). */
  private scanResult(m: Record<string, unknown>, id: JsonRpcId | null | undefined, own: boolean): Judgement {
    const found = this.ctx.server.resultGuard!.inspect(m.result, this.prefetched);
    if (!found) return PASS;
    const kinds = Object.keys(found.record.counts);
    if (own) this.report.resultScan = found.record;
    else this.ctx.onServerMessage?.({ kind: 'response', id, method: undefined, action: found.blocked ? 'dropped' : 'filtered', reason: 'result_scan', message: `an answer to another request carried ${kinds.join(', ')} (${found.record.action})`, target: undefined, filtered: undefined, resultScan: found.record });
    if (found.blocked) {
      const message = `The tool result was withheld: it contained ${kinds.join(', ')} (servers[].scan_results)`;
      return { action: 'replace', value: JSON.parse(refusalBody({ reason: 'result_blocked', httpStatus: 200, rpcCode: JsonRpcErrorCode.InternalError, rpcId: (id ?? null) as JsonRpcId | null, message, data: { kinds } })) };
    }
    return found.record.action === 'redacted' ? { action: 'replace', value: { ...m, result: found.value } } : PASS;
  }

  /** The exchange's own list answer: judged by its list's rules; uninspectable → an error in its place. */
  private filterOwnList(m: Record<string, unknown>, list: ListMethod): Judgement {
    const result = m.result;
    if (result === null || typeof result !== 'object' || Array.isArray(result)) return { action: 'replace', value: JSON.parse(this.fail('response_uninspectable', 'Upstream list result is not an object')) };
    const outcome = this.filterList(result as Record<string, unknown>, list);
    if ('error' in outcome) return { action: 'replace', value: JSON.parse(this.fail('response_uninspectable', outcome.error)) };
    this.report.filtered = { returned: outcome.returned, visible: outcome.visible };
    if (outcome.findings.length) this.report.integrity = this.integrityOf(outcome.findings);
    if (outcome.scanned.length) this.report.definitionScan = this.scanOf(outcome.scanned);
    return outcome.changed ? { action: 'replace', value: { ...m, result: outcome.result } } : PASS;
  }

  /** Any other answer: every list-shaped array in its result is filtered; one that cannot be judged drops the message. */
  private filterByShape(m: Record<string, unknown>, id: JsonRpcId | null | undefined): Judgement {
    const result = m.result;
    if (result === null || typeof result !== 'object' || Array.isArray(result)) return PASS;
    let current = result as Record<string, unknown>;
    let returned = 0;
    let visible = 0;
    let changed = false;
    const findings: IntegrityFinding[] = [];
    const scanned: ScanFinding[] = [];
    for (const list of LIST_METHODS.values()) {
      if (current[list.resultKey] === undefined) continue;
      const outcome = this.filterList(current, list);
      if ('error' in outcome) {
        this.ctx.onServerMessage?.({ kind: 'response', id, method: undefined, action: 'dropped', reason: 'response_uninspectable', message: `an upstream answer to another request could not be inspected: ${outcome.error}`, target: undefined, filtered: undefined });
        return DROP;
      }
      returned += outcome.returned;
      visible += outcome.visible;
      findings.push(...outcome.findings);
      scanned.push(...outcome.scanned);
      if (outcome.changed) {
        current = outcome.result;
        changed = true;
      }
    }
    if (findings.length || scanned.length) {
      const integrity = findings.length ? this.integrityOf(findings) : undefined;
      const definitionScan = scanned.length ? this.scanOf(scanned) : undefined;
      const what = integrity?.action === 'hidden' || definitionScan?.action === 'hidden' ? 'removed from' : 'flagged in';
      this.ctx.onServerMessage?.({ kind: 'response', id, method: undefined, action: 'filtered', reason: 'integrity_finding', message: `items that differ from the lockfile or look poisoned ${what} an answer to another request (a replay, a GET stream, or an id that is not the request's)`, target: undefined, filtered: { returned, visible }, integrity, definitionScan });
    } else if (changed) {
      this.ctx.onServerMessage?.({ kind: 'response', id, method: undefined, action: 'filtered', reason: 'not_curated', message: 'hidden items removed from an answer to another request (a replay, or an id that is not the request\'s)', target: undefined, filtered: { returned, visible } });
    }
    if (!changed) return PASS;
    return { action: 'replace', value: { ...m, result: current } };
  }

  private judgeResourceUpdate(m: Record<string, unknown>): Judgement {
    const uri = (m.params as Record<string, unknown> | undefined)?.uri;
    const report = (reason: ServerMessageReport['reason'], message: string, name: string | undefined) =>
      this.ctx.onServerMessage?.({ kind: 'notification', id: undefined, method: m.method as string, action: 'dropped', reason, message, target: name === undefined ? undefined : { kind: 'resource', name }, filtered: undefined });
    if (typeof uri !== 'string') {
      report('response_uninspectable', 'notifications/resources/updated without a params.uri string', undefined);
      return DROP;
    }
    const check = checkResourceUri(uri);
    if (!check.ok) {
      report('uri_not_canonical', `notifications/resources/updated for a URI that ${check.problem}`, uri);
      return DROP;
    }
    if (!this.visibleResource(uri)) {
      report('not_curated', 'notifications/resources/updated for a resource the caller may not see', uri);
      return DROP;
    }
    return PASS;
  }

  private visibleResource(uri: string): boolean {
    const { server } = this.ctx;
    if (!server.curation.visible('resource', uri)) return false;
    if (!server.policy) return true;
    return server.visibleSet!(this.ctx.input(), [{ kind: 'resource', name: uri, item: null }]).has(uri);
  }

  /** Curation, then the policy's visibility (one evaluation for the whole list), then the lockfile. */
  private filterList(result: Record<string, unknown>, list: ListMethod): ListOutcome | { error: string } {
    const { server } = this.ctx;
    let outcome: FilterOutcome | { error: string } = filterListResult(result, list, server.curation);
    if ('error' in outcome) return outcome;
    if (server.policy) {
      const items = outcome.result[list.resultKey] as Record<string, unknown>[];
      const asked: ListItem[] = items.map((i) => ({ kind: list.kind, name: i[list.itemKey] as string, item: null }));
      const seen = server.visibleSet!(this.ctx.input(), asked);
      const kept = items.filter((i) => seen.has(i[list.itemKey] as string));
      if (kept.length !== items.length) outcome = { result: { ...outcome.result, [list.resultKey]: kept }, returned: outcome.returned, visible: kept.length, changed: true };
    }
    const { pins, screen } = server;
    const pinned = pins?.listOf(list.resultKey);
    const screened = screen?.listOf(list.resultKey);
    if (!pinned && !screened) return { ...outcome, findings: NO_FINDINGS, scanned: NO_SCANS };
    // Each item the caller would see is checked against the lock and scanned; in enforce / hide the ones found are hidden.
    const findings: IntegrityFinding[] = [];
    const scanned: ScanFinding[] = [];
    const items = outcome.result[list.resultKey] as Record<string, unknown>[];
    const pinFindings = pinned ? pins!.checkList(pinned, items) : undefined;
    const kept = items.filter((i, n) => {
      let keep = true;
      if (pinFindings) {
        const f = pinFindings[n];
        if (f) {
          findings.push(f);
          keep = pins!.pinning === 'observe';
        }
      }
      if (screened) {
        const f = screen!.checkListed(screened, i);
        if (f) {
          scanned.push(f);
          keep &&= screen!.action === 'flag';
        }
      }
      return keep;
    });
    if (kept.length === items.length) return { ...outcome, findings, scanned };
    return { result: { ...outcome.result, [list.resultKey]: kept }, returned: outcome.returned, visible: kept.length, changed: true, findings, scanned };
  }

  private scanOf(found: readonly ScanFinding[]): ScanRecord {
    return scanRecord(this.ctx.server.screen?.action === 'hide' ? 'hidden' : 'flagged', found);
  }

  private integrityOf(findings: readonly IntegrityFinding[]): IntegrityRecord {
    return integrityRecord(this.ctx.server.pins?.pinning === 'enforce' ? 'hidden' : 'flagged', findings);
  }

  /** Records the failure and returns the JSON-RPC error that replaces the exchange's answer. */
  private fail(reason: FailureReason, message: string): string {
    this.report.failure = { reason, message };
    return refusalBody({ reason: 'invalid_request', httpStatus: 200, rpcCode: JsonRpcErrorCode.InternalError, rpcId: this.ctx.request?.id ?? null, message });
  }
}

/** A tools/call result: `content` or `structuredContent`. */
function looksLikeToolResult(result: unknown): boolean {
  return result !== null && typeof result === 'object' && (Array.isArray((result as Record<string, unknown>).content) || (result as Record<string, unknown>).structuredContent !== undefined);
}

/** JSON-RPC ids are JSON values: 2 and "2" are different ids (even if a client treats them alike). */
function sameId(a: unknown, b: JsonRpcId): boolean {
  return typeof a === typeof b && a === b;
}

/**
 * Responses are parsed with JSON.parse, not the strict parser requests get: the client
 * reads the upstream's response with an ordinary parser too (the last duplicate key
 * wins, as here), so the gateway filters exactly what the client will see.
 */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function concat(parts: readonly (Uint8Array | string)[]): Uint8Array {
  const bufs = parts.map((p) => (typeof p === 'string' ? encoder.encode(p) : p));
  let n = 0;
  for (const b of bufs) n += b.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const b of bufs) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}
