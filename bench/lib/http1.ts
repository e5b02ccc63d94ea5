// A small HTTP/1.1 client over net.Socket for the load generator: keep-alive
// connections (one request at a time on each, no pipelining), a FIFO queue when
// all are busy, Content-Length and chunked bodies. It does a fraction of
// node:http's per-request work (no streams, no header objects for every line),
// which matters on a 2-core machine where the generator shares the CPUs with
// everything it measures.
import { connect, type Socket } from 'node:net';

export interface Reply {
  status: number;
  /** Lower-cased names of the headers the benchmark reads. */
  headers: Record<string, string>;
  body: Buffer;
}

export type ReplyCallback = (failure: string | undefined, reply?: Reply) => void;

const WANTED = new Set(['content-length', 'transfer-encoding', 'connection', 'mcp-session-id', 'content-type']);
const CRLFCRLF = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

interface Pending {
  head: string;
  body: string;
  done: ReplyCallback;
}

class Connection {
  readonly socket: Socket;
  private current: Pending | undefined;
  private parts: Buffer[] = [];
  private size = 0;
  private status = 0;
  private headers: Record<string, string> = {};
  private bodyStart = -1;
  private contentLength = -1;
  private chunked = false;
  private closeAfter = false;
  dead = false;

  constructor(
    host: string,
    port: number,
    private readonly onIdle: (c: Connection) => void,
    private readonly onDead: (c: Connection) => void,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (b: Buffer) => this.data(b));
    this.socket.on('error', (e: NodeJS.ErrnoException) => this.die(`socket ${e.code ?? e.message}`));
    this.socket.on('close', () => this.die('connection closed'));
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  send(p: Pending): void {
    this.current = p;
    this.parts = [];
    this.size = 0;
    this.bodyStart = -1;
    this.socket.write(p.head + p.body);
  }

  private die(why: string): void {
    if (this.dead) return;
    this.dead = true;
    this.socket.destroy();
    const p = this.current;
    this.current = undefined;
    this.onDead(this);
    p?.done(why);
  }

  abort(): void {
    this.die('aborted');
  }

  private data(b: Buffer): void {
    if (!this.current) return; // unsolicited bytes: ignore (the server will close)
    this.parts.push(b);
    this.size += b.length;
    if (this.bodyStart < 0 && !this.parseHead()) return;
    if (this.bodyStart < 0) return;
    let body: Buffer | undefined;
    if (this.contentLength >= 0) {
      if (this.size - this.bodyStart < this.contentLength) return;
      body = this.all().subarray(this.bodyStart, this.bodyStart + this.contentLength);
    } else if (this.chunked) {
      body = this.dechunk();
      if (!body) return;
    } else if (this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200)) {
      body = EMPTY;
    } else {
      return; // body until close: die() reports it; the benchmark's peers never do this
    }
    const reply: Reply = { status: this.status, headers: this.headers, body };
    const p = this.current!;
    this.current = undefined;
    if (this.closeAfter) {
      this.dead = true;
      this.socket.destroy();
      this.onDead(this);
    } else {
      this.onIdle(this);
    }
    p.done(undefined, reply);
  }

  private all(): Buffer {
    if (this.parts.length > 1) this.parts = [Buffer.concat(this.parts, this.size)];
    return this.parts[0]!;
  }

  private parseHead(): boolean {
    const buf = this.all();
    const end = buf.indexOf(CRLFCRLF);
    if (end < 0) return false;
    const lines = buf.toString('latin1', 0, end).split('\r\n');
    this.status = Number(lines[0]!.slice(9, 12));
    const h: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const c = line.indexOf(':');
      if (c <= 0) continue;
      const name = line.slice(0, c).toLowerCase();
      if (WANTED.has(name)) h[name] = line.slice(c + 1).trim();
    }
    this.headers = h;
    this.contentLength = h['content-length'] !== undefined ? Number(h['content-length']) : -1;
    this.chunked = (h['transfer-encoding'] ?? '').toLowerCase().includes('chunked');
    this.closeAfter = (h.connection ?? '').toLowerCase() === 'close';
    this.bodyStart = end + 4;
    return true;
  }

  /** The whole de-chunked body once the terminating chunk has arrived, else undefined. */
  private dechunk(): Buffer | undefined {
    const buf = this.all();
    const out: Buffer[] = [];
    let i = this.bodyStart;
    for (;;) {
      const eol = buf.indexOf('\r\n', i, 'latin1');
      if (eol < 0) return undefined;
      const n = parseInt(buf.toString('latin1', i, eol), 16);
      if (Number.isNaN(n)) {
        this.die('bad chunk size');
        return undefined;
      }
      if (n === 0) {
        // Trailers (none expected) end with an empty line.
        if (buf.indexOf(CRLFCRLF, eol) !== eol) return undefined;
        return out.length === 0 ? EMPTY : out.length === 1 ? out[0] : Buffer.concat(out);
      }
      if (buf.length < eol + 2 + n + 2) return undefined;
      out.push(buf.subarray(eol + 2, eol + 2 + n));
      i = eol + 2 + n + 2;
    }
  }
}

/** Keep-alive connections to one host:port. */
export class Http1Client {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly queue: Pending[] = [];
  private readonly hostHeader: string;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly maxConnections: number,
  ) {
    this.hostHeader = `${host}:${port}`;
  }

  /** `headers`: extra header lines, each ending in \r\n. */
  post(path: string, headers: string, body: string, done: ReplyCallback): void {
    const p: Pending = {
      head: `POST ${path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\n${headers}content-length: ${Buffer.byteLength(body)}\r\n\r\n`,
      body,
      done,
    };
    const c = this.idle.pop();
    if (c) return c.send(p);
    if (this.all.size < this.maxConnections) return this.open().send(p);
    this.queue.push(p);
  }

  private open(): Connection {
    const c = new Connection(
      this.host,
      this.port,
      (conn) => {
        const next = this.queue.shift();
        if (next) conn.send(next);
        else this.idle.push(conn);
      },
      (conn) => {
        this.all.delete(conn);
        const i = this.idle.indexOf(conn);
        if (i >= 0) this.idle.splice(i, 1);
        // Whoever waits gets a fresh connection.
        const next = this.queue.shift();
        if (next) this.open().send(next);
      },
    );
    this.all.add(c);
    return c;
  }

  /** Fails everything queued or in flight (the end of a measurement window). */
  abortAll(): void {
    const queued = this.queue.splice(0);
    for (const c of [...this.all]) if (c.busy) c.abort();
    for (const p of queued) p.done('aborted');
  }

  get openConnections(): number {
    return this.all.size;
  }
}
