// Requests, replies and one-way notes between the primary and a worker over the
// process's IPC channel (v8-serialized messages, delivered in order). Both ends use the same class.

/** One IPC message: `id` is set on a request and on its reply. */
export interface WireMessage {
  t: string;
  id?: number;
  b?: unknown;
  /** On a reply: the handler's error message. */
  err?: string;
}

type Handler = (body: never) => unknown;

export class ChannelClosedError extends Error {
  override name = 'ChannelClosedError';
}

export class Channel {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout | undefined }>();
  private readonly handlers = new Map<string, Handler>();
  private closed: Error | undefined;

  /** `send` hands one message to the peer; it may throw when the channel is gone. */
  constructor(private readonly send: (m: WireMessage) => void) {}

  /** Answers requests (and notes) of type `t`; a request is replied with what it returns or throws. */
  handle<B, R>(t: string, fn: (body: B) => R | Promise<R>): void {
    this.handlers.set(t, fn as Handler);
  }

  /** A request; rejects when the peer's handler throws, the channel closes, or `timeoutMs` passes. */
  call<R>(t: string, body?: unknown, timeoutMs?: number): Promise<R> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => this.settle(id, new Error(`${t}: no answer within ${timeoutMs} ms`)), timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      try {
        this.send({ t, id, b: body });
      } catch (err) {
        this.settle(id, err as Error);
      }
    });
  }

  /** A one-way message (no reply). Throws when the channel is gone. */
  notify(t: string, body?: unknown): void {
    if (this.closed) throw this.closed;
    this.send({ t, b: body });
  }

  receive(m: WireMessage): void {
    if (m.t === 'reply') {
      if (m.id !== undefined) this.settle(m.id, m.err === undefined ? undefined : new Error(m.err), m.b);
      return;
    }
    const fn = this.handlers.get(m.t);
    if (m.id === undefined) {
      // A note: nothing to answer; a handler that throws must not take the receiver down.
      try {
        void (fn?.(m.b as never) as Promise<unknown> | undefined)?.catch?.(() => undefined);
      } catch {
        // ignored: see above
      }
      return;
    }
    const id = m.id;
    const reply = (b: unknown, err?: string) => {
      if (this.closed) return;
      try {
        this.send({ t: 'reply', id, b, ...(err !== undefined && { err }) });
      } catch {
        // The peer is gone: nobody waits for this answer.
      }
    };
    if (!fn) return reply(undefined, `no handler for "${m.t}"`);
    Promise.resolve()
      .then(() => fn(m.b as never))
      .then(
        (b) => reply(b),
        (err: unknown) => reply(undefined, (err as Error)?.message ?? String(err)),
      );
  }

  /** The peer is gone: every request still waiting rejects, and later ones at once. */
  close(why: string): void {
    if (this.closed) return;
    this.closed = new ChannelClosedError(why);
    for (const id of [...this.pending.keys()]) this.settle(id, this.closed);
  }

  private settle(id: number, err: Error | undefined, value?: unknown): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value);
  }
}
