// One HTTP exchange (request and its response) as the gateway sees it: the
// decisions for each ext_proc phase, and the one audit event it owes.
// Knows nothing of gRPC or protobuf; src/extproc drives it.
import { performance } from 'node:perf_hooks';
import { jsonRpcErrorBody, parseJsonRpcMessage, type JsonRpcId, type JsonRpcMessage } from '../mcp/jsonrpc.js';
import { checkStandardHeaders } from '../mcp/standard-headers.js';
import { JsonRpcErrorCode } from '../mcp/errors.js';
import { LIST_METHODS, STANDARD_HEADERS_VERSION, caseCollision, type ListMethod, type Target } from '../mcp/protocol.js';
import { headerVersionRefusal, messageVersion, removedMethodRefusal } from './protocol-version.js';
import { emptyAuditEvent, type AuditEvent } from '../audit/event.js';
import { ANONYMOUS, type GatewayRuntime, type ServerRuntime } from './runtime.js';
import type { AuthResult, Identity } from '../identity/types.js';
import { METADATA_ROOT, metadataResponse } from '../oauth/metadata.js';
import { authFailure, checkAudience, scopeFailure } from './auth-refusals.js';
import { callerKey } from '../sessions/binding.js';
import type { BrokerResult } from '../credentials/broker.js';
import type { PolicyFacts, PolicyInput } from '../policy/input.js';
import { decideServerRequest, type ServerRequest } from './server-request-step.js';
import { ANSWER_TICKET_HEADER, listenerBase, redeemTicket, sendAnswer } from './server-answer.js';
import type { HttpRouteConfig } from '../config/types.js';
import type { Catalog } from '../catalog/catalog.js';
import { ResponseFilter, bodyModeOf, type ServerMessageReport } from './response-filter.js';
import { serverMessageEvent } from './server-message-event.js';
import { applyPolicy } from './policy-step.js';
import { applyApproval, approvalDemand, declaresUrlElicitation } from './approval-step.js';
import type { ApprovalDemand } from '../approvals/demand.js';
import { applyCuration } from './curation-step.js';
import { applyIntegrity } from './integrity-step.js';
import { applyLimits, applyStreamLimits, type LimitsStep } from './limits-step.js';
import { NO_LEASE, type Lease, type PolicyLimit } from '../limits/types.js';
import { heldKey } from '../limits/held-slots.js';
import type { Limiter } from '../limits/limiter.js';
import { INTERNAL_HEADER_PREFIX } from './internal-headers.js';
import { VERSION_HEADER } from '../envoy/upstream-cluster.js';
import { refusalBody, type Refusal } from './refusal.js';
import { CONTINUE, JSON_CONTENT_TYPE, withEdit, withHeaders, type HeaderEdit, type Verdict } from './verdict.js';
import type { ExchangeTrace } from './trace.js';
import { replaceMetaTraceparent } from '../telemetry/trace-context.js';

/** Lower-cased header name → value (repeated headers joined with ","). */
export type HeaderBag = Record<string, string>;

/** Facts about the connection that Envoy forwards as attributes. */
export interface ConnectionFacts {
  clientAddress: string | undefined;
  /** Claims Envoy's jwt_authn filter verified (forwarded dynamic metadata), if any. */
  envoyJwtPayload?: Record<string, unknown> | undefined;
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/;

type Phase = 'request_headers' | 'request_body' | 'response_headers' | 'response_body' | 'done';

export class Exchange {
  private phase: Phase = 'request_headers';
  private readonly started = performance.now();
  private server: ServerRuntime | undefined;
  private rpcId: JsonRpcId | null = null;
  private list: ListMethod | undefined;
  private responseFilter: ResponseFilter | undefined;
  /** GET, DELETE and OPTIONS: a body, if Envoy sends one, must be empty. */
  private bodyless = false;
  private audited = false;
  private identity: Identity = ANONYMOUS;
  private headers: HeaderBag = {};
  private message: JsonRpcMessage | undefined;
  private policyInput: PolicyInput | undefined;
  /** The caller's sealed session id and the upstream id inside it. */
  private session: { sealed: string; upstreamId: string } | undefined;
  private readonly event: AuditEvent;
  private responseBytesRead = 0;
  /** The upstream's own session id (from its answer, or unsealed from the caller's). */
  private upstreamSession: string | undefined;
  /** This exchange is the gateway's own answer to a refused server request (server-answer.ts): its exact body. */
  private answerBody: Buffer | undefined;
  /** The credential headers the upstream got (for the sidecar's own answer to a refused server request). */
  private brokeredHeaders: readonly [string, string][] = [];
  /** Concurrency slots held while the request is in flight; released when the exchange ends. */
  private lease: Lease = NO_LEASE;
  /** A limits check is under way (asynchronous: the rate-limit service or Redis). */
  private deciding = false;
  private closed = false;
  /** Forgets this request in the registry of held slots (set while it holds some). */
  private unhold: () => void = () => {};
  /** The response body streams past only to see when it ends (slots held, body not inspected). */
  private watchingBody = false;
  /** The exchange's span (undefined when tracing is off). */
  private readonly trace: ExchangeTrace | undefined;
  /** The JSON-RPC error code the gateway answered with, for the span. */
  private rpcCode: number | undefined;
  /** An initialize whose client declared URL-mode elicitation (only looked at with an approvals section). */
  private urlElicitation = false;

  constructor(private readonly rt: GatewayRuntime) {
    this.event = emptyAuditEvent();
    this.trace = rt.tracer?.exchange(this.started);
  }

  // ---- request headers ------------------------------------------------------

  requestHeaders(h: HeaderBag, endOfStream: boolean, conn: ConnectionFacts): Verdict | Promise<Verdict> {
    this.expect('request_headers');
    const ev = this.event;
    const rawPath = h[':path'] ?? '';
    const q = rawPath.indexOf('?');
    const path = q === -1 ? rawPath : rawPath.slice(0, q);
    const method = h[':method'] ?? '';
    ev.http.method = method;
    ev.http.path = path;
    ev.request_id = h['x-request-id'];
    ev.trace_id = TRACEPARENT.exec(h['traceparent'] ?? '')?.[1];
    ev.session_id = h['mcp-session-id'];
    ev.protocol_version = h['mcp-protocol-version'];
    ev.client_address = conn.clientAddress;
    this.headers = h;

    if (path.startsWith(METADATA_ROOT)) {
      // Public, no credentials needed, not an MCP message (not audited).
      this.audited = true;
      this.phase = 'done';
      return metadataResponse(this.rt.resourceMetadata, path, method);
    }
    if (this.rt.catalog?.serves(path)) return this.catalogRequest(this.rt.catalog, path, rawPath, h, conn);
    const httpRoute = this.rt.httpRoute(path);
    if (httpRoute) return this.httpRouteRequest(httpRoute, h, conn);
    const server = this.rt.route(path);
    if (!server) {
      ev.type = 'http.reject';
      return this.refuse({ reason: 'unknown_server', httpStatus: 404, rpcCode: JsonRpcErrorCode.InvalidRequest, rpcId: null, message: `No MCP server is served at ${path}` });
    }
    this.server = server;
    ev.server = server.config.name;
    const ticket = h[ANSWER_TICKET_HEADER];
    if (ticket !== undefined) return this.gatewayAnswer(ticket, h, method, endOfStream);

    const host = h[':authority'] ?? h['host'] ?? '';
    if (!this.rt.hostAllowed(host)) {
      ev.type = 'http.reject';
      return this.refuse({ reason: 'host_forbidden', httpStatus: 403, rpcCode: JsonRpcErrorCode.InvalidRequest, rpcId: null, message: `Host "${host}" is not allowed (gateway.allowed_hosts)` });
    }
    const origin = h['origin'];
    if (origin !== undefined && !this.rt.originAllowed(origin)) {
      ev.type = 'http.reject';
      return this.refuse({ reason: 'origin_forbidden', httpStatus: 403, rpcCode: JsonRpcErrorCode.InvalidRequest, rpcId: null, message: `Origin "${origin}" is not allowed (gateway.allowed_origins)` });
    }
    // A POST's version is decided with its body (messageVersion), where the request's id is known.
    const unsupported = method === 'POST' ? undefined : headerVersionRefusal(ev.protocol_version);
    if (unsupported) {
      ev.type = 'http.reject';
      return this.refuse(unsupported);
    }

    if (method === 'OPTIONS') {
      // A CORS preflight carries no credentials and no MCP message: Envoy or the upstream answers it.
      ev.type = 'http.options';
      if (endOfStream) {
        this.audited = true;
        this.phase = 'response_headers';
      } else this.expectEmptyBody();
      // Nor a session: an id no one verified (sealed, forged, another caller's) must not reach the upstream.
      return this.stripHeaders(h, h['mcp-session-id'] !== undefined ? ['mcp-session-id'] : undefined);
    }
    const auth = this.rt.authenticator;
    if (!auth) return this.afterAuthentication(h, endOfStream);
    return auth.authenticate({ headers: h, envoyJwtPayload: conn.envoyJwtPayload }).then((r) => this.authenticated(r, h, endOfStream));
  }

  /**
   * The gateway's own answer to a server request it refused, back through Envoy: it goes
   * on as the sidecar sent it (brokered credential, the upstream's session id) when its
   * ticket is one the sidecar issued for this server; anything else is refused.
   */
  private gatewayAnswer(ticket: string, h: HeaderBag, method: string, endOfStream: boolean): Verdict {
    const ev = this.event;
    ev.type = 'mcp.gateway_answer';
    const body = method === 'POST' && !endOfStream ? redeemTicket(ticket, this.server!.config.name) : undefined;
    if (!body) return this.refuse({ reason: 'answer_forged', httpStatus: 403, rpcCode: JsonRpcErrorCode.InvalidRequest, rpcId: null, message: 'Not an answer this gateway sent (unknown, used or expired ticket)' });
    this.answerBody = body;
    this.phase = 'request_body';
    const remove: string[] = [];
    for (const k in h) if (k.startsWith(INTERNAL_HEADER_PREFIX)) remove.push(k);
    return { kind: 'continue', headers: { remove } };
  }

  /**
   * A plain HTTP route (`http_routes`, auth: required): Envoy sends only its request
   * headers. The caller is authenticated and audited; the request goes on without the
   * caller's credentials (unless forward_credentials) and without the gateway's own headers.
   */
  private httpRouteRequest(route: HttpRouteConfig, h: HeaderBag, conn: ConnectionFacts): Verdict | Promise<Verdict> {
    const ev = this.event;
    ev.type = 'http.route';
    ev.server = route.name;
    const refused = this.hostOrOriginRefused(h);
    if (refused) return refused;
    const pass = (): Verdict => {
      this.phase = 'done';
      ev.decision = 'allow';
      ev.reason = 'allowed';
      this.emit();
      const remove: string[] = [];
      for (const k in h) if (k.startsWith(INTERNAL_HEADER_PREFIX)) remove.push(k);
      if (!route.forwardCredentials) for (const k of this.rt.credentialHeaders) if (h[k] !== undefined) remove.push(k);
      const v: Verdict = remove.length ? { kind: 'continue', headers: { remove } } : CONTINUE;
      return this.trace ? withEdit(v, this.beginTrace(undefined)) : v;
    };
    const auth = this.rt.authenticator;
    if (route.auth === 'none' || !auth) return pass();
    return this.authenticateHttp(auth, h, conn, pass);
  }

  /** Host and Origin checks of a plain HTTP request (a route, the catalog): the refusal, if any. */
  private hostOrOriginRefused(h: HeaderBag): Verdict | undefined {
    const host = h[':authority'] ?? h['host'] ?? '';
    if (!this.rt.hostAllowed(host)) return this.refuseHttp({ reason: 'host_forbidden', httpStatus: 403, message: `Host "${host}" is not allowed (gateway.allowed_hosts)` });
    const origin = h['origin'];
    if (origin !== undefined && !this.rt.originAllowed(origin)) return this.refuseHttp({ reason: 'origin_forbidden', httpStatus: 403, message: `Origin "${origin}" is not allowed (gateway.allowed_origins)` });
    return undefined;
  }

  /** Authenticates a plain HTTP request, then goes on with `next`; a failure is refused with a plain JSON body. */
  private authenticateHttp(auth: NonNullable<GatewayRuntime['authenticator']>, h: HeaderBag, conn: ConnectionFacts, next: (id: Identity) => Verdict | Promise<Verdict>): Promise<Verdict> {
    return auth.authenticate({ headers: h, envoyJwtPayload: conn.envoyJwtPayload }).then((r) => {
      if (!r.ok) {
        const refusal = authFailure(r, undefined);
        return this.refuseHttp({ reason: refusal.reason, httpStatus: refusal.httpStatus, message: refusal.message, headers: refusal.headers });
      }
      this.identity = r.identity;
      this.recordIdentity(r.identity);
      return next(r.identity);
    });
  }

  /** The catalog (gateway.catalog): the caller authenticated, then answered by the sidecar itself, audited. */
  private catalogRequest(catalog: Catalog, path: string, rawPath: string, h: HeaderBag, conn: ConnectionFacts): Verdict | Promise<Verdict> {
    const ev = this.event;
    ev.type = 'http.catalog';
    const refused = this.hostOrOriginRefused(h);
    if (refused) return refused;
    const answer = async (identity: Identity): Promise<Verdict> => {
      const q = rawPath.indexOf('?');
      const host = h[':authority'] ?? h['host'] ?? '';
      const a = await catalog.answer(
        { method: ev.http.method, path, query: new URLSearchParams(q === -1 ? '' : rawPath.slice(q + 1)), http: { method: ev.http.method, path, host, headers: h }, sourceAddress: conn.clientAddress },
        { ...identity, issuer: identity.issuer ?? null },
      );
      this.phase = 'done';
      ev.decision = 'allow';
      ev.reason = 'allowed';
      ev.http.status = a.status;
      ev.message = `${a.listed} server(s) listed`;
      this.emit();
      return { kind: 'respond', status: a.status, headers: [JSON_CONTENT_TYPE, ['cache-control', 'private, no-store']], body: ev.http.method === 'HEAD' ? '' : a.body, details: 'mcp_gateway_catalog' };
    };
    const auth = this.rt.authenticator;
    if (!auth) return answer(this.identity);
    return this.authenticateHttp(auth, h, conn, answer);
  }

  /** A refusal on a plain HTTP route: the same audit, a plain JSON body (no JSON-RPC there). */
  private refuseHttp(r: Pick<Refusal, 'reason' | 'httpStatus' | 'message' | 'headers'>): Verdict {
    return this.denied(r, JSON.stringify({ error: { reason: r.reason, message: r.message } }));
  }

  private authenticated(result: AuthResult, h: HeaderBag, endOfStream: boolean): Verdict | Promise<Verdict> {
    const oauth = this.server!.config.oauth;
    const r = checkAudience(result, oauth);
    if (!r.ok) {
      this.event.type = 'http.reject';
      return this.refuse(authFailure(r, oauth));
    }
    this.identity = r.identity;
    const scope = scopeFailure(r.identity, oauth);
    if (scope) {
      this.recordIdentity(r.identity);
      this.event.type = 'http.reject';
      return this.refuse(scope);
    }
    return this.afterAuthentication(h, endOfStream);
  }

  /**
   * After authentication: the HTTP method's rules, then the request headers the upstream
   * gets — the caller's session id unsealed to the upstream's, the caller's credentials
   * removed, the brokered upstream credentials added.
   */
  private afterAuthentication(h: HeaderBag, endOfStream: boolean): Verdict | Promise<Verdict> {
    const ev = this.event;
    const id = this.identity;
    this.recordIdentity(id);
    let verdict = this.methodRules(h, endOfStream);
    if (verdict.kind !== 'continue') return verdict;
    // A POST's span starts with its message (whose _meta may carry the caller's context).
    if (this.trace && ev.http.method !== 'POST') verdict = withEdit(verdict, this.beginTrace(undefined));
    const set: [string, string][] = [];
    const binder = this.rt.sessions;
    const sealed = h['mcp-session-id'];
    if (binder && sealed !== undefined) {
      const opened = binder.open(sealed, callerKey(id), this.server!.config.name);
      if (!opened.ok) {
        // The spec's answer to an unknown session is 404 (the client starts a new one).
        return this.refuse({ reason: opened.reason, httpStatus: 404, rpcCode: JsonRpcErrorCode.InvalidRequest, rpcId: null, message: opened.message });
      }
      set.push(['mcp-session-id', opened.upstreamId]);
      this.session = { sealed, upstreamId: opened.upstreamId };
    }
    const limiter = this.rt.limiter;
    if (limiter?.capsStreams && ev.http.method === 'GET') {
      // An open server stream holds a slot of its caps until Envoy ends it.
      const step = applyStreamLimits(limiter, { server: this.server!.config.name, method: '', target: undefined, identity: id }, ev);
      const next = (s: LimitsStep): Verdict | Promise<Verdict> => {
        const v = this.afterLimits(s, verdict);
        return v.kind === 'continue' && !this.closed ? this.brokered(v, set, h) : v;
      };
      if (!(step instanceof Promise)) return next(step);
      this.deciding = true;
      return step.then((s) => {
        this.deciding = false;
        return next(s);
      });
    }
    return this.brokered(verdict, set, h);
  }

  /** The upstream credentials the broker adds (if the server has one), with the headers set so far. */
  private brokered(verdict: Verdict, set: [string, string][], h: HeaderBag): Verdict | Promise<Verdict> {
    const broker = this.server!.broker;
    if (!broker) return withHeaders(verdict, set);
    const auth = h['authorization'];
    const brokered = broker.headersFor(auth !== undefined && /^bearer /i.test(auth) ? auth.slice(7).trim() : undefined);
    const finish = (r: BrokerResult): Verdict =>
      r.ok ? ((this.brokeredHeaders = r.headers), withHeaders(verdict, [...set, ...r.headers])) : this.refuse({ reason: r.reason, httpStatus: r.status, rpcCode: JsonRpcErrorCode.InternalError, rpcId: null, message: r.message });
    if (!(brokered instanceof Promise)) return finish(brokered);
    const trace = this.trace;
    if (!trace) return brokered.then(finish);
    const started = performance.now();
    return brokered.then((r) => {
      trace.step({ kind: 'token_exchange', server: this.server!.config.name, outcome: r.ok ? 'success' : r.status === 403 ? 'refused' : 'error', error: r.ok ? undefined : r.message }, started, performance.now());
      return finish(r);
    });
  }

  /** Starts the exchange's span (once); its ids go in the audit event. Returns the upstream's trace headers. */
  private beginTrace(params: unknown): HeaderEdit {
    const edit = this.trace!.begin(this.headers, params);
    const ids = this.trace!.ids;
    if (ids) {
      this.event.trace_id = ids.traceId;
      this.event.span_id = ids.spanId;
    }
    return edit;
  }

  private recordIdentity(id: Identity): void {
    this.event.identity = { subject: id.subject, method: id.method, issuer: id.issuer };
    this.event.caller = this.rt.callerOf?.(id);
  }

  private methodRules(h: HeaderBag, endOfStream: boolean): Verdict {
    const ev = this.event;
    const method = ev.http.method;
    const strip = this.stripHeaders(h);
    switch (method) {
      case 'POST': {
        const length = Number(h['content-length'] ?? '0');
        if (length > this.rt.maxRequestBytes) {
          return this.refuse({ reason: 'body_too_large', httpStatus: 413, rpcCode: JsonRpcErrorCode.InvalidRequest, rpcId: null, message: `Request body of ${length} bytes exceeds the limit of ${this.rt.maxRequestBytes}` });
        }
        if (endOfStream) {
          return this.refuse({ reason: 'empty_body', httpStatus: 400, rpcCode: JsonRpcErrorCode.ParseError, rpcId: null, message: 'A POST must carry one JSON-RPC message' });
        }
        this.phase = 'request_body';
        this.standardHeaders = { method: h['mcp-method'], name: h['mcp-name'] };
        return strip;
      }
      case 'GET':
        ev.type = 'http.stream';
        break;
      case 'DELETE':
        ev.type = 'http.delete';
        break;
      default:
        ev.type = 'http.reject';
        return this.refuse({ reason: 'method_not_allowed', httpStatus: 405, rpcCode: JsonRpcErrorCode.InvalidRequest, rpcId: null, message: `HTTP ${method} is not part of the MCP transport`, headers: [['allow', 'GET, POST, DELETE']] });
    }
    if (endOfStream) this.phase = 'response_headers';
    else this.expectEmptyBody();
    return strip;
  }

  /** A method without a body whose request Envoy says has one: it is looked at before anything goes upstream. */
  private expectEmptyBody(): void {
    this.bodyless = true;
    this.phase = 'request_body';
  }

  private standardHeaders: { method: string | undefined; name: string | undefined } = { method: undefined, name: undefined };

  /** Removes the gateway's internal headers a caller may have sent, and the caller's credentials (never passed upstream). */
  private stripHeaders(h: HeaderBag, also?: readonly string[]): Verdict {
    let remove: string[] | undefined = also ? [...also] : undefined;
    for (const k in h) if (k.startsWith(INTERNAL_HEADER_PREFIX)) (remove ??= []).push(k);
    for (const k of this.server!.stripHeaders) if (h[k] !== undefined) (remove ??= []).push(k);
    // Responses of a governed server are inspected: the upstream must not compress them.
    if (this.server!.governed && h['accept-encoding'] !== undefined) (remove ??= []).push('accept-encoding');
    return remove ? { kind: 'continue', headers: { remove } } : CONTINUE;
  }

  // ---- request body ---------------------------------------------------------

  requestBody(body: Uint8Array): Verdict | Promise<Verdict> {
    this.expect('request_body');
    if (this.answerBody) {
      this.event.request_bytes = body.length;
      if (!Buffer.from(body.buffer, body.byteOffset, body.byteLength).equals(this.answerBody)) {
        return this.refuse({ reason: 'answer_forged', httpStatus: 403, rpcCode: JsonRpcErrorCode.InvalidRequest, rpcId: null, message: 'Not an answer this gateway sent (the body differs from the one its ticket was issued for)' });
      }
      const answer = JSON.parse(this.answerBody.toString('utf8')) as { id: JsonRpcId };
      this.event.rpc = { kind: 'response', id: answer.id, method: undefined };
      this.phase = 'response_headers';
      return CONTINUE;
    }
    if (this.bodyless) {
      if (body.length === 0) {
        this.phase = 'response_headers';
        if (this.event.type === 'http.options') this.audited = true;
        return CONTINUE;
      }
      const method = this.event.http.method;
      return this.refuse({ reason: 'body_not_allowed', httpStatus: 400, rpcCode: JsonRpcErrorCode.InvalidRequest, rpcId: null, message: `An HTTP ${method} request must not carry a body in the MCP transport` });
    }
    this.event.request_bytes = body.length;
    // The body is BUFFERED: Envoy sends it once it is whole (or answers 413 itself), so
    // end_of_stream is false only when trailers follow (handled on their own): not checked.
    if (body.length > this.rt.maxRequestBytes) {
      return this.refuse({ reason: 'body_too_large', httpStatus: 413, rpcCode: JsonRpcErrorCode.InvalidRequest, rpcId: null, message: `Request body exceeds the limit of ${this.rt.maxRequestBytes} bytes` });
    }
    if (body.length === 0) {
      return this.refuse({ reason: 'empty_body', httpStatus: 400, rpcCode: JsonRpcErrorCode.ParseError, rpcId: null, message: 'A POST must carry one JSON-RPC message' });
    }
    const parsed = parseJsonRpcMessage(body);
    if (!parsed.ok) {
      return this.refuse({ reason: parsed.reason, httpStatus: 400, rpcCode: parsed.code, rpcId: parsed.id, message: parsed.message });
    }
    this.phase = 'response_headers';
    if (!this.trace) return this.decideMessage(parsed.message);
    const edit = this.beginTrace(parsed.message.kind === 'response' ? undefined : parsed.message.params);
    const traced = (decided: Verdict): Verdict => {
      const verdict = withEdit(decided, edit);
      // The caller's context rode in _meta: the upstream finds the gateway's there too.
      const rewrite = this.trace!.metaRewrite;
      if (!rewrite || verdict.kind !== 'continue') return verdict;
      const mutated = replaceMetaTraceparent(body, rewrite.from, rewrite.to);
      return mutated ? { ...verdict, body: mutated } : verdict;
    };
    // The limits check may be asynchronous (the rate-limit service, Redis).
    const decided = this.decideMessage(parsed.message);
    return decided instanceof Promise ? decided.then(traced) : traced(decided);
  }

  private decideMessage(msg: JsonRpcMessage): Verdict | Promise<Verdict> {
    const ev = this.event;
    const server = this.server!;
    this.message = msg;
    if (msg.kind === 'response') {
      // The client answering a server request (sampling, elicitation, roots).
      ev.type = 'mcp.response';
      ev.rpc = { kind: 'response', id: msg.id, method: undefined };
      const v = messageVersion(this.headers['mcp-protocol-version'], msg);
      return v.ok ? CONTINUE : this.refuse(v.refusal);
    }
    const isRequest = msg.kind === 'request';
    ev.type = isRequest ? 'mcp.request' : 'mcp.notification';
    ev.rpc = { kind: msg.kind, id: isRequest ? msg.id : undefined, method: msg.method };
    this.rpcId = isRequest ? msg.id : null;
    // A refused request gets its JSON-RPC error in a 200 (the client matches it to the
    // request by id); a refused notification can only get an HTTP error status.
    const refuseStatus = isRequest ? 200 : 400;

    // The revision first (header and _meta), then a method that revision removed: both before
    // any header or parameter of the method is looked at.
    const version = messageVersion(this.headers['mcp-protocol-version'], msg);
    if (!version.ok) return this.refuse(version.refusal);
    ev.protocol_version = version.version;
    const removed = removedMethodRefusal(version.version, msg);
    if (removed) return this.refuse(removed);

    if (msg.method === 'initialize' && ev.protocol_version === undefined) {
      const v = msg.params?.protocolVersion;
      if (typeof v === 'string') ev.protocol_version = v;
    }
    // Remembered for the session the answer opens: it may be sent -32042 (approval-step.ts).
    if (msg.method === 'initialize' && this.rt.approvals && (server.approvalRules || server.policy)) this.urlElicitation = declaresUrlElicitation(msg.params?.capabilities);

    const sh = this.standardHeaders;
    if (ev.protocol_version === STANDARD_HEADERS_VERSION || sh.method !== undefined || sh.name !== undefined) {
      const check = checkStandardHeaders(msg, sh.method, sh.name);
      if (!check.ok) {
        return this.refuse({ reason: 'header_mismatch', httpStatus: 400, rpcCode: JsonRpcErrorCode.HeaderMismatch, rpcId: this.rpcId, message: check.message });
      }
    }

    const collision = caseCollision(msg.method);
    if (collision !== undefined) {
      // 2026-07-28 answers an unknown method with 404.
      const status = version.version === STANDARD_HEADERS_VERSION ? 404 : refuseStatus;
      return this.refuse({ reason: 'method_case_mismatch', httpStatus: status, rpcCode: JsonRpcErrorCode.MethodNotFound, rpcId: this.rpcId, message: `Method not found: "${msg.method}" (methods are case-sensitive; did you mean "${collision}"?)` });
    }

    const curation = applyCuration(msg, { server, rpcId: this.rpcId, refuseStatus, redact: this.rt.includeArguments ? this.rt.redact : undefined }, ev);
    if (curation.refusal) return this.refuse(curation.refusal);
    const integrity = applyIntegrity(server, msg, curation.target, this.rpcId, refuseStatus, ev);
    if (integrity) return this.refuse(integrity);

    if (isRequest) this.list = LIST_METHODS.get(msg.method);
    let verdict: Verdict = CONTINUE;
    let policyLimits: readonly PolicyLimit[] = [];
    let policyDemand: ApprovalDemand | undefined;
    if (server.policy) {
      const started = this.trace ? performance.now() : 0;
      const step = applyPolicy(server, this.input(), curation.target, this.rpcId, ev, this.rt.recordedPolicyInput);
      if (this.trace && ev.policy) {
        const p = ev.policy;
        this.trace.step({ kind: 'policy', bundleRevision: p.revision, decisionId: p.decision_id, outcome: p.error !== undefined ? 'error' : p.allowed ? 'allow' : 'deny', error: p.error }, started, performance.now());
      }
      if (step.refusal) return this.refuse(step.refusal);
      if (step.headers.length) verdict = { kind: 'continue', headers: { set: step.headers } };
      policyLimits = step.rateLimits;
      policyDemand = step.approval;
    }
    const demand = approvalDemand(server, msg, curation.target, policyDemand);
    if (demand) return this.approval(msg, demand, curation.target, verdict, policyLimits);
    return this.limits(msg, verdict, policyLimits, curation.target);
  }

  /** The approval gate holds the call back until an approver approved exactly this call. */
  private approval(msg: Extract<JsonRpcMessage, { kind: 'request' | 'notification' }>, demand: ApprovalDemand, target: Target | undefined, verdict: Verdict, policyLimits: readonly PolicyLimit[]): Promise<Verdict> {
    const ev = this.event;
    this.deciding = true;
    const shown = ev.arguments !== undefined ? ev.arguments : this.rt.redact(msg.params?.arguments);
    const context = { gate: this.rt.approvals, server: this.server!, msg, target, identity: this.identity, policyDemand: demand, shownArguments: shown, protocolVersion: ev.protocol_version, sessionId: ev.session_id };
    return applyApproval(context, demand, this.rpcId, ev).then((step) => {
      this.deciding = false;
      if (step.kind === 'refuse') return this.refuse(step.refusal);
      if (step.kind === 'answer') return this.denied({ reason: step.reason, httpStatus: 200, message: step.message }, step.body);
      return this.limits(msg, verdict, policyLimits, target);
    });
  }

  private limits(msg: Extract<JsonRpcMessage, { kind: 'request' | 'notification' }>, verdict: Verdict, policyLimits: readonly PolicyLimit[], target: Target | undefined): Verdict | Promise<Verdict> {
    const ev = this.event;
    const server = this.server!;
    const isRequest = msg.kind === 'request';
    const limiter = this.rt.limiter;
    if (!isRequest) {
      if (limiter && msg.method === 'notifications/cancelled') this.cancelled(limiter, msg.params?.requestId);
      return verdict;
    }
    // Only a request can be refused with an error its sender will match (by id).
    if (!limiter) return verdict;
    const limits = applyLimits(limiter, { server: server.config.name, method: msg.method, target, identity: this.identity }, policyLimits, msg.id, ev);
    if (!(limits instanceof Promise)) return this.afterLimits(limits, verdict);
    this.deciding = true;
    return limits.then((s) => {
      this.deciding = false;
      return this.afterLimits(s, verdict);
    });
  }

  private afterLimits(s: LimitsStep, verdict: Verdict): Verdict {
    if (this.closed) {
      // The exchange ended while the limits were checked: nothing will go upstream.
      s.lease.release();
      return s.refusal ? this.refuse(s.refusal) : verdict;
    }
    if (s.refusal) return this.refuse(s.refusal);
    this.lease = s.lease;
    const session = this.event.session_id;
    if (s.lease !== NO_LEASE && session !== undefined && this.rpcId !== null) {
      this.unhold = this.rt.limiter!.held.hold(heldKey(this.server!.config.name, session, callerKey(this.identity), this.rpcId), s.lease);
    }
    return verdict;
  }

  /** A cancellation frees the slots its request holds here (same caller, session and server). */
  private cancelled(limiter: Limiter, requestId: unknown): void {
    const session = this.event.session_id;
    if (session === undefined || (typeof requestId !== 'string' && typeof requestId !== 'number')) return;
    if (limiter.held.cancel(heldKey(this.server!.config.name, session, callerKey(this.identity), requestId))) this.event.message = `released the concurrency slots of request ${JSON.stringify(requestId)}`;
  }

  /** The input document for this exchange's message, built once. */
  private input(): PolicyInput {
    const h = this.headers;
    const ev = this.event;
    return (this.policyInput ??= this.rt.policyInput({ ...this.inputFacts(), message: this.message, target: ev.target }));
  }

  /** The exchange's facts for a policy input (without its message). */
  private inputFacts(): Omit<PolicyFacts, 'message'> {
    const h = this.headers;
    const ev = this.event;
    return {
      http: { method: ev.http.method, path: ev.http.path, host: h[':authority'] ?? h['host'] ?? '', headers: h },
      sourceAddress: ev.client_address,
      identity: { ...this.identity, issuer: this.identity.issuer ?? null },
      server: this.server!.config.name,
      protocolVersion: ev.protocol_version,
      sessionId: ev.session_id,
    };
  }

  // ---- response headers -----------------------------------------------------

  responseHeaders(h: HeaderBag, endOfStream: boolean): Verdict {
    // Before the request was decided: Envoy answered on its own (see localReply).
    if (this.undecided) return this.localReply(h);
    this.expect('response_headers');
    const status = Number(h[':status']);
    this.event.upstream_status = status;
    this.event.http.status = status;
    if (this.answerBody) {
      this.event.reason = 'gateway_answer';
      this.phase = 'done';
      this.emit();
      return CONTINUE;
    }
    const length = h['content-length'];
    if (length !== undefined && /^\d+$/.test(length)) this.event.response_bytes = Number(length);
    let sealed: Extract<Verdict, { kind: 'continue' }> = CONTINUE;
    if (this.server!.config.versions.length) {
      // Envoy's, from the replica's metadata (an upstream's own is overwritten); not for the client.
      this.event.upstream_version = h[VERSION_HEADER] || undefined;
      sealed = { kind: 'continue', headers: { remove: [VERSION_HEADER] } };
    }
    const upstreamSession = h['mcp-session-id'];
    this.upstreamSession = upstreamSession ?? this.session?.upstreamId;
    if (upstreamSession !== undefined) {
      const binder = this.rt.sessions;
      // The client only ever sees the sealed id, bound to this caller on this server.
      // Upstreams echo the session id on every response: reuse the id the caller sent.
      const clientSession = !binder ? upstreamSession : this.session?.upstreamId === upstreamSession ? this.session.sealed : binder.seal(upstreamSession, callerKey(this.identity), this.server!.config.name);
      this.event.session_id ??= clientSession;
      if (this.urlElicitation) this.rt.approvals!.store.markUrlCapable(clientSession, this.rt.config.sessions.ttlS * 1000).catch(() => {});
      if (binder) sealed = { kind: 'continue', headers: { ...sealed.headers, set: [['mcp-session-id', clientSession]] } };
    }
    const method = this.event.http.method;
    // Clients read JSON-RPC only from a 2xx body (the SDK throws on anything else).
    const server = this.server!;
    const t = this.event.target;
    const scanOwnResult = server.resultGuard !== undefined && this.event.rpc?.method === 'tools/call' && t?.kind === 'tool' && server.resultGuard.appliesTo(t.name);
    const wanted = server.config.inspectResponses === 'all' ? method === 'POST' || method === 'GET' : this.list !== undefined || scanOwnResult;
    const inspect = server.governed && wanted && !endOfStream && status >= 200 && status < 300;
    if (!inspect) {
      this.phase = 'done';
      this.emit();
      if (this.lease === NO_LEASE || endOfStream) return sealed;
      // Concurrency slots are held until the response ends, not until its headers arrive (Envoy
      // ends the ext_proc stream as soon as it has nothing more to send): watch the body pass
      // by, unchanged, to see its end. Only exchanges that hold a slot pay for this.
      this.phase = 'response_body';
      this.watchingBody = true;
      return { ...sealed, kind: 'continue', responseBodyMode: 'streamed' };
    }
    const mode = bodyModeOf(h);
    if (typeof mode !== 'string') return this.uninspectable(mode.problem);
    this.phase = 'response_body';
    this.responseFilter = new ResponseFilter(
      {
        server: this.server!,
        request: this.rpcId === null ? undefined : { id: this.rpcId, list: this.list },
        input: () => this.input(),
        maxEventBytes: this.rt.maxResponseBytes,
        scanOwnResult,
        onServerMessage: (m) => this.auditServerMessage(m),
        onServerRequest: (r) => this.serverRequest(r),
      },
      mode,
    );
    // A GET stream may stay open for hours: it is audited now, what it carries as it comes.
    if (method === 'GET') this.emit();
    return { ...sealed, kind: 'continue', responseBodyMode: mode === 'sse' ? 'streamed' : 'buffered' };
  }

  /**
   * Envoy sent a response before the request reached a decision: its own local reply to a
   * request it could not accept (malformed or HTTP/1.0 framing, oversize headers, a body
   * over its buffer, an upgrade). Nothing went upstream; the client gets Envoy's status.
   */
  private localReply(h: HeaderBag): Verdict {
    const ev = this.event;
    const status = Number(h[':status']);
    ev.type = 'http.local_reply';
    ev.http.status = Number.isFinite(status) ? status : undefined;
    ev.decision = 'deny';
    ev.reason = 'envoy_local_reply';
    ev.message =
      this.phase === 'request_headers'
        ? `Envoy answered ${status} itself: the request was not valid HTTP for this listener (framing, headers, protocol version or upgrade)`
        : `Envoy answered ${status} itself before the request body reached the gateway (e.g. a body over its buffer limit)`;
    this.phase = 'done';
    this.emit();
    return CONTINUE;
  }

  /** A 2xx body the gateway cannot read (compressed): refused, never passed. */
  private uninspectable(problem: string): Verdict {
    this.event.http.status = 502;
    return this.refuse({ reason: 'response_uninspectable', httpStatus: 502, rpcCode: JsonRpcErrorCode.InternalError, rpcId: this.rpcId, message: `Upstream response could not be inspected: ${problem}` });
  }

  // ---- response body --------------------------------------------------------

  responseBody(chunk: Uint8Array, endOfStream: boolean): Verdict | Promise<Verdict> {
    this.expect('response_body');
    if (this.watchingBody) {
      this.event.response_bytes = (this.responseBytesRead += chunk.length);
      if (endOfStream) {
        this.phase = 'done';
        this.unhold();
        this.lease.release();
        this.lease = NO_LEASE;
      }
      return CONTINUE;
    }
    const f = this.responseFilter!;
    this.event.response_bytes = (this.responseBytesRead += chunk.length);
    const failedBefore = f.report.failure !== undefined;
    const verdict = f.chunk(chunk, endOfStream);
    // Only while an external guardrail is asked (servers[].scan_results.external); the ext_proc stream waits.
    return verdict instanceof Promise ? verdict.then((v) => this.afterChunk(v, failedBefore, endOfStream)) : this.afterChunk(verdict, failedBefore, endOfStream);
  }

  private afterChunk(verdict: Verdict, failedBefore: boolean, endOfStream: boolean): Verdict {
    const f = this.responseFilter!;
    const failure = f.report.failure;
    if (failure && !failedBefore && this.audited) {
      // A GET stream, audited when it opened: the failure is an event of its own.
      this.auditServerMessage({ kind: 'unknown', id: undefined, method: undefined, action: 'dropped', reason: 'response_uninspectable', message: failure.message, target: undefined, filtered: undefined });
    }
    if (endOfStream || f.mode !== 'sse') {
      this.phase = 'done';
      if (this.audited) return verdict;
      const ev = this.event;
      ev.filtered = f.report.filtered;
      ev.integrity ??= f.report.integrity;
      ev.definition_scan ??= f.report.definitionScan;
      ev.result_scan = f.report.resultScan;
      if (failure) {
        ev.decision = 'deny';
        ev.reason = failure.reason;
        ev.message = failure.message;
      }
      this.emit();
    }
    return verdict;
  }

  // ---- trailers -------------------------------------------------------------

  /** HTTP/2 request trailers: MCP has no use for them, and they could smuggle credentials upstream. */
  requestTrailers(h: HeaderBag): Verdict {
    const remove = Object.keys(h);
    return remove.length ? { kind: 'continue', headers: { remove } } : CONTINUE;
  }

  /** A request the upstream sends the caller: decided by the policy, audited; a refused one (2025) is answered to the upstream. */
  private serverRequest(req: ServerRequest): { allowed: boolean; message?: string | undefined } {
    const d = decideServerRequest(req, {
      server: this.server!,
      exchange: this.event,
      input: (r) => this.rt.policyInput({ ...this.inputFacts(), message: { kind: 'request', id: r.id, method: r.method, params: r.params, body: {} }, target: undefined, direction: 'server_to_client' }),
      latencyMs: this.elapsedMs(),
    });
    this.rt.audit.write(d.event);
    if (!d.allowed && req.via === 'message') {
      const h = this.headers;
      const server = this.server!.config;
      const body = jsonRpcErrorBody(req.id, JsonRpcErrorCode.Forbidden, d.message!, { reason: 'policy_denied' });
      const sessionId = this.upstreamSession ?? (this.rt.sessions ? undefined : h['mcp-session-id']);
      void sendAnswer(listenerBase(this.rt.config), { server: server.name, path: server.path, directUrl: server.url, sessionId, protocolVersion: h['mcp-protocol-version'], headers: this.brokeredHeaders }, body);
    }
    return d;
  }

  /** One audit event for a message the response filter changed or dropped (not the exchange's own answer). */
  private auditServerMessage(m: ServerMessageReport): void {
    this.rt.audit.write(serverMessageEvent(this.event, m, this.elapsedMs()));
  }

  // ---- end ------------------------------------------------------------------

  /** The ext_proc stream ended (normally, cancelled or broken): the audit event is owed regardless. */
  close(cause: 'complete' | 'cancelled' | 'error'): void {
    this.closed = true;
    this.unhold();
    this.lease.release();
    this.lease = NO_LEASE;
    this.closeAudit(cause);
    // The span covers the exchange to its end (the ext_proc stream's), after its audit event.
    this.trace?.end(this.event, this.rpcCode);
  }

  private closeAudit(cause: 'complete' | 'cancelled' | 'error'): void {
    if (this.audited) return;
    if (this.undecided) {
      // Never decided, so nothing went upstream: the client went away, or Envoy gave up on
      // the request (a malformed body; Envoy's own reply is in its access log).
      const ev = this.event;
      ev.decision = 'deny';
      ev.reason = 'request_incomplete';
      ev.message = 'the request ended before the gateway could decide on it; nothing was sent upstream';
    } else if (cause !== 'complete' && this.event.upstream_status === undefined) {
      this.event.message ??= cause === 'cancelled' ? 'the exchange ended before the upstream answered' : 'the ext_proc stream failed';
    }
    this.emit();
  }

  /** Nothing has been let through yet: the request is still being read or decided. */
  private get undecided(): boolean {
    return this.deciding || this.phase === 'request_headers' || this.phase === 'request_body';
  }

  /**
   * Nothing more to decide. An exchange holding concurrency slots is not finished until
   * Envoy ends the stream (the response is over, or the client went away): then they are freed.
   */
  get finished(): boolean {
    return this.phase === 'done' && this.lease === NO_LEASE;
  }

  /** An allowed GET: the server's SSE stream, open for as long as the client listens. */
  get isListenStream(): boolean {
    return this.event.http.method === 'GET' && this.event.decision !== 'deny';
  }

  private refuse(r: Refusal): Verdict {
    this.rpcCode = r.rpcCode;
    return this.denied(r, refusalBody(r));
  }

  /** The exchange ends refused: recorded, audited, and answered with `body` (JSON). */
  private denied(r: Pick<Refusal, 'reason' | 'httpStatus' | 'message' | 'headers'>, body: string): Verdict {
    this.phase = 'done';
    this.event.decision = 'deny';
    this.event.http.status = r.httpStatus;
    this.event.reason = r.reason;
    this.event.message = r.message;
    this.emit();
    return {
      kind: 'respond',
      status: r.httpStatus,
      headers: r.headers ? [JSON_CONTENT_TYPE, ...r.headers] : [JSON_CONTENT_TYPE],
      body,
      details: `mcp_gateway_${r.reason}`,
    };
  }

  private emit(): void {
    if (this.audited) return;
    this.audited = true;
    // An exchange refused or answered before its span began (a bad body, a local reply) still has one.
    if (this.trace) this.beginTrace(undefined);
    const ev = this.event;
    ev.latency_ms = this.elapsedMs();
    // A tool's cost is owed for a call that passed and was answered.
    const cost = this.server?.toolCost;
    if (cost && ev.target?.kind === 'tool' && ev.decision === 'allow' && ev.upstream_status !== undefined && ev.upstream_status < 300) ev.cost_units = cost(ev.target.name);
    this.rt.audit.write(ev);
  }

  private elapsedMs(): number {
    return Math.round((performance.now() - this.started) * 1000) / 1000;
  }

  private expect(phase: Phase): void {
    if (this.phase !== phase) throw new PhaseError(`unexpected ${phase} message while in phase ${this.phase}`);
  }
}

export class PhaseError extends Error {
  override name = 'PhaseError';
}
