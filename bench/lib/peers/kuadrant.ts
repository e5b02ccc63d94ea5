// Setup 12: Kuadrant's mcp-gateway (github.com/Kuadrant/mcp-gateway), run outside
// Kubernetes as its standalone guide describes (docs/guides/binary-install.md): one Go
// process, mcp-broker-router, serving both Envoy's ext_proc (the "router") and the
// "broker" (an MCP server that federates the upstreams), behind an Envoy whose route
// table the router steers by rewriting :authority.
//   initialize, notifications/initialized, tools/list: router → broker; the broker
//     answers lists from the tools it fetched over its own upstream sessions,
//     filtered to a virtual server (x-mcp-virtualserver, added here by Envoy's route).
//   tools/call: the router checks the gateway session (a JWT), finds the server by
//     the tool's prefix, strips it, swaps in that session's upstream session (made
//     on its first call by a "hairpin" initialize through Envoy), points :authority
//     at the server's virtual host, and streams the response body back through itself.
// Installed into .tools/peers/kuadrant/<version or commit>/ (see install()).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort } from '../../../test/support/ports.js';
import { startEnvoyChild, type EnvoyChild } from '../envoy.js';
import { exec } from '../exec.js';
import { watch, type Watched } from '../watched.js';
import { PeerUnavailable, type PeerContext, type PeerStack } from './types.js';

const MODULE = 'github.com/Kuadrant/mcp-gateway';
const PKG = `${MODULE}/cmd/mcp-broker-router`;
const CACHE = fileURLToPath(new URL('../../../.tools/peers/kuadrant/', import.meta.url));
const BIN = 'mcp-broker-router';
/** The two bench upstreams, as two Kuadrant MCP servers (tool prefix `${kind}_`). */
const KINDS = ['json', 'sse'] as const;

type Json = Record<string, unknown>;

interface Build {
  bin: string;
  /** Module version, or commit and its date. */
  version: string;
  /** How it was built, for the note. */
  how: string;
}

/** go list, install and build fetch modules and compile: minutes on a cold machine. */
const GO_TIMEOUT_MS = 30 * 60_000;
const run = (cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) => exec(cmd, args, { ...opts, timeoutMs: GO_TIMEOUT_MS });

/** go's message on one line (it puts the proxy's answer on a second, indented one). */
const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

async function cached(dir: string): Promise<Build | undefined> {
  const meta = join(dir, 'build.json');
  if (!existsSync(join(dir, BIN)) || !existsSync(meta)) return undefined;
  return { bin: join(dir, BIN), ...(JSON.parse(await readFile(meta, 'utf8')) as Omit<Build, 'bin'>) };
}

async function record(dir: string, b: Omit<Build, 'bin'>): Promise<Build> {
  await writeFile(join(dir, 'build.json'), `${JSON.stringify(b)}\n`);
  return { bin: join(dir, BIN), ...b };
}

/** `go build` of ./cmd/mcp-broker-router in `tree` to `dir`/mcp-broker-router (via a temporary name, so a killed build leaves no binary). */
async function goBuild(tree: string, dir: string, ldflags: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const t0 = Date.now();
  const r = await run('go', ['build', '-trimpath', '-ldflags', `-s -w ${ldflags}`, '-o', join(dir, `${BIN}.tmp`), './cmd/mcp-broker-router'], { cwd: tree });
  if (r.code !== 0) throw new PeerUnavailable(`go build of ${PKG} in ${tree} failed: ${oneLine(r.out).slice(-600)}`);
  await rename(join(dir, `${BIN}.tmp`), join(dir, BIN));
  return Math.round((Date.now() - t0) / 1000);
}

/**
 * The binary, cached by version: first as a released module from the Go module proxy
 * (go install …@latest); failing that (the proxy refuses this module), built with
 * `go build` from BENCH_KUADRANT_SRC, a checkout or a bare git dir, keyed by its commit.
 * Its dependencies still come from the module proxy.
 */
async function install(): Promise<Build> {
  await mkdir(CACHE, { recursive: true });
  const goVersion = (await run('go', ['env', 'GOVERSION'])).out || 'go (unknown version)';
  // `go list` first, so that a version already installed costs one look-up.
  const latest = await run('go', ['list', '-m', '-f', '{{.Version}}', `${MODULE}@latest`], { cwd: CACHE });
  let proxyError = oneLine(latest.out);
  if (latest.code === 0) {
    const version = latest.out;
    const dir = join(CACHE, version);
    const hit = await cached(dir);
    if (hit) return hit;
    const t0 = Date.now();
    const r = await run('go', ['install', '-trimpath', '-ldflags', '-s -w', `${PKG}@${version}`], { cwd: CACHE, env: { ...process.env, GOBIN: dir } });
    if (r.code === 0) return record(dir, { version, how: `go install @${version} with ${goVersion} in ${Math.round((Date.now() - t0) / 1000)} s` });
    proxyError = oneLine(r.out);
  }
  const src = process.env.BENCH_KUADRANT_SRC;
  if (!src) {
    throw new PeerUnavailable(
      `cannot go install ${PKG}@latest: ${proxyError.replace(/\.$/, '')}. Set BENCH_KUADRANT_SRC to a checkout or a bare git dir of ${MODULE} to build it from source.`,
    );
  }
  // A checkout has a go.mod; anything else must be a git dir (a mirror may lack the config that would say "bare").
  const bare = !existsSync(join(src, 'go.mod'));
  const git = bare ? ['--git-dir', src] : ['-C', src];
  const head = await run('git', [...git, 'log', '-1', '--format=%H %cs']);
  if (bare && head.code !== 0) throw new PeerUnavailable(`BENCH_KUADRANT_SRC=${src} is neither a source checkout (no go.mod) nor a git dir: ${oneLine(head.out)}`);
  const [commit, date] = head.code === 0 ? head.out.split(' ') : [];
  // A checkout with local changes (or outside git) is rebuilt every time; go's build cache keeps that quick.
  const clean = commit !== undefined && (bare || (await run('git', [...git, 'status', '--porcelain'])).out === '');
  const key = clean ? commit!.slice(0, 12) : 'worktree';
  const dir = join(CACHE, key);
  if (clean) {
    const hit = await cached(dir);
    if (hit) return hit;
  }
  const version = commit ? `commit ${commit.slice(0, 12)} (${date})${clean ? '' : ' with local changes'}` : `source at ${src}`;
  process.stderr.write(`  kuadrant: building ${BIN} from ${src}, ${version} (minutes the first time)…\n`);
  const ldflags = commit ? `-X main.gitSHA=${commit} -X main.version=${commit.slice(0, 12)}` : '';
  let seconds: number;
  if (bare) {
    // A bare dir has no tree: build from an export of its HEAD.
    const tree = await mkdtemp(join(CACHE, 'src-'));
    try {
      const tar = `${tree}.tar`;
      const a = await run('git', ['--git-dir', src, 'archive', '--format=tar', '-o', tar, commit!]);
      if (a.code !== 0) throw new PeerUnavailable(`git archive of ${src} failed: ${oneLine(a.out)}`);
      const x = await run('tar', ['-xf', tar, '-C', tree]);
      await rm(tar, { force: true });
      if (x.code !== 0) throw new PeerUnavailable(`tar -x of ${src}'s HEAD failed: ${oneLine(x.out)}`);
      seconds = await goBuild(tree, dir, ldflags);
    } finally {
      await rm(tree, { recursive: true, force: true });
    }
  } else {
    seconds = await goBuild(src, dir, ldflags);
  }
  process.stderr.write(`  kuadrant: built in ${seconds} s\n`);
  return record(dir, { version, how: `go build from BENCH_KUADRANT_SRC (the module proxy refused @latest) with ${goVersion} in ${seconds} s` });
}

const socket = (port: number) => ({ socket_address: { address: '127.0.0.1', port_value: port } });

function cluster(name: string, port: number, http2 = false): Json {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '5s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socket(port) } }] }] },
    ...(http2 && {
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicit_http_config: { http2_protocol_options: {} },
        },
      },
    }),
  };
}

/**
 * The guide's Envoy (binary-install.md, ext_proc settings as in config/istio/envoyfilter.yaml):
 * a virtual host for the gateway (the router sets :authority to the public host for every
 * request but tools/call) routing to the broker, and one per upstream server (the router
 * sets :authority to the server's hostname for tools/call). The gateway's /mcp/json and
 * /mcp/sse (the paths of our own setups) are the broker's /mcp with one virtual server
 * each; any other path goes to the broker as is.
 */
function bootstrap(p: { listen: number; admin: number; broker: number; router: number; publicHost: string; upstream: Record<(typeof KINDS)[number], URL> }): Json {
  const toBroker = (kind: (typeof KINDS)[number]): Json => ({
    match: { path: `/mcp/${kind}` },
    route: { cluster: 'mcp_broker', prefix_rewrite: '/mcp', timeout: '0s' },
    request_headers_to_add: [{ header: { key: 'x-mcp-virtualserver', value: `bench/${kind}` }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
  });
  return {
    node: { id: 'kuadrant', cluster: 'kuadrant' },
    admin: { address: socket(p.admin) },
    static_resources: {
      listeners: [
        {
          name: 'mcp_gateway',
          address: socket(p.listen),
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'mcp_gateway',
                    codec_type: 'AUTO',
                    // As our setups: long-lived SSE streams, no request timeout.
                    stream_idle_timeout: '3600s',
                    request_timeout: '0s',
                    common_http_protocol_options: { idle_timeout: '3600s' },
                    route_config: {
                      name: 'mcp_routes',
                      virtual_hosts: [
                        { name: 'mcp_gateway', domains: [p.publicHost], routes: [toBroker('json'), toBroker('sse'), { match: { prefix: '/' }, route: { cluster: 'mcp_broker', timeout: '0s' } }] },
                        ...KINDS.map((k) => ({
                          name: `mcp_server_${k}`,
                          domains: [`${k}.mcp.local`],
                          routes: [{ match: { prefix: '/' }, route: { cluster: `mcp_upstream_${k}`, host_rewrite_literal: p.upstream[k].host, timeout: '0s' } }],
                        })),
                      ],
                    },
                    http_filters: [
                      {
                        name: 'envoy.filters.http.ext_proc',
                        typed_config: {
                          '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor',
                          failure_mode_allow: false,
                          allow_mode_override: true,
                          mutation_rules: { allow_all_routing: true },
                          message_timeout: '10s',
                          processing_mode: {
                            request_header_mode: 'SEND',
                            response_header_mode: 'SEND',
                            request_body_mode: 'BUFFERED',
                            response_body_mode: 'NONE',
                            request_trailer_mode: 'SKIP',
                            response_trailer_mode: 'SKIP',
                          },
                          grpc_service: { envoy_grpc: { cluster_name: 'mcp_router' } },
                        },
                      },
                      { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        cluster('mcp_broker', p.broker),
        cluster('mcp_router', p.router, true),
        ...KINDS.map((k) => cluster(`mcp_upstream_${k}`, Number(p.upstream[k].port))),
      ],
    },
  };
}

/** Its SIGTERM drain budgets add up to 27 s (sized for Kubernetes); 5 s is plenty here. */
const BROKER_GRACE_MS = 5000;

/** Until the broker has connected to both upstreams and listed their tools (its /readyz is already true while no server is registered yet). */
async function waitReady(broker: Watched, statusUrl: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = '';
  for (;;) {
    if (broker.dead) throw new Error(`${BIN} exited during start-up:\n${broker.tail()}`);
    last = await fetch(statusUrl).then((r) => r.text(), (e: Error) => e.message);
    try {
      const s = JSON.parse(last) as { servers?: { ready?: boolean; totalTools?: number }[] };
      if (s.servers?.length === KINDS.length && s.servers.every((x) => x.ready && (x.totalTools ?? 0) > 0)) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${BIN} not ready within 30 s; ${statusUrl} said: ${last.slice(0, 400)}\n${broker.tail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startKuadrant(ctx: PeerContext): Promise<PeerStack> {
  const build = await install();
  const [listen, admin, brokerPort, routerPort, metricsPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const publicHost = `127.0.0.1:${listen}`;
  const upstream = { json: new URL(ctx.upstream.json), sse: new URL(ctx.upstream.sse) };
  const configFile = join(ctx.dir, 'kuadrant-config.yaml');
  const config = {
    servers: KINDS.map((k) => ({ name: `bench-${k}`, url: upstream[k].href, hostname: `${k}.mcp.local`, prefix: `${k}_`, state: 'Enabled' })),
    // The curated 52 of each server, by their federated (prefixed) names.
    virtualServers: KINDS.map((k) => ({ name: `bench/${k}`, tools: ctx.curatedTools.map((t) => `${k}_${t}`) })),
  };
  await writeFile(configFile, `# Generated by bench/run.ts for setup 12 (kuadrant).\n${stringify(config)}`);
  const args = [
    `--mcp-gateway-config=${configFile}`,
    `--mcp-gateway-public-host=${publicHost}`,
    // Hairpin initializes go back through Envoy, as in a cluster.
    `--mcp-gateway-private-host=${publicHost}`,
    `--mcp-broker-public-address=127.0.0.1:${brokerPort}`,
    `--mcp-router-address=127.0.0.1:${routerPort}`,
    `--metrics-addr=127.0.0.1:${metricsPort}`,
    '--log-level=4', // warn (slog levels: -4 debug, 0 info, 4 warn, 8 error); info logs every tools/call
    // discover_tools/select_tools would add two meta-tools to every list; not what is measured.
    '--discovery-tools-enabled=false',
  ];
  // No OTLP export, whatever the caller's environment says; a fresh session-signing key per run.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  const broker = watch(spawn(build.bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, GATEWAY_SIGNING_KEY: randomBytes(32).toString('hex') } }));
  let envoy: EnvoyChild | undefined;
  try {
    await waitReady(broker, `http://127.0.0.1:${brokerPort}/status`);
    envoy = await startEnvoyChild(bootstrap({ listen, admin, broker: brokerPort, router: routerPort, publicHost, upstream }), ctx.dir, 'kuadrant');
  } catch (err) {
    await broker.stop(BROKER_GRACE_MS);
    throw err;
  }
  const base = `http://${publicHost}`;
  return {
    target: {
      setup: 'kuadrant',
      jsonUrl: `${base}/mcp/json`,
      sseUrl: `${base}/mcp/sse`,
      authorizations: [],
      expectListed: ctx.curatedTools.length,
      toolPrefix: { json: 'json_', sse: 'sse_' },
    },
    gateway: { pid: broker.pid },
    envoy,
    note:
      `mcp-broker-router ${build.version}, ${build.how}; one process (ext_proc router + broker, in-memory sessions), Envoy --concurrency 1, log warn, ` +
      `discovery tools off, no auth; lists from the broker's cache filtered to a virtual server of ${ctx.curatedTools.length} per URL (calls are not filtered); ` +
      `tools/call: session JWT checked, prefix stripped, upstream session swapped in (lazy hairpin initialize), re-routed by :authority, response streamed through ext_proc`,
    async stop() {
      await envoy?.stop();
      await broker.stop(BROKER_GRACE_MS);
    },
  };
}
