// Builders that hide the protobuf nesting of ext_proc responses. None of them
// sets clear_route_cache: the gateway never changes headers that routing uses.
import type { CommonResponse, HeaderMutation, HeaderValueOption, ProcessingResponse, BodySendMode, ProcessingMode } from './messages.js';
import type { HeaderEdit, ResponseBodyMode, Verdict } from '../gateway/verdict.js';

export type Phase = 'request_headers' | 'response_headers' | 'request_body' | 'response_body' | 'request_trailers' | 'response_trailers';

const BODY_MODE: Record<ResponseBodyMode, BodySendMode> = { none: 'NONE', buffered: 'BUFFERED', streamed: 'STREAMED' };

function setHeader(key: string, value: string): HeaderValueOption {
  return { header: { key, raw_value: Buffer.from(value, 'latin1') }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

function headerMutation(edit: HeaderEdit | undefined): HeaderMutation | undefined {
  if (!edit || (!edit.set?.length && !edit.remove?.length)) return undefined;
  const m: HeaderMutation = {};
  if (edit.set?.length) m.set_headers = edit.set.map(([k, v]) => setHeader(k, v));
  if (edit.remove?.length) m.remove_headers = [...edit.remove];
  return m;
}

/**
 * The processing mode for the rest of an exchange the sidecar let through its request
 * headers: the static config SKIPs response headers (so that Envoy's local replies to
 * requests that never reached the sidecar pass untouched); an exchange under way needs
 * them (session sealing, the audit's upstream status, response inspection). Envoy
 * replaces the whole mode, so every field is given.
 */
export const EXCHANGE_MODE: ProcessingMode = Object.freeze({
  request_header_mode: 'SEND',
  response_header_mode: 'SEND',
  request_body_mode: 'BUFFERED',
  response_body_mode: 'NONE',
  request_trailer_mode: 'SEND',
  response_trailer_mode: 'SKIP',
});

// One frozen "continue, change nothing" reply per phase: the common case allocates nothing.
const PLAIN: Record<Phase, ProcessingResponse> = {
  request_headers: Object.freeze({ request_headers: {}, mode_override: EXCHANGE_MODE }),
  response_headers: Object.freeze({ response_headers: {} }),
  request_body: Object.freeze({ request_body: {} }),
  response_body: Object.freeze({ response_body: {} }),
  request_trailers: Object.freeze({ request_trailers: {} }),
  response_trailers: Object.freeze({ response_trailers: {} }),
};

/** Turns the core's verdict for `phase` into the ext_proc reply. */
export function toProcessingResponse(phase: Phase, v: Verdict): ProcessingResponse {
  if (v.kind === 'respond') {
    return {
      immediate_response: {
        status: { code: v.status },
        headers: headerMutation({ set: v.headers }),
        body: Buffer.from(v.body, 'utf8'),
        details: v.details,
      },
    };
  }
  const mutation = headerMutation(v.headers);
  if (!mutation && v.body === undefined && v.responseBodyMode === undefined) return PLAIN[phase];
  // A trailers reply carries only a header mutation (no CommonResponse).
  if (phase === 'request_trailers' || phase === 'response_trailers') return { [phase]: mutation ? { header_mutation: mutation } : {} };
  const common: CommonResponse = {};
  if (mutation) common.header_mutation = mutation;
  if (v.body !== undefined) common.body_mutation = v.body === 'clear' ? { clear_body: true } : { body: Buffer.from(v.body.buffer, v.body.byteOffset, v.body.byteLength) };
  const reply: ProcessingResponse = { [phase]: { response: common } };
  if (phase === 'request_headers') reply.mode_override = EXCHANGE_MODE;
  // mode_override is honoured only in a headers reply (and needs allow_mode_override).
  if (v.responseBodyMode !== undefined && phase === 'response_headers') reply.mode_override = { ...EXCHANGE_MODE, response_body_mode: BODY_MODE[v.responseBodyMode] };
  return reply;
}
