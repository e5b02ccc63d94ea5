// One ext_proc gRPC stream = one HTTP exchange. Decodes each ProcessingRequest
// into plain values, asks the Exchange for a verdict, sends exactly one reply.
import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { Exchange, type HeaderBag, type ConnectionFacts } from '../gateway/exchange.js';
import type { GatewayRuntime } from '../gateway/runtime.js';
import type { Logger } from '../telemetry/log.js';
import { toProcessingResponse, type Phase } from './builders.js';
import { structToJson } from './struct.js';
import { CONTINUE, type Verdict } from '../gateway/verdict.js';
import type { HeaderMap, ProcessingRequest, ProcessingResponse } from './messages.js';

export type ProcessCall = grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>;

const EXT_PROC_ATTRIBUTES = 'envoy.filters.http.ext_proc';
/** Namespace of Envoy's jwt_authn filter in forwarded dynamic metadata. */
export const JWT_AUTHN_NAMESPACE = 'envoy.filters.http.jwt_authn';
/** The `payload_in_metadata` key the generated jwt_authn provider uses. */
export const JWT_PAYLOAD_KEY = 'jwt_payload';
const EMPTY = new Uint8Array(0);

export function headerBag(map: HeaderMap | undefined): HeaderBag {
  const bag: HeaderBag = {};
  for (const h of map?.headers ?? []) {
    // Envoy sends values as raw bytes; header octets map 1:1 onto latin1.
    const value = h.raw_value !== undefined ? h.raw_value.toString('latin1') : (h.value ?? '');
    const prev = bag[h.key];
    bag[h.key] = prev === undefined ? value : `${prev},${value}`;
  }
  return bag;
}

function connectionFacts(req: ProcessingRequest): ConnectionFacts {
  const fields = req.attributes?.[EXT_PROC_ATTRIBUTES]?.fields;
  const jwt = req.metadata_context?.filter_metadata?.[JWT_AUTHN_NAMESPACE]?.fields?.[JWT_PAYLOAD_KEY];
  return {
    clientAddress: fields?.['source.address']?.stringValue,
    envoyJwtPayload: jwt?.structValue ? structToJson(jwt.structValue) : undefined,
  };
}

/** Told how long the sidecar took to answer each phase message (seconds, from decoding it to the reply). */
export interface PhaseTimer {
  phaseDecided(phase: Phase, seconds: number): void;
}

/** Counts the GET (listen) streams open through the sidecar: a drain does not wait for them. */
export class ListenStreams {
  open = 0;
}

export function handleProcessStream(call: ProcessCall, runtime: () => GatewayRuntime, log: Logger, timer?: PhaseTimer, listens?: ListenStreams): void {
  // The runtime is read once per stream: a reload mid-exchange does not change the rules under it.
  const exchange = new Exchange(runtime());
  let closed = false;
  let listening = false;
  const close = (cause: 'complete' | 'cancelled' | 'error') => {
    if (closed) return;
    closed = true;
    if (listening && listens) listens.open--;
    exchange.close(cause);
  };

  const fail = (err: unknown) => {
    // Fail closed: an error status on the stream makes Envoy answer 5xx (failure_mode_allow: false).
    log.error({ err }, 'ext_proc stream failed');
    close('error');
    // grpc-js turns an 'error' event on a server stream into the stream's final status.
    call.emit('error', { code: grpc.status.INTERNAL, details: `mcp-gateway: ${(err as Error).message}` });
  };
  const reply = (phase: Phase, verdict: Verdict, started: number) => {
    if (closed) return;
    call.write(toProcessingResponse(phase, verdict));
    timer?.phaseDecided(phase, (performance.now() - started) / 1000);
    if (!listening && listens && phase === 'request_headers' && exchange.isListenStream) {
      listening = true;
      listens.open++;
    }
    if (exchange.finished && !listening) {
      // Nothing more to decide: close the stream ourselves. Envoy carries on without the
      // sidecar, instead of resetting the stream later (which costs an Error per request).
      // A listen stream stays open (idle) until Envoy ends it, so that it can be counted.
      close('complete');
      call.end();
    }
  };
  const handle = (req: ProcessingRequest): Promise<void> | undefined => {
    let phase: Phase;
    let verdict: Verdict | Promise<Verdict>;
    const started = timer ? performance.now() : 0;
    try {
      switch (req.request) {
        case 'request_headers':
          phase = 'request_headers';
          verdict = exchange.requestHeaders(headerBag(req.request_headers?.headers), req.request_headers?.end_of_stream === true, connectionFacts(req));
          break;
        case 'request_body':
          phase = 'request_body';
          verdict = exchange.requestBody(req.request_body?.body ?? EMPTY);
          break;
        case 'response_headers':
          phase = 'response_headers';
          verdict = exchange.responseHeaders(headerBag(req.response_headers?.headers), req.response_headers?.end_of_stream === true);
          break;
        case 'response_body':
          phase = 'response_body';
          verdict = exchange.responseBody(req.response_body?.body ?? EMPTY, req.response_body?.end_of_stream === true);
          break;
        case 'request_trailers':
          phase = 'request_trailers';
          verdict = exchange.requestTrailers(headerBag(req.request_trailers?.trailers));
          break;
        case 'response_trailers':
          // Not asked for (response_trailer_mode SKIP); answered unchanged if Envoy sends them anyway.
          phase = 'response_trailers';
          verdict = CONTINUE;
          break;
        default:
          throw new Error(`unexpected ext_proc message "${req.request ?? 'none'}"`);
      }
    } catch (err) {
      fail(err);
      return undefined;
    }
    if (!(verdict instanceof Promise)) {
      reply(phase, verdict, started);
      return undefined;
    }
    const p = phase;
    return verdict.then((v) => reply(p, v, started), fail);
  };

  // Messages are handled strictly in order. Most verdicts are synchronous; only while
  // one is not (authentication) do later messages queue behind it.
  let tail: Promise<void> = Promise.resolve();
  let queued = 0;
  const settle = () => void queued--;
  call.on('data', (req: ProcessingRequest) => {
    if (closed) return;
    if (queued === 0) {
      const p = handle(req);
      if (p) {
        queued++;
        tail = p.finally(settle);
      }
      return;
    }
    queued++;
    tail = tail.then(() => (closed ? undefined : handle(req))).finally(settle);
  });
  call.on('end', () => {
    if (closed) return;
    close('complete');
    call.end();
  });
  call.on('cancelled', () => close('cancelled'));
  call.on('error', () => close('error'));
  call.on('close', () => close('cancelled'));
}
