// `mcp-gateway openapi-bridge --config FILE`: the OpenAPI bridges alone, for deployments
// where the sidecar and Envoy run apart (each bridge at its configured openapi.listen),
// and the helpers other commands use to reach OpenAPI servers outside `up`.
import type { GatewayConfig } from '../config/types.js';
import type { Logger } from '../telemetry/log.js';
import { startBridge, toolsOfServer, type RunningBridge } from './bridge.js';
import { OpenApiBridges, unaddressedBridges } from './bridges.js';

/** A mistake in how the command was called (the CLI prints its usage). */
export class BridgeUsageError extends Error {
  readonly usage = true;
}

/** For `sidecar` and `envoy-config`: the bridges run elsewhere, so each needs its fixed address. */
export function assertBridgesAddressed(config: GatewayConfig, command: string): void {
  const names = unaddressedBridges(config);
  if (names.length) throw new BridgeUsageError(`${command}: OpenAPI server(s) ${names.map((n) => `"${n}"`).join(', ')} need openapi.listen (host:port) so that Envoy can reach the bridge run by \`mcp-gateway openapi-bridge\``);
}

/** For `validate`: every spec loads and maps to tools (names unique). */
export async function checkSpecs(config: GatewayConfig): Promise<string[]> {
  const out: string[] = [];
  for (const s of config.servers) if (s.openapi) out.push(`${s.name}: ${(await toolsOfServer(s)).length} tool(s) from ${s.openapi.spec}`);
  return out;
}

/** Runs `fn` with the config's OpenAPI servers reachable (bridges on free ports), then stops them. */
export async function withBridges<T>(config: GatewayConfig, log: Logger, fn: (config: GatewayConfig) => Promise<T>): Promise<T> {
  if (!config.servers.some((s) => s.openapi)) return fn(config);
  const bridges = new OpenApiBridges(log);
  const prepared = await bridges.prepare({ ...config, servers: config.servers.map((s) => (s.openapi ? { ...s, openapi: { ...s.openapi, listen: { host: s.openapi.listen.host, port: 0 } } } : s)) });
  await prepared.commit();
  try {
    return await fn(prepared.config);
  } finally {
    await bridges.stop();
  }
}

export async function runBridges(config: GatewayConfig, log: Logger, only: readonly string[] | undefined, untilSignal: () => Promise<unknown>): Promise<number> {
  for (const n of only ?? []) if (!config.servers.some((s) => s.name === n && s.openapi)) throw new BridgeUsageError(`no OpenAPI server "${n}" in ${config.source}`);
  const servers = config.servers.filter((s) => s.openapi && (!only?.length || only.includes(s.name)));
  if (servers.length === 0) throw new BridgeUsageError(`${config.source} has no OpenAPI server (servers[].openapi)`);
  assertBridgesAddressed({ ...config, servers }, 'openapi-bridge');
  const running: RunningBridge[] = [];
  try {
    for (const s of servers) running.push(await startBridge(s));
  } catch (err) {
    await Promise.all(running.map((b) => b.close()));
    throw err;
  }
  for (const b of running) log.info({ server: b.server, url: b.url.href, tools: b.tools.length }, 'openapi bridge listening');
  await untilSignal();
  await Promise.all(running.map((b) => b.close()));
  return 0;
}
