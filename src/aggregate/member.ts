// One member of an aggregate session: an SDK client session to the member's own virtual
// server through Envoy's listener, as the caller (their credential headers on every request),
// so the member's curation, policy, credentials, limits and audit apply as if called directly.
// A member session the gateway or the upstream no longer knows (HTTP 404) is initialised once
// more and the request retried (a 404 means it was not processed); if that fails the member
// is lost, and the aggregate session with it (never half-alive).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Notification, ServerCapabilities } from '@modelcontextprotocol/sdk/types.js';

export interface MemberOptions {
  /** The member's server name (also its prefix). */
  name: string;
  /** The member's endpoint on Envoy's listener. */
  url: URL;
  /** The caller's credential headers, as of the aggregate session's latest request. */
  credentials: () => Readonly<Record<string, string>>;
  /** Notifications the member sends (list changes, resource updates), to relay. */
  onNotification: (member: string, n: Notification) => void;
  clientInfo: { name: string; version: string };
}

/** The member could not be reached again: the aggregate session must end. */
export class MemberLostError extends Error {
  override name = 'MemberLostError';
}

export class MemberConnection {
  private client: Client | undefined;
  private transport: StreamableHTTPClientTransport | undefined;
  private closed = false;
  /** A re-initialisation under way (concurrent requests that hit the 404 share it). */
  private reconnecting: Promise<void> | undefined;
  /** What the member said it can do, at its (latest) initialize. */
  capabilities: ServerCapabilities = {};
  instructions: string | undefined;

  constructor(private readonly opts: MemberOptions) {}

  get name(): string {
    return this.opts.name;
  }

  /** Initialises the member session (rejects with the member's or the gateway's error). */
  async connect(): Promise<void> {
    const client = new Client(this.opts.clientInfo, { capabilities: {} });
    const credentials = this.opts.credentials;
    const transport = new StreamableHTTPClientTransport(this.opts.url, {
      // Headers per request: a caller's refreshed token reaches the members too.
      fetch: (url, init) => {
        const headers = new Headers(init?.headers);
        for (const [k, v] of Object.entries(credentials())) headers.set(k, v);
        return fetch(url, { ...init, headers });
      },
    });
    client.fallbackNotificationHandler = async (n) => this.opts.onNotification(this.opts.name, n);
    await client.connect(transport);
    if (this.closed) {
      await client.close().catch(() => undefined);
      throw new MemberLostError(`member "${this.opts.name}": the aggregate session ended`);
    }
    this.client = client;
    this.transport = transport;
    this.capabilities = client.getServerCapabilities() ?? {};
    this.instructions = client.getInstructions();
  }

  /** Runs one request on the member session, re-initialising it once if the member forgot it. */
  async request<T>(run: (c: Client) => Promise<T>): Promise<T> {
    const client = this.client;
    if (!client || this.closed) throw new MemberLostError(`member "${this.opts.name}" is not connected`);
    try {
      return await run(client);
    } catch (err) {
      if (!(err instanceof StreamableHTTPError && err.code === 404)) throw err;
      await this.reconnect(client);
      if (!this.client) throw new MemberLostError(`member "${this.opts.name}" is not connected`);
      return run(this.client);
    }
  }

  private reconnect(stale: Client): Promise<void> {
    if (this.reconnecting) return this.reconnecting;
    if (this.client !== stale) return Promise.resolve(); // another request already did it
    this.reconnecting = (async () => {
      const old = this.client;
      this.client = undefined;
      void old?.close().catch(() => undefined);
      try {
        await this.connect();
      } catch (err) {
        throw new MemberLostError(`member "${this.opts.name}" lost its session and could not start a new one: ${(err as Error).message}`);
      } finally {
        this.reconnecting = undefined;
      }
    })();
    return this.reconnecting;
  }

  /** Ends the member session (DELETE through the gateway, so it is audited there too). */
  async close(): Promise<void> {
    this.closed = true;
    const [client, transport] = [this.client, this.transport];
    this.client = undefined;
    if (!client) return;
    await transport?.terminateSession().catch(() => undefined);
    await client.close().catch(() => undefined);
  }
}
