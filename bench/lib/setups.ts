// The setups of issue 5 (and 6, the cost of metrics), all in front of the same upstream process:
//   1 direct        the upstream itself
//   2 envoy         Envoy, no ext_proc (the floor for any Envoy-based gateway)
//   3 mcp-rbac      Envoy's own MCP filter + RBAC on the tool name (what Envoy alone can do)
//   4 curation      Envoy + sidecar, curation only
//   5 full          Envoy + sidecar with JWT identity, a Rego policy and the audit trail to a file
//   6 metrics       5 with metrics on: the /metrics endpoint scraped every second, usage by
//                   subject and tool costs (5 has no endpoint, so its request path feeds no metrics)
//   7 integrity     4 with pinning: enforce to a lockfile of the upstream's tools, validate_arguments
//                   and scan_results (only when named: --setups curation,integrity)
//   8 tracing       6 with traces on: every message sampled (100 %), spans exported over
//                   OTLP/HTTP (protobuf) to a sink in the bench process that reads and discards them
//   9 list-cache    5 with policy.visibility_cache keyed by identity.groups (only when named)
//  10 full-workers  5 with sidecar.workers: auto, one ext_proc worker per core (only when named)
//  11 contextforge  peer: IBM ContextForge (PyPI mcp-contextforge-gateway) in front of the same upstream (only when named)
//  12 kuadrant      peer: Kuadrant's mcp-gateway (Envoy + its ext_proc router and broker) (only when named)
//  13 agentgateway  peer: agentgateway (Rust); reports why it cannot be installed here (only when named)
//  14 floor         Envoy + a no-op ext_proc server (grpc-js, the sidecar's codec, the same phases):
//                   what any Node.js ext_proc sidecar costs before its logic costs anything
import { freePort, freePortRange } from '../../test/support/ports.js';
import { availableParallelism } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { envoyBootstrap } from '../../src/envoy/bootstrap.js';
import { CATALOGUE_SIZE, CURATED_COUNT, CURATED_TOOL_GLOBS, CURATED_TOOLS } from './bench-server.js';
import { mcpRbacBootstrap, plainBootstrap, startEnvoyChild, type EnvoyChild } from './envoy.js';
import { floorCommand, startSidecarChild, type SidecarChild } from './sidecar-proc.js';
import type { TargetSpec } from './types.js';
import { fetchDefinitions } from '../../src/integrity/fetch.js';
import { writeLockfile } from '../../src/integrity/lockfile.js';
import { startOtlpSink, type OtlpSink } from './otlp-sink.js';
import { PEERS } from './peers/index.js';

export { freePort };

export interface SetupDef {
  n: number;
  key: string;
  title: string;
  hasSidecar: boolean;
  /** Measured only when --setups names it. */
  optIn?: boolean;
  /** Another gateway (bench/lib/peers/), measured like ours; its process counts as the "sidecar". */
  peer?: boolean;
  /** A no-op ext_proc server in the sidecar's place (bench/lib/floor-main.ts): lists are not curated. */
  floor?: boolean;
}

export const SETUPS: readonly SetupDef[] = [
  { n: 1, key: 'direct', title: 'direct to the upstream', hasSidecar: false },
  { n: 2, key: 'envoy', title: 'Envoy, no ext_proc', hasSidecar: false },
  { n: 3, key: 'mcp-rbac', title: "Envoy's MCP filter + RBAC on the tool name", hasSidecar: false },
  { n: 4, key: 'curation', title: 'Envoy + sidecar, curation only', hasSidecar: true },
  { n: 5, key: 'full', title: 'Envoy + sidecar: JWT, Rego policy, audit file', hasSidecar: true },
  { n: 6, key: 'metrics', title: '5 + metrics (scraped every second, usage by subject, tool costs)', hasSidecar: true },
  { n: 7, key: 'integrity', title: '4 + pinning, argument validation, result scanning', hasSidecar: true, optIn: true },
  { n: 8, key: 'tracing', title: '6 + traces (100 % sampled, OTLP/HTTP to a local sink)', hasSidecar: true },
  { n: 9, key: 'list-cache', title: '5 + policy.visibility_cache by identity.groups', hasSidecar: true, optIn: true },
  { n: 10, key: 'full-workers', title: `5 with sidecar.workers: auto (${availableParallelism()} worker processes)`, hasSidecar: true, optIn: true },
  { n: 11, key: 'contextforge', title: 'peer: IBM ContextForge', hasSidecar: true, optIn: true, peer: true },
  { n: 12, key: 'kuadrant', title: "peer: Kuadrant's mcp-gateway (Envoy + ext_proc router + broker)", hasSidecar: true, optIn: true, peer: true },
  { n: 13, key: 'agentgateway', title: 'peer: agentgateway (Rust)', hasSidecar: true, optIn: true, peer: true },
  { n: 14, key: 'floor', title: `Envoy + a no-op ext_proc server (${process.env.BENCH_FLOOR_TRANSPORT === 'http2' ? 'bare node:http2' : 'grpc-js'}, same codec and phases)`, hasSidecar: true, floor: true },
];

/** Setups that authenticate with JWTs and evaluate the Rego policy. */
export const usesPolicy = (def: SetupDef) => def.key === 'full' || def.key === 'metrics' || def.key === 'tracing' || def.key === 'list-cache' || def.key === 'full-workers';
const SCRAPE_INTERVAL_MS = 1000;

export const label = (s: SetupDef) => `${s.n} ${s.key}`;

export interface Shared {
  dir: string;
  upstream: { json: string; sse: string };
  /** For setup 5. */
  jwt?: { issuer: string; audience: string; jwksFile: string; tokens: string[] };
  bundle?: string;
  /** How to start the sidecar (buildSidecar()). */
  sidecarEntry: string[];
}

export interface Stack {
  setup: SetupDef;
  target: TargetSpec;
  envoy: EnvoyChild | undefined;
  sidecar: SidecarChild | undefined;
  /** Files worth keeping a look at (bootstrap, gateway config, audit file). */
  files: Record<string, string>;
  /** A peer's own words on what ran (version, settings). */
  note?: string;
  stop(): Promise<void>;
}


/** `extraConfig`: top-level gateway config sections added to the setup's (bench/limits.ts adds rate_limits). */
export async function startSetup(def: SetupDef, shared: Shared, opts: { sidecarNodeFlags?: string[]; extraConfig?: Record<string, unknown> } = {}): Promise<Stack> {
  const fullList = CATALOGUE_SIZE + 2;
  if (def.key === 'direct') {
    return {
      setup: def,
      target: { setup: def.key, jsonUrl: shared.upstream.json, sseUrl: shared.upstream.sse, authorizations: [], expectListed: fullList },
      envoy: undefined,
      sidecar: undefined,
      files: {},
      stop: async () => undefined,
    };
  }
  if (def.peer) {
    const peer = await PEERS[def.key]!({ dir: shared.dir, upstream: shared.upstream, curatedTools: CURATED_TOOLS });
    return { setup: def, target: peer.target, envoy: peer.envoy, sidecar: { pid: peer.gateway.pid, stop: async () => undefined }, files: {}, note: peer.note, stop: () => peer.stop() };
  }
  // sidecar.workers > 1 listens on consecutive ports, one per worker.
  const workers = def.key === 'full-workers' ? availableParallelism() : 1;
  const [listen, admin, sidecarPort] = [await freePort(), await freePort(), workers > 1 ? await freePortRange(workers) : await freePort()];
  const curated = { allow: CURATED_TOOL_GLOBS };
  // BENCH_INSPECT_RESPONSES=lists measures the cheaper setting (only list answers read).
  const inspect = process.env.BENCH_INSPECT_RESPONSES === 'lists' ? { inspect_responses: 'lists' } : {};
  const raw: Record<string, unknown> = {
    gateway: { listen: `127.0.0.1:${listen}`, admin: `127.0.0.1:${admin}` },
    sidecar: { listen: `127.0.0.1:${sidecarPort}`, ...(workers > 1 && { workers }) },
    servers: [
      { name: 'json', url: shared.upstream.json, tools: curated, ...inspect },
      { name: 'sse', url: shared.upstream.sse, tools: curated, ...inspect },
    ],
    audit: { sink: 'stdout' },
    log: { level: 'warn' },
  };
  Object.assign(raw, opts.extraConfig);
  const files: Record<string, string> = {};
  let authorizations: string[] = [];
  if (usesPolicy(def)) {
    const jwt = shared.jwt!;
    raw.auth = { jwt: { issuer: jwt.issuer, audiences: [jwt.audience], jwks_file: jwt.jwksFile } };
    raw.policy = { bundle: shared.bundle!, ...(def.key === 'list-cache' && { visibility_cache: { key: ['identity.groups'] } }) };
    files.audit = join(shared.dir, `audit-${def.key}.jsonl`);
    raw.audit = { file: files.audit };
    authorizations = jwt.tokens.map((t) => `Bearer ${t}`);
  }
  let metricsUrl: string | undefined;
  let sink: OtlpSink | undefined;
  if (def.key === 'metrics' || def.key === 'tracing') {
    const port = await freePort();
    raw.telemetry = { listen: `127.0.0.1:${port}`, usage: { caller_label: 'subject' } };
    for (const server of raw.servers as Record<string, unknown>[]) server.tool_costs = { 'tool-0*': 2, '*': 1 };
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
  }
  if (def.key === 'integrity') {
    // The lock as `mcp-gateway tools lock` writes it, read from the upstream now.
    files.lockfile = join(shared.dir, 'tools.lock.yaml');
    const probe = parseConfig(stringify(raw), '<bench>');
    const servers = new Map(await Promise.all(probe.servers.map(async (s) => [s.name, await fetchDefinitions(s)] as const)));
    await writeLockfile(files.lockfile, { servers });
    raw.lockfile = files.lockfile;
    for (const server of raw.servers as Record<string, unknown>[]) Object.assign(server, { pinning: 'enforce', validate_arguments: 'enforce', scan_results: {} });
  }
  if (def.key === 'tracing') {
    sink = await startOtlpSink();
    raw.telemetry = { ...(raw.telemetry as object), tracing: { endpoint: sink.url, sampler_ratio: 1 } };
  }
  files.config = join(shared.dir, `gateway-${def.key}.yaml`);
  const yaml = `# Generated by bench/run.ts for setup ${def.n} (${def.title}).\n${stringify(raw)}`;
  await writeFile(files.config, yaml);
  const config = parseConfig(yaml, files.config);

  const bootstrap = def.key === 'envoy' ? plainBootstrap(config) : def.key === 'mcp-rbac' ? mcpRbacBootstrap(config) : envoyBootstrap(config);
  let sidecar: SidecarChild | undefined;
  if (def.hasSidecar) {
    const command = def.floor ? floorCommand(shared.sidecarEntry, `127.0.0.1:${sidecarPort}`) : undefined;
    sidecar = await startSidecarChild({ entry: shared.sidecarEntry, command, configFile: files.config, host: '127.0.0.1', port: sidecarPort, workers, nodeFlags: opts.sidecarNodeFlags ?? [], label: def.key });
  }
  let envoy: EnvoyChild;
  try {
    envoy = await startEnvoyChild(bootstrap, shared.dir, def.key);
  } catch (err) {
    await sidecar?.stop();
    throw err;
  }
  files.envoy = envoy.bootstrapFile;
  // What Prometheus would do, at a shorter interval than it usually does.
  const scraper = metricsUrl === undefined ? undefined : setInterval(() => void fetch(metricsUrl).then((r) => r.text()).catch(() => undefined), SCRAPE_INTERVAL_MS);
  const base = `http://127.0.0.1:${listen}`;
  return {
    setup: def,
    target: {
      setup: def.key,
      jsonUrl: `${base}${config.servers[0]!.path}`,
      sseUrl: `${base}${config.servers[1]!.path}`,
      authorizations,
      expectListed: def.hasSidecar && !def.floor ? CURATED_COUNT : fullList,
    },
    envoy,
    sidecar,
    files,
    async stop() {
      clearInterval(scraper);
      await envoy.stop();
      await sidecar?.stop();
      if (sink) process.stderr.write(`  OTLP sink (setup ${def.n}): ${sink.requests} exports, ${(sink.bytes / 1e6).toFixed(1)} MB\n`);
      await sink?.close();
    },
  };
}
