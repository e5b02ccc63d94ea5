// A raw JSON-RPC pump between the callers of one stdio process and the process: every
// message passes both ways as written, except that a process shared by several callers
// gets request ids (and progress tokens) of its own, so that two callers' id 1 cannot
// collide, and the answer goes back under the caller's id. Server-initiated requests and
// notifications go to the caller they belong to (by progress token or request id), else
// to the caller with the latest request in flight, else (one caller) to that caller.
import type { JsonRpcMessage, Program, ProgramExit } from './program.js';

export type RequestId = string | number;

/** A caller (an MCP session, or one stateless request) as the channel sees it. */
export interface Peer {
  /** A message for the client; `related`: the caller's request it belongs to, when known. */
  deliver(message: JsonRpcMessage, related?: RequestId): void;
  /** The process is gone (its exit said why); the caller's requests were already answered. */
  closed?(exit: ProgramExit): void;
}

/** A JSON-RPC error of the bridge's own (server error range), with a stable reason in `data`. */
export const STDIO_ERROR_CODE = -32000;
export type StdioErrorReason = 'stdio_exited' | 'stdio_start_failed' | 'stdio_pool_full' | 'stdio_unavailable' | 'stdio_duplicate_id';

export function stdioError(id: RequestId | null, reason: StdioErrorReason, message: string): JsonRpcMessage {
  return { jsonrpc: '2.0', id, error: { code: STDIO_ERROR_CODE, message, data: { reason } } };
}

interface Pending {
  peer: Peer;
  id: RequestId;
  token: { key: string; caller: unknown } | undefined;
}

const keyOf = (id: unknown) => (typeof id === 'string' ? `s${id}` : `n${String(id)}`);
/** Notifications every caller of a shared process hears (they are about the server, not a request). */
const BROADCAST = new Set(['notifications/tools/list_changed', 'notifications/prompts/list_changed', 'notifications/resources/list_changed', 'notifications/resources/updated']);

export class Channel {
  private readonly pending = new Map<string, Pending>();
  private readonly tokens = new Map<string, Pending>();
  private readonly serverRequests = new Map<string, Peer>();
  private readonly peers = new Set<Peer>();
  private next = 0;
  private exit: ProgramExit | undefined;

  /**
   * @param rewrite give requests ids of the channel's own (a process several callers share)
   * @param onAnswer called when the process answers a request (it is working)
   * @param onActivity called on every message either way
   */
  constructor(
    readonly program: Program,
    private readonly rewrite: boolean,
    private readonly onAnswer: () => void = () => undefined,
    private readonly onActivity: () => void = () => undefined,
  ) {
    program.onMessage = (m) => this.fromProgram(m);
    void program.exited.then((e) => this.closed(e));
  }

  /** Requests in flight (the process is busy). */
  get inFlight(): number {
    return this.pending.size;
  }

  get isClosed(): boolean {
    return this.exit !== undefined;
  }

  attach(peer: Peer): void {
    this.peers.add(peer);
  }

  /** The caller is gone: its requests in flight are cancelled at the process. */
  detach(peer: Peer): void {
    this.peers.delete(peer);
    for (const [out, p] of this.pending) if (p.peer === peer) this.cancelOut(out, p);
    for (const [k, p] of this.serverRequests) if (p === peer) this.serverRequests.delete(k);
  }

  /** A request from the caller; its answer comes back through peer.deliver(). */
  request(peer: Peer, msg: JsonRpcMessage): void {
    const id = msg.id as RequestId;
    if (this.exit) return peer.deliver(stdioError(id, 'stdio_exited', this.exit.reason), id);
    this.onActivity();
    let out: RequestId = id;
    if (this.rewrite) out = `mcpgw-${++this.next}`;
    else if (this.pending.has(keyOf(id))) return peer.deliver(stdioError(id, 'stdio_duplicate_id', `request id ${JSON.stringify(id)} is already in flight in this session`), id);
    const entry: Pending = { peer, id, token: undefined };
    const params = msg.params as { _meta?: { progressToken?: unknown } } | undefined;
    const token = params?._meta?.progressToken;
    let sent = msg;
    if (token !== undefined && (typeof token === 'string' || typeof token === 'number')) {
      const outToken = this.rewrite ? `${out}` : token;
      entry.token = { key: keyOf(outToken), caller: token };
      this.tokens.set(entry.token.key, entry);
      if (this.rewrite) sent = { ...msg, params: { ...params, _meta: { ...params!._meta, progressToken: outToken } } };
    }
    this.pending.set(keyOf(out), entry);
    this.program.send(this.rewrite ? { ...sent, id: out } : sent);
  }

  /** The caller stopped waiting for `id` (its HTTP request went away). */
  cancel(peer: Peer, id: RequestId): void {
    for (const [out, p] of this.pending) if (p.peer === peer && p.id === id) this.cancelOut(out, p);
  }

  /** A notification from the caller (`notifications/cancelled` names the caller's id, so it is mapped). */
  notify(peer: Peer, msg: JsonRpcMessage): void {
    if (this.exit) return;
    this.onActivity();
    if (msg.method === 'notifications/cancelled') {
      const params = msg.params as { requestId?: RequestId } | undefined;
      let found = false;
      for (const [out, p] of this.pending) if (p.peer === peer && p.id === params?.requestId) (found = true), this.cancelOut(out, p, params as Record<string, unknown>);
      // A cancel of a request of another caller (or of none in flight) goes nowhere on a shared process.
      if (found || this.rewrite) return;
    }
    this.program.send(msg);
  }

  /** The caller's answer to a request of the process: only the caller it was sent to may answer it. */
  answer(peer: Peer, msg: JsonRpcMessage): boolean {
    const k = keyOf(msg.id);
    if (this.exit || this.serverRequests.get(k) !== peer) return false;
    this.serverRequests.delete(k);
    this.onActivity();
    this.program.send(msg);
    return true;
  }

  private cancelOut(out: string, p: Pending, params: Record<string, unknown> = {}): void {
    this.pending.delete(out);
    if (p.token) this.tokens.delete(p.token.key);
    const requestId = out.startsWith('s') ? out.slice(1) : Number(out.slice(1));
    if (!this.exit) this.program.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { ...params, requestId } });
  }

  private fromProgram(msg: JsonRpcMessage): void {
    this.onActivity();
    const hasId = Object.hasOwn(msg, 'id');
    if (hasId && msg.method === undefined) return this.answered(msg);
    if (hasId) {
      // A request of the server's own (sampling, elicitation, roots): its id stays as it is.
      const latest = this.latest();
      const peer = latest?.peer ?? this.soloPeer();
      if (!peer) return;
      this.serverRequests.set(keyOf(msg.id), peer);
      return peer.deliver(msg, latest?.id);
    }
    const params = msg.params as Record<string, unknown> | undefined;
    if (msg.method === 'notifications/progress' && params) {
      const p = this.tokens.get(keyOf(params.progressToken));
      if (p) return p.peer.deliver(this.rewrite ? { ...msg, params: { ...params, progressToken: p.token!.caller } } : msg, p.id);
      return;
    }
    if (msg.method === 'notifications/cancelled' && params) {
      const peer = this.serverRequests.get(keyOf(params.requestId));
      if (peer) peer.deliver(msg);
      return;
    }
    const solo = this.soloPeer();
    if (solo) return solo.deliver(msg, this.latest()?.id);
    if (BROADCAST.has(msg.method as string)) for (const peer of this.peers) peer.deliver(msg);
    else {
      const latest = this.latest();
      latest?.peer.deliver(msg, latest.id);
    }
  }

  private answered(msg: JsonRpcMessage): void {
    const k = keyOf(msg.id);
    const p = this.pending.get(k);
    if (!p) return; // cancelled, or not ours
    this.pending.delete(k);
    if (p.token) this.tokens.delete(p.token.key);
    this.onAnswer();
    p.peer.deliver(this.rewrite ? { ...msg, id: p.id } : msg, p.id);
  }

  private latest(): Pending | undefined {
    let last: Pending | undefined;
    for (const p of this.pending.values()) last = p;
    return last;
  }

  private soloPeer(): Peer | undefined {
    if (this.peers.size !== 1) return undefined;
    return this.peers.values().next().value;
  }

  private closed(exit: ProgramExit): void {
    this.exit = exit;
    for (const p of this.pending.values()) p.peer.deliver(stdioError(p.id, 'stdio_exited', exit.reason), p.id);
    this.pending.clear();
    this.tokens.clear();
    for (const peer of this.peers) peer.closed?.(exit);
    this.peers.clear();
  }
}
