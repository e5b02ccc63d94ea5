// The OpenAPI bridges of a running gateway (`up`): one per `servers[].openapi`, started
// before the sidecar and Envoy, each server's upstream URL then the bridge's bound
// address. A reload keeps a bridge whose settings and spec file are unchanged, starts
// the new ones, and stops the old ones only once the new config is in force.
import { stat } from 'node:fs/promises';
import type { GatewayConfig, ServerConfig } from '../config/types.js';
import type { Logger } from '../telemetry/log.js';
import { credentialHeaders, startBridge, type RunningBridge } from './bridge.js';

export interface PreparedBridges {
  /** The config with each OpenAPI server's url (and replicas) at its bridge. */
  config: GatewayConfig;
  /** The config is in force: bridges it no longer uses are stopped. */
  commit(): Promise<void>;
  /** The config was not applied: bridges started for it are stopped. */
  abort(): Promise<void>;
}

/** What a bridge is built from: a change of any of it needs a new bridge. */
async function bridgeKey(s: ServerConfig): Promise<string> {
  const st = await stat(s.openapi!.spec).catch(() => undefined);
  return JSON.stringify([s.openapi, credentialHeaders(s.upstreamAuth), st?.mtimeMs, st?.size]);
}

export function withUpstream(s: ServerConfig, url: URL): ServerConfig {
  return { ...s, url, replicas: [url] };
}

export class OpenApiBridges {
  private running = new Map<string, { key: string; bridge: RunningBridge }>();

  constructor(private readonly log: Logger) {}

  async prepare(config: GatewayConfig): Promise<PreparedBridges> {
    const next = new Map<string, { key: string; bridge: RunningBridge }>();
    const started: RunningBridge[] = [];
    try {
      for (const s of config.servers) {
        if (!s.openapi) continue;
        const key = await bridgeKey(s);
        const old = this.running.get(s.name);
        if (old && old.key === key) {
          next.set(s.name, old);
          continue;
        }
        const bridge = await startBridge(s);
        started.push(bridge);
        next.set(s.name, { key, bridge });
        this.log.info({ server: s.name, url: bridge.url.href, tools: bridge.tools.length, spec: s.openapi.spec }, 'openapi bridge started');
      }
    } catch (err) {
      await Promise.all(started.map((b) => b.close()));
      throw new Error(`openapi: ${(err as Error).message}`);
    }
    return {
      // Without OpenAPI servers the config is passed on as it is (the same object).
      config: next.size === 0 ? config : { ...config, servers: config.servers.map((s) => (s.openapi ? withUpstream(s, next.get(s.name)!.bridge.url) : s)) },
      commit: async () => {
        const kept = new Set([...next.values()].map((e) => e.bridge));
        const stale = [...this.running.values()].filter((e) => !kept.has(e.bridge));
        this.running = next;
        await Promise.all(stale.map((e) => e.bridge.close()));
      },
      abort: () => Promise.all(started.map((b) => b.close())).then(() => undefined),
    };
  }

  async stop(): Promise<void> {
    const all = [...this.running.values()];
    this.running = new Map();
    await Promise.all(all.map((e) => e.bridge.close()));
  }
}

/** For a sidecar or an Envoy config apart from `up`: every bridge needs a fixed address. */
export function unaddressedBridges(config: GatewayConfig): string[] {
  return config.servers.filter((s) => s.openapi && s.openapi.listen.port === 0).map((s) => s.name);
}
