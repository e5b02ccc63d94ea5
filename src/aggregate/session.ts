// One client session of an aggregate: the MCP server the client talks to (through Envoy and
// the sidecar), backed by one member session per member. Lists are merged (tools and prompts
// prefixed `<member><sep><name>`, resource URIs kept as they are), requests routed by prefix,
// or, for resources, to the member that listed the URI; member notifications are relayed.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type Notification,
  type ServerCapabilities,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { MemberConnection, MemberLostError } from './member.js';
import { decodeCursor, encodeCursor, prefixed, splitName } from './names.js';
import { ResourceOwners } from './resource-owners.js';
import { AggregateRpcError } from './rpc-error.js';

const raw = z.looseObject({});
type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
type Capability = 'tools' | 'prompts' | 'resources' | 'completions';

export interface AggregateSessionOptions {
  aggregate: string;
  separator: string;
  /** Member name → its endpoint on Envoy's listener, in merge order. */
  members: readonly { name: string; url: URL }[];
  version: string;
  /** Called once when a member is lost: the session must be closed. */
  onLost: (err: MemberLostError) => void;
}

/** A member's error as the aggregate's: the same code and data, the member named. */
function memberError(member: string, err: unknown): Error {
  if (err instanceof MemberLostError) return new AggregateRpcError(ErrorCode.InternalError, `${err.message}; the aggregate session is closed, start a new one`);
  if (err instanceof McpError) return new AggregateRpcError(err.code, `${member}: ${err.message.replace(/^(MCP error -?\d+: )+/, '')}`, err.data);
  return new AggregateRpcError(ErrorCode.InternalError, `${member}: ${(err as Error).message}`);
}

export class AggregateSession {
  readonly server: Server;
  private readonly members = new Map<string, MemberConnection>();
  private readonly names: ReadonlySet<string>;
  private readonly owners = new ResourceOwners();
  private credentials: Readonly<Record<string, string>> = {};
  private lost = false;

  private constructor(private readonly opts: AggregateSessionOptions, members: MemberConnection[]) {
    for (const m of members) this.members.set(m.name, m);
    this.names = new Set(this.members.keys());
    this.server = new Server({ name: `mcp-gateway/${opts.aggregate}`, version: opts.version }, { capabilities: this.capabilities(), instructions: this.instructions() });
    this.handlers();
  }

  /** Opens every member session as the caller whose headers these are; rejects (closing what opened) if any fails. */
  static async open(opts: AggregateSessionOptions, credentials: Readonly<Record<string, string>>): Promise<AggregateSession> {
    let session: AggregateSession | undefined;
    const conns = opts.members.map(
      (m) =>
        new MemberConnection({
          name: m.name,
          url: m.url,
          credentials: () => session?.credentials ?? credentials,
          onNotification: (member, n) => session?.relay(member, n),
          clientInfo: { name: `mcp-gateway/${opts.aggregate}`, version: opts.version },
        }),
    );
    const results = await Promise.allSettled(conns.map((c) => c.connect()));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed !== -1) {
      await Promise.all(conns.map((c) => c.close()));
      throw memberError(opts.members[failed]!.name, (results[failed] as PromiseRejectedResult).reason);
    }
    session = new AggregateSession(opts, conns);
    session.credentials = credentials;
    return session;
  }

  /** The caller's credential headers of the latest request (a refreshed token is used from then on). */
  setCredentials(h: Readonly<Record<string, string>>): void {
    this.credentials = h;
  }

  async close(): Promise<void> {
    await Promise.all([...this.members.values()].map((m) => m.close()));
  }

  private capabilities(): ServerCapabilities {
    const has = (c: Capability) => [...this.members.values()].some((m) => m.capabilities[c] !== undefined);
    return {
      ...(has('tools') && { tools: { listChanged: true } }),
      ...(has('prompts') && { prompts: { listChanged: true } }),
      ...(has('completions') && { completions: {} }),
      ...(has('resources') && { resources: { listChanged: true, subscribe: [...this.members.values()].some((m) => m.capabilities.resources?.subscribe === true) } }),
    };
  }

  private instructions(): string | undefined {
    const parts = [...this.members.values()].filter((m) => m.instructions).map((m) => `${m.name} (tools and prompts prefixed "${m.name}${this.opts.separator}"): ${m.instructions}`);
    return parts.length ? parts.join('\n\n') : undefined;
  }

  /** Runs a request on one member; a lost member ends the session. */
  private async on<T>(member: string, run: (c: Client) => Promise<T>): Promise<T> {
    const m = this.members.get(member)!;
    try {
      return await m.request(run);
    } catch (err) {
      if (err instanceof MemberLostError && !this.lost) {
        this.lost = true;
        this.opts.onLost(err);
      }
      throw memberError(member, err);
    }
  }

  private route(name: string, kind: 'tool' | 'prompt'): { member: string; name: string } {
    const hit = splitName(name, this.opts.separator, this.names);
    if (!hit) throw new AggregateRpcError(ErrorCode.InvalidParams, `Unknown ${kind} "${name}": ${kind} names here are <server>${this.opts.separator}<name>, with <server> one of ${[...this.names].join(', ')}`);
    return hit;
  }

  /** One page of a merged list: every member with pages left contributes its next page. */
  private async list(cap: Capability, method: string, key: string, cursor: string | undefined, item: (member: string, it: Record<string, unknown>) => Record<string, unknown>): Promise<Record<string, unknown>> {
    const pending = cursor === undefined ? this.withCapability(cap).map((m) => [m, undefined] as const) : decodeCursor(cursor, this.names);
    const pages = await Promise.all(
      pending.map(([member, c]) => this.on(member, (cl) => cl.request({ method, params: c === undefined ? {} : { cursor: c } }, raw))),
    );
    const items: Record<string, unknown>[] = [];
    const next: [string, string][] = [];
    pages.forEach((page, i) => {
      const member = pending[i]![0];
      const list = page[key];
      if (!Array.isArray(list)) throw new AggregateRpcError(ErrorCode.InternalError, `${member}: ${method} answered without a "${key}" array`);
      for (const it of list) if (it !== null && typeof it === 'object') items.push(item(member, it as Record<string, unknown>));
      if (typeof page.nextCursor === 'string' && page.nextCursor !== '') next.push([member, page.nextCursor]);
    });
    const nextCursor = encodeCursor(next);
    return { [key]: items, ...(nextCursor !== undefined && { nextCursor }) };
  }

  private handlers(): void {
    const s = this.server;
    const sep = this.opts.separator;
    const caps = this.capabilities();
    if (caps.tools) {
      s.setRequestHandler(ListToolsRequestSchema, (req) =>
        this.list('tools', 'tools/list', 'tools', req.params?.cursor, (member, t) => {
          // MCP Apps: the tool's UI resource is read from the member that lists the tool.
          this.owners.fromTool(member, t);
          return { ...t, name: prefixed(member, sep, String(t.name)) };
        }),
      );
      s.setRequestHandler(CallToolRequestSchema, (req, extra) => {
        const target = this.route(req.params.name, 'tool');
        return this.on(target.member, (cl) => cl.request({ method: 'tools/call', params: { ...req.params, name: target.name } }, raw, this.relayed(extra)));
      });
    }
    if (caps.prompts) {
      s.setRequestHandler(ListPromptsRequestSchema, (req) => this.list('prompts', 'prompts/list', 'prompts', req.params?.cursor, (member, p) => ({ ...p, name: prefixed(member, sep, String(p.name)) })));
      s.setRequestHandler(GetPromptRequestSchema, (req, extra) => {
        const target = this.route(req.params.name, 'prompt');
        return this.on(target.member, (cl) => cl.request({ method: 'prompts/get', params: { ...req.params, name: target.name } }, raw, this.relayed(extra))) as never;
      });
    }
    if (caps.resources) {
      s.setRequestHandler(ListResourcesRequestSchema, (req) =>
        this.list('resources', 'resources/list', 'resources', req.params?.cursor, (member, r) => (this.owners.listed(member, String(r.uri)), r)),
      );
      s.setRequestHandler(ListResourceTemplatesRequestSchema, (req) =>
        this.list('resources', 'resources/templates/list', 'resourceTemplates', req.params?.cursor, (member, t) => (this.owners.template(member, String(t.uriTemplate)), t)),
      );
      const byUri = (method: string) => (req: { params: { uri: string } & Record<string, unknown> }, extra: Extra) => {
        const member = this.owners.ownerOf(req.params.uri, this.withCapability('resources'));
        if (member === undefined) throw new AggregateRpcError(ErrorCode.InvalidParams, `Resource "${req.params.uri}" was not listed by any server of this aggregate (list resources, templates or tools first)`);
        return this.on(member, (cl) => cl.request({ method, params: req.params }, raw, this.relayed(extra))) as never;
      };
      s.setRequestHandler(ReadResourceRequestSchema, byUri('resources/read'));
      if (caps.resources.subscribe) {
        s.setRequestHandler(SubscribeRequestSchema, byUri('resources/subscribe'));
        s.setRequestHandler(UnsubscribeRequestSchema, byUri('resources/unsubscribe'));
      }
    }
    if (caps.completions) this.completions();
  }

  /** completion/complete: a prompt's by its prefix (the member's own name sent), a resource template's to the member that listed it. */
  private completions(): void {
    this.server.setRequestHandler(CompleteRequestSchema, (req, extra) => {
      const ref = req.params.ref;
      let member: string | undefined;
      let params: Record<string, unknown> = req.params;
      if (ref.type === 'ref/prompt') {
        const target = this.route(ref.name, 'prompt');
        member = target.member;
        params = { ...req.params, ref: { ...ref, name: target.name } };
      } else {
        member = this.owners.ownerOf(ref.uri, this.withCapability('resources'));
        if (member === undefined) throw new AggregateRpcError(ErrorCode.InvalidParams, `Resource template "${ref.uri}" was not listed by any server of this aggregate`);
      }
      if (this.members.get(member)!.capabilities.completions === undefined) throw new AggregateRpcError(ErrorCode.InvalidParams, `${member} offers no completions`);
      return this.on(member, (cl) => cl.request({ method: 'completion/complete', params }, raw, this.relayed(extra))) as never;
    });
  }

  private withCapability(cap: Capability): string[] {
    return [...this.members.values()].filter((m) => m.capabilities[cap] !== undefined).map((m) => m.name);
  }

  /** Request options that pass the caller's cancellation on and relay the member's progress under the caller's token. */
  private relayed(extra: Extra) {
    const token = extra._meta?.progressToken;
    return {
      signal: extra.signal,
      resetTimeoutOnProgress: true,
      ...(token !== undefined && {
        onprogress: (p: { progress: number; total?: number; message?: string }) => void extra.sendNotification({ method: 'notifications/progress', params: { ...p, progressToken: token } }).catch(() => undefined),
      }),
    };
  }

  /** A member's notification, as the aggregate's (list changes; resource updates keep their URI). */
  private relay(member: string, n: Notification): void {
    const caps = this.capabilities();
    const send = (m: ServerNotification) => void this.server.notification(m).catch(() => undefined);
    switch (n.method) {
      case 'notifications/tools/list_changed':
        if (caps.tools) send({ method: n.method });
        break;
      case 'notifications/prompts/list_changed':
        if (caps.prompts) send({ method: n.method });
        break;
      case 'notifications/resources/list_changed':
        if (caps.resources) send({ method: n.method });
        break;
      case 'notifications/resources/updated': {
        const uri = (n.params as { uri?: unknown } | undefined)?.uri;
        if (caps.resources && typeof uri === 'string') {
          this.owners.listed(member, uri);
          send({ method: n.method, params: { uri } });
        }
        break;
      }
      default:
        // Logging and other notifications are not relayed (the aggregate declares no logging).
        break;
    }
  }
}
