// `servers[].command`: a local stdio MCP program the gateway runs and bridges to
// streamable HTTP (see bridge.ts). Its schema fields, defaults, normalized form and checks.
import { z } from 'zod';

export const STDIO_DEFAULTS = {
  mode: 'per_session',
  maxProcesses: 32,
  idleTimeoutMs: 10 * 60_000,
  maxRetries: 5,
  backoffMs: 500,
} as const;

/** The fields a server entry gains (spread into the server schema). */
export const stdioServerFields = {
  // argv: the program and its arguments, e.g. ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/data"].
  command: z.array(z.string().min(1, 'an argument cannot be empty')).min(1, 'the program to run, then its arguments').optional(),
  // Added to the few variables the program inherits (PATH, HOME, USER, …); the gateway's own environment is not passed on.
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'), z.string()).optional(),
  cwd: z.string().min(1).optional(),
  stdio: z
    .object({
      mode: z.enum(['per_session', 'shared']).optional(),
      max_processes: z.number().int().min(1).max(10_000).optional(),
      idle_timeout_ms: z.number().int().min(100).optional(),
      restart: z.object({ max_retries: z.number().int().min(0).max(1000).optional(), backoff_ms: z.number().int().min(10).max(60_000).optional() }).strict().optional(),
      // A fixed bridge port (needed when Envoy's config is generated apart, e.g. `mcp-gateway stdio-bridge`); default: a free one.
      port: z.number().int().min(1).max(65_535).optional(),
    })
    .strict()
    .optional(),
};

type RawStdio = { command?: string[] | undefined; env?: Record<string, string> | undefined; cwd?: string | undefined; stdio?: z.infer<typeof stdioServerFields.stdio> };

export interface StdioServerConfig {
  /** argv[0] and its arguments, as written. */
  command: readonly string[];
  /** Set on top of the inherited defaults (the SDK's list: HOME, LOGNAME, PATH, SHELL, TERM, USER). */
  env: Readonly<Record<string, string>>;
  /** Absolute; default: the config file's directory. */
  cwd: string;
  /** `per_session`: one process per MCP session; `shared`: one process for every session. */
  mode: 'per_session' | 'shared';
  /** Processes of this server at once (sessions' and shared ones); more → 503. */
  maxProcesses: number;
  /** A per-session process with nothing in flight for this long is stopped (its session ends). */
  idleTimeoutMs: number;
  /** A shared process that crashed is started again after backoffMs·2ⁿ, up to maxRetries times in a row. */
  restart: { maxRetries: number; backoffMs: number };
  /** The bridge's port on 127.0.0.1; 0: chosen when the gateway starts. */
  port: number;
}

/** The normalized settings, or undefined for a server without `command`. */
export function stdioOf(s: RawStdio, baseDir: string, abs: (p: string) => string): StdioServerConfig | undefined {
  if (!s.command) return undefined;
  const o = s.stdio ?? {};
  return {
    command: s.command,
    env: s.env ?? {},
    cwd: s.cwd === undefined ? baseDir : abs(s.cwd),
    mode: o.mode ?? STDIO_DEFAULTS.mode,
    maxProcesses: o.max_processes ?? STDIO_DEFAULTS.maxProcesses,
    idleTimeoutMs: o.idle_timeout_ms ?? STDIO_DEFAULTS.idleTimeoutMs,
    restart: { maxRetries: o.restart?.max_retries ?? STDIO_DEFAULTS.maxRetries, backoffMs: o.restart?.backoff_ms ?? STDIO_DEFAULTS.backoffMs },
    port: o.port ?? 0,
  };
}

/** Where Envoy reaches the bridge before its port is known (replaced by bindBridges()). */
export const bridgeUrl = (port: number, path = '/mcp') => new URL(`http://127.0.0.1:${port}${path}`);

/** Problems the schema alone cannot see, as [key, message] under `servers[i]`. */
export function stdioProblems(s: RawStdio & { upstream_auth?: unknown; url?: unknown; versions?: unknown }): [string, string][] {
  const out: [string, string][] = [];
  if (!s.command) {
    for (const k of ['env', 'cwd', 'stdio'] as const) if (s[k] !== undefined) out.push([k, `${k} applies to a stdio server (command) only`]);
    return out;
  }
  if (s.upstream_auth !== undefined) out.push(['upstream_auth', 'a stdio program gets no HTTP credentials; give it what it needs in env']);
  return out;
}
