// Envoy for the benchmark: the bootstraps of setups 2–5 (all derived from the
// project's own generator, so listener, routes, clusters and timeouts are the
// same in every setup; only the HTTP filter chain differs) and a child process
// running one of them with --concurrency 1.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { GatewayConfig } from '../../src/config/types.js';
import { envoyBootstrap, SIDECAR_CLUSTER } from '../../src/envoy/bootstrap.js';
import { watch } from './watched.js';
import { exec } from './exec.js';
import { findEnvoy } from '../../src/envoy/binary.js';
import { CURATED_TOOL_REGEX } from './bench-server.js';

type Json = Record<string, any>;

/** Where Envoy 1.40's MCP filter puts what it parsed (dynamic metadata namespace; the docs' example still says "mcp_proxy", which 1.40 does not write). */
export const MCP_METADATA_NAMESPACE = 'envoy.filters.http.mcp';

function httpFilters(b: Json): Json[] {
  return b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters;
}

function withoutSidecar(b: Json): Json {
  b.static_resources.clusters = b.static_resources.clusters.filter((c: Json) => c.name !== SIDECAR_CLUSTER);
  return b;
}

/** Setup 2: the same listener, routes and clusters with no ext_proc: the floor for any Envoy-based gateway. */
export function plainBootstrap(c: GatewayConfig): Json {
  const b = withoutSidecar(envoyBootstrap(c));
  const hcm = b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.http_filters = httpFilters(b).filter((f) => f.name !== 'envoy.filters.http.ext_proc');
  return b;
}

const mcpMethod = (exact: string): Json => ({
  sourced_metadata: { metadata_matcher: { filter: MCP_METADATA_NAMESPACE, path: [{ key: 'method' }], value: { string_match: { exact } } } },
});

/**
 * Setup 3: what an Envoy user can do without us. Envoy's MCP filter parses the
 * JSON-RPC request body into dynamic metadata; an RBAC filter then allows
 * tools/call only for the curated tool names (the same 52 as setups 4 and 5) and
 * every other message. The MCP filter reads requests only: it cannot filter a
 * tools/list response, so the list passes whole (502 tools).
 */
export function mcpRbacBootstrap(c: GatewayConfig): Json {
  const b = plainBootstrap(c);
  const hcm = b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const router = hcm.http_filters.filter((f: Json) => f.name === 'envoy.filters.http.router');
  const rest = hcm.http_filters.filter((f: Json) => f.name !== 'envoy.filters.http.router');
  hcm.http_filters = [
    ...rest,
    {
      name: 'envoy.filters.http.mcp',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.mcp.v3.Mcp',
        // Requests that are not MCP are refused rather than passed unparsed.
        traffic_mode: 'REJECT_NO_MCP',
        max_request_body_size: c.gateway.maxRequestBytes,
        reject_duplicate_keys: true,
      },
    },
    {
      name: 'envoy.filters.http.rbac',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
        rules: {
          action: 'ALLOW',
          policies: {
            'any-message-but-tools-call': { permissions: [{ not_rule: mcpMethod('tools/call') }], principals: [{ any: true }] },
            'curated-tools-call': {
              permissions: [
                {
                  and_rules: {
                    rules: [
                      mcpMethod('tools/call'),
                      {
                        sourced_metadata: {
                          metadata_matcher: {
                            filter: MCP_METADATA_NAMESPACE,
                            path: [{ key: 'params' }, { key: 'name' }],
                            value: { string_match: { safe_regex: { regex: CURATED_TOOL_REGEX } } },
                          },
                        },
                      },
                    ],
                  },
                },
              ],
              principals: [{ any: true }],
            },
          },
        },
      },
    },
    ...router,
  ];
  return b;
}

export interface EnvoyChild {
  readonly pid: number;
  readonly adminUrl: string;
  readonly bootstrapFile: string;
  stop(): Promise<void>;
}

/** `envoy --mode validate`: throws with Envoy's own words when the bootstrap is refused. */
export async function validateBootstrap(file: string): Promise<void> {
  const r = await exec(findEnvoy(), ['--mode', 'validate', '-c', file, '--log-level', 'error', '--disable-hot-restart']);
  if (r.code !== 0) throw new Error(`envoy --mode validate refused ${file}:\n${r.out.split('\n').slice(-15).join('\n')}`);
}

let baseId = (process.pid % 5000) * 10;

export async function startEnvoyChild(bootstrap: Json, dir: string, name: string): Promise<EnvoyChild> {
  const file = join(dir, `envoy-${name}.yaml`);
  await writeFile(file, `# Generated by bench/run.ts for setup "${name}".\n${stringify(bootstrap, { lineWidth: 0 })}`);
  await validateBootstrap(file);
  const admin = bootstrap.admin.address.socket_address;
  const adminUrl = `http://${admin.address}:${admin.port_value}`;
  const args = ['-c', file, '--concurrency', '1', '--log-level', 'error', '--disable-hot-restart', '--base-id', String(++baseId)];
  // Debugging aid: BENCH_ENVOY_LOG=ext_proc:debug writes that component's log to <scratch>/envoy-<setup>.log.
  if (process.env.BENCH_ENVOY_LOG) args.push('--component-log-level', process.env.BENCH_ENVOY_LOG, '--log-path', join(dir, `envoy-${name}.log`));
  const child = watch(spawn(findEnvoy(), args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.dead) throw new Error(`envoy (${name}) exited during start-up:\n${child.tail()}`);
    const ok = await fetch(`${adminUrl}/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await child.stop(0);
      throw new Error(`envoy (${name}) not ready within 20 s:\n${child.tail()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { pid: child.pid, adminUrl, bootstrapFile: file, stop: () => child.stop(5000) };
}
