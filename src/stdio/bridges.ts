// The bridges of every stdio server of a config, and the config as Envoy and the sidecar
// see it: each stdio server's upstream URL is its bridge's, so routing, curation, policy,
// limits and audit treat it like any other upstream.
import { randomBytes } from 'node:crypto';
import type { GatewayConfig, ServerConfig } from '../config/types.js';
import { RestartNeededError } from '../config/restart-needed.js';
import type { Logger } from '../telemetry/log.js';
import { bridgeUrl } from './config.js';
import { startBridge, type StdioBridge } from './bridge.js';

export interface StdioBridges {
  readonly bridges: ReadonlyMap<string, StdioBridge>;
  /** `config` with each stdio server's url (and replicas) at its running bridge. */
  bind(config: GatewayConfig): GatewayConfig;
  stop(): Promise<void>;
}

const stdioServers = (c: Pick<GatewayConfig, 'servers'>) => c.servers.filter((s): s is ServerConfig & { stdio: NonNullable<ServerConfig['stdio']> } => s.stdio !== undefined);

/**
 * Starts one bridge per stdio server. A bridge on a port of its own choosing gets a random
 * path as well (only the Envoy it was generated for knows it); one on a fixed port
 * (`stdio.port`, for an Envoy configured apart) serves `/mcp`. `anyPort`: free ports
 * whatever the config says (a short-lived bridge beside a running gateway, as for `tools lock`).
 */
export async function startStdioBridges(config: GatewayConfig, log: Logger, opts: { anyPort?: boolean } = {}): Promise<StdioBridges> {
  const bridges = new Map<string, StdioBridge>();
  try {
    for (const s of stdioServers(config)) {
      const port = opts.anyPort ? 0 : s.stdio.port;
      const path = port ? '/mcp' : `/mcp/${randomBytes(16).toString('hex')}`;
      bridges.set(s.name, await startBridge({ server: s.name, config: s.stdio, log, port, path, maxRequestBytes: config.gateway.maxRequestBytes }));
    }
  } catch (err) {
    await Promise.all([...bridges.values()].map((b) => b.stop()));
    throw err;
  }
  return {
    bridges,
    bind(c) {
      if (!stdioServers(c).length) return c;
      return {
        ...c,
        servers: c.servers.map((s) => {
          const b = s.stdio && bridges.get(s.name);
          if (!b) return s;
          const hc = s.traffic.healthCheck;
          return { ...s, url: b.url, replicas: [b.url], traffic: { ...s.traffic, healthCheck: hc && { ...hc, path: hc.path === s.url.pathname ? b.url.pathname : hc.path } } };
        }),
      };
    },
    async stop() {
      await Promise.all([...bridges.values()].map((b) => b.stop()));
    },
  };
}

/**
 * A live reload keeps the running programs: a stdio server added, removed, or with a changed
 * command, env, cwd or stdio section needs a restart (its sessions live in those processes).
 */
export function assertStdioReloadable(running: Pick<GatewayConfig, 'servers'>, next: Pick<GatewayConfig, 'servers'>): void {
  const of = (c: Pick<GatewayConfig, 'servers'>) => new Map(stdioServers(c).map((s) => [s.name, JSON.stringify(s.stdio)]));
  const [a, b] = [of(running), of(next)];
  const changed = [...new Set([...a.keys(), ...b.keys()])].filter((n) => a.get(n) !== b.get(n));
  if (changed.length) throw new RestartNeededError(`stdio server(s) ${changed.join(', ')} added, removed or changed (command, env, cwd, stdio): restart the gateway to apply this config`);
}

/** For commands that configure an Envoy apart from the bridges: every stdio server needs its fixed port. */
export function assertFixedBridgePorts(config: Pick<GatewayConfig, 'servers'>, what: string): void {
  const loose = stdioServers(config).filter((s) => !s.stdio.port);
  if (loose.length) throw new Error(`${what}: stdio server(s) ${loose.map((s) => s.name).join(', ')} need stdio.port (their bridge's port on 127.0.0.1, e.g. ${bridgeUrl(7301).host}) when Envoy is configured apart from \`mcp-gateway up\``);
}
