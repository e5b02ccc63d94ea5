// Filtering a list response (tools/prompts/resources) down to what the caller may see:
// buffered JSON, or an SSE stream re-framed event by event. Curation first, then (when
// the server has one) the Rego policy's visibility, in one evaluation per page.
import type { JsonRpcId } from '../mcp/jsonrpc.js';
import { SseFramer, serializeSseEvent, type SseBlock } from '../mcp/sse.js';
import { JsonRpcErrorCode } from '../mcp/errors.js';
import type { ListMethod } from '../mcp/protocol.js';
import { filterListResult } from '../curation/filter-list.js';
import type { PolicyInput, ListItem } from '../policy/input.js';
import type { ServerRuntime } from './runtime.js';
import { refusalBody } from './refusal.js';
import { CONTINUE, JSON_CONTENT_TYPE, type Verdict } from './verdict.js';

const encoder = new TextEncoder();

export interface ListFilterContext {
  list: ListMethod;
  server: ServerRuntime;
  /** The id of the list request: only its response is filtered. */
  rpcId: JsonRpcId | null;
  /** The policy input of the list request (built lazily, once). */
  input: () => PolicyInput;
  /** Largest SSE event held back while incomplete. */
  maxEventBytes: number;
}

/** What the filter found, for the audit event. */
export interface ListFilterReport {
  filtered: { returned: number; visible: number } | undefined;
  /** Set when the response could not be inspected and was replaced by an error (fail closed). */
  failure: { reason: 'response_uninspectable' | 'response_too_large'; message: string } | undefined;
}

export class ListResponseFilter {
  readonly report: ListFilterReport = { filtered: undefined, failure: undefined };
  private readonly framer: SseFramer | undefined;
  private failed = false;

  constructor(
    private readonly ctx: ListFilterContext,
    readonly mode: 'json' | 'sse',
  ) {
    this.framer = mode === 'sse' ? new SseFramer() : undefined;
  }

  /** The verdict for one body chunk (the whole body in JSON mode). */
  chunk(chunk: Uint8Array, endOfStream: boolean): Verdict {
    return this.framer ? this.sseChunk(this.framer, chunk, endOfStream) : this.jsonBody(chunk);
  }

  private jsonBody(body: Uint8Array): Verdict {
    const msg = parseResponse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    const replacement = msg ? this.filterResponse(msg) : this.fail('response_uninspectable', 'Upstream response could not be inspected: not a JSON-RPC object');
    if (replacement === undefined) return CONTINUE;
    const bytes = encoder.encode(replacement);
    return { kind: 'continue', body: bytes, headers: { set: [['content-length', String(bytes.length)], JSON_CONTENT_TYPE] } };
  }

  private sseChunk(framer: SseFramer, chunk: Uint8Array, endOfStream: boolean): Verdict {
    if (this.failed) return { kind: 'continue', body: 'clear' };
    const heldBefore = framer.pendingBytes;
    const blocks = framer.push(chunk);
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

  /** A replacement for one SSE event, or undefined to pass its bytes unchanged. */
  private sseBlock(block: SseBlock): string | undefined {
    const ev = block.event;
    if (!ev || !ev.hasData || ev.data === '') return undefined;
    const m = parseResponse(ev.data);
    // Not a JSON-RPC object (a priming event, say), or not the list response: passes unchanged.
    if (!m || m.id !== this.ctx.rpcId || 'method' in m) return undefined;
    const replacement = this.filterResponse(m);
    if (replacement === undefined) return undefined;
    return serializeSseEvent({ data: replacement, ...(ev.event !== undefined && { event: ev.event }), ...(ev.id !== undefined && { id: ev.id }), ...(ev.retry !== undefined && { retry: ev.retry }) });
  }

  /** Filters a list response; returns the new JSON text, or undefined when it passes unchanged. */
  private filterResponse(body: Record<string, unknown>): string | undefined {
    const result = body.result;
    if (result === undefined) return undefined; // A JSON-RPC error passes through.
    if (result === null || typeof result !== 'object' || Array.isArray(result)) return this.fail('response_uninspectable', 'Upstream list result is not an object');
    const { list, server } = this.ctx;
    const outcome = filterListResult(result as Record<string, unknown>, list, server.curation);
    if ('error' in outcome) return this.fail('response_uninspectable', outcome.error);
    let { result: filtered, visible, changed } = outcome;
    if (server.policy) {
      // One evaluation for the whole page: the rule that governs calls decides what is seen.
      const items = filtered[list.resultKey] as Record<string, unknown>[];
      const asked: ListItem[] = items.map((i) => ({ kind: list.kind, name: i[list.itemKey] as string, item: null }));
      const seen = server.policy.current().visibleSet(this.ctx.input(), asked);
      const kept = items.filter((i) => seen.has(i[list.itemKey] as string));
      if (kept.length !== items.length) {
        filtered = { ...filtered, [list.resultKey]: kept };
        visible = kept.length;
        changed = true;
      }
    }
    this.report.filtered = { returned: outcome.returned, visible };
    if (!changed) return undefined;
    return JSON.stringify({ ...body, result: filtered });
  }

  /** Records the failure and returns the JSON-RPC error that replaces the response. */
  private fail(reason: 'response_uninspectable' | 'response_too_large', message: string): string {
    this.report.failure = { reason, message };
    return refusalBody({ reason: 'invalid_request', httpStatus: 200, rpcCode: JsonRpcErrorCode.InternalError, rpcId: this.ctx.rpcId, message });
  }
}

/**
 * Responses are parsed with JSON.parse, not the strict parser requests get: the client
 * reads the upstream's response with an ordinary parser too (the last duplicate key
 * wins, as here), so the gateway filters exactly what the client will see — at half
 * the cost on a large list.
 */
function parseResponse(text: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
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
