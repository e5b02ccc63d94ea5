// The gateway's own answer to a server request it refused (2025 revisions: the upstream
// waits for the client's JSON-RPC response in its session). It is POSTed through Envoy's
// listener, as the client's answer would have been: it takes the server's route, reaches
// the replica that holds the session (stateful_session routes by the enveloped
// Mcp-Session-Id the sidecar holds), over the cluster's TLS, with the brokered credential.
//
// The POST comes back through ext_proc as an exchange of its own. It carries a one-time
// ticket in an internal header (any caller's x-mcp-gateway-* header is stripped, and an
// unknown ticket is refused), issued for one server and one exact body, valid for a few
// seconds: a caller cannot forge a gateway answer, nor replay or alter one.
//
// A TLS listener is not used (the sidecar would need the listener's client certificate
// when it requires one): then the answer goes straight to the server's first replica.
import { randomUUID } from 'node:crypto';
import type { GatewayConfig } from '../config/types.js';
import { INTERNAL_HEADER_PREFIX } from './internal-headers.js';

/** The ticket header of a gateway answer (internal: no caller can send one). */
export const ANSWER_TICKET_HEADER = `${INTERNAL_HEADER_PREFIX}answer-ticket`;

const TICKET_TTL_MS = 10_000;
const MAX_PENDING = 1_000;

interface Ticket {
  server: string;
  body: Buffer;
  expiresMs: number;
}

/** Tickets issued and not yet redeemed (process-wide: they outlive a config reload). */
const pending = new Map<string, Ticket>();

export function issueTicket(server: string, body: string, now = Date.now()): string {
  for (const [k, t] of pending) if (t.expiresMs <= now || pending.size >= MAX_PENDING) pending.delete(k);
  const ticket = randomUUID();
  pending.set(ticket, { server, body: Buffer.from(body, 'utf8'), expiresMs: now + TICKET_TTL_MS });
  return ticket;
}

/** The body a ticket was issued for, once: undefined when unknown, expired, or for another server. */
export function redeemTicket(ticket: string, server: string, now = Date.now()): Buffer | undefined {
  const t = pending.get(ticket);
  if (!t) return undefined;
  pending.delete(ticket);
  return t.server === server && t.expiresMs > now ? t.body : undefined;
}

export interface AnswerTarget {
  server: string;
  /** The server's path on the gateway. */
  path: string;
  /** The server's first replica (when the listener cannot be used). */
  directUrl: URL;
  /** The upstream's own session id (as Envoy's stateful_session enveloped it). */
  sessionId: string | undefined;
  protocolVersion: string | undefined;
  /** The brokered credential headers the upstream got for the exchange. */
  headers: readonly [string, string][];
}

/** Envoy's listener as the sidecar reaches it, or undefined when it cannot (TLS). */
export function listenerBase(c: GatewayConfig): string | undefined {
  if (c.gateway.tls) return undefined;
  const { host, port } = c.gateway.listen;
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

/** Best effort (the upstream times the request out otherwise): resolves when sent, never rejects. */
export async function sendAnswer(base: string | undefined, to: AnswerTarget, body: string): Promise<number | undefined> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (to.sessionId !== undefined) headers['mcp-session-id'] = to.sessionId;
  if (to.protocolVersion !== undefined) headers['mcp-protocol-version'] = to.protocolVersion;
  for (const [k, v] of to.headers) headers[k] = v;
  let url: string | URL = to.directUrl;
  if (base !== undefined) {
    url = base + to.path;
    headers[ANSWER_TICKET_HEADER] = issueTicket(to.server, body);
  }
  try {
    const r = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5000) });
    await r.body?.cancel();
    return r.status;
  } catch {
    return undefined;
  }
}
