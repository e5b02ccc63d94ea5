// Setup 11: IBM ContextForge (PyPI mcp-contextforge-gateway) in front of the bench upstream.
//
// Installed once into .tools/peers/contextforge/venv (a stamp file holds the pinned version),
// run as its documented production launch (gunicorn + Uvicorn workers, as run-gunicorn.sh does)
// with its SQLite database in the run's folder, its JWT auth on (HS256, a token minted here),
// and both upstreams registered through its REST API, each behind a virtual server.
//
// Two things decided by how ContextForge works, not by taste:
// - Stateful sessions, one worker. Only stateful sessions answer initialize with an
//   mcp-session-id (stateless, its default, sends none; the load generator needs one). They live
//   in the worker that opened them ("InMemoryEventStore - only works with single worker!"): more
//   workers need Redis as its cache plus its session affinity, which forwards each request that
//   reaches the wrong worker over Redis pub/sub. Measured here with 2 workers + Redis: 32-45 ms
//   CPU per tools/call against 20-24 ms with one worker, and no more calls per second. So one.
// - Progress. ContextForge relays an upstream's notifications/progress to the session's GET
//   stream, not into the POST response of the call they belong to, so the call-sse check
//   (3 progress events in the response) fails: reported as measured, and said in the note.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { projectRoot } from '../../../src/envoy/binary.js';
import { freePort } from '../../../test/support/ports.js';
import { exec } from '../exec.js';
import { PeerUnavailable, type PeerContext, type PeerStack } from './types.js';

const PACKAGE = 'mcp-contextforge-gateway';
const VERSION = '1.0.7.post20260921';
/** Its Requires-Python: >=3.11,<3.14. */
const PYTHON_OK = (major: number, minor: number) => major === 3 && minor >= 11 && minor < 14;
/** Gunicorn workers: one, see above. */
const WORKERS = 1;
const ADMIN = 'admin@example.com';
const ISSUER = 'mcpgateway';
const AUDIENCE = 'mcpgateway-api';
/** Its GATEWAY_TOOL_NAME_SEPARATOR (default "-"): tools are named <gateway slug><sep><tool>. */
const SEPARATOR = '-';
const INSTALL_TIMEOUT_MS = 20 * 60_000;
const READY_TIMEOUT_MS = 180_000;

const say = (s: string) => process.stderr.write(`        [contextforge] ${s}\n`);

/** pip's (or python's) last error line: the last "ERROR:" line, else the last non-empty one. */
const lastError = (out: string) => {
  const lines = out.split('\n').map((l) => l.trim()).filter(Boolean);
  return [...lines].reverse().find((l) => l.startsWith('ERROR:')) ?? lines.at(-1) ?? 'no output';
};

/** The venv with the pinned package, (re)made only when the stamp names another version. */
async function ensureInstalled(): Promise<string> {
  const home = join(projectRoot(), '.tools', 'peers', 'contextforge');
  const venv = join(home, 'venv');
  const stamp = join(home, 'installed-version');
  const gunicorn = join(venv, 'bin', 'gunicorn');
  if (existsSync(gunicorn) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === VERSION) return venv;

  const python = process.env.PYTHON ?? 'python3';
  const probe = await exec(python, ['-c', 'import sys; print(*sys.version_info[:2])'], { timeoutMs: 30_000 });
  if (probe.code !== 0) throw new PeerUnavailable(`${python} is needed to install ${PACKAGE}: ${lastError(probe.out)}`);
  const [major = 0, minor = 0] = probe.out.trim().split(/\s+/).map(Number);
  if (!PYTHON_OK(major, minor)) throw new PeerUnavailable(`${PACKAGE} ${VERSION} requires Python >=3.11,<3.14; ${python} is ${major}.${minor}`);

  const started = Date.now();
  say(`installing ${PACKAGE}==${VERSION} into ${venv} (first run only; about a minute)`);
  await rm(venv, { recursive: true, force: true });
  await mkdir(home, { recursive: true });
  const mk = await exec(python, ['-m', 'venv', venv], { timeoutMs: 120_000 });
  if (mk.code !== 0) throw new PeerUnavailable(`python3 -m venv failed: ${lastError(mk.out)}`);
  const ticker = setInterval(() => say(`still installing (${Math.round((Date.now() - started) / 1000)} s)`), 20_000);
  const pip = await exec(join(venv, 'bin', 'pip'), ['install', '--disable-pip-version-check', '--no-input', `${PACKAGE}==${VERSION}`], { timeoutMs: INSTALL_TIMEOUT_MS }).finally(() => clearInterval(ticker));
  if (pip.code !== 0 || !existsSync(gunicorn)) throw new PeerUnavailable(`pip install ${PACKAGE}==${VERSION} failed: ${lastError(pip.out)}`);
  await writeFile(stamp, `${VERSION}\n`);
  say(`installed in ${Math.round((Date.now() - started) / 1000)} s`);
  return venv;
}

/** Strong enough for its secret and password checks (length, entropy, character classes). */
const secret = () => `Bx7!${randomBytes(30).toString('base64url')}`;

type Json = Record<string, unknown>;

async function api(base: string, token: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`ContextForge ${method} ${path}: HTTP ${r.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as unknown;
}

const tail = (file: string) => {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ').slice(-600);
  } catch {
    return '(no log)';
  }
};

export async function startContextForge(ctx: PeerContext): Promise<PeerStack> {
  const venv = await ensureInstalled();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const jwtSecret = secret();
  const log = join(ctx.dir, 'contextforge.log');

  // Settings from its config.py / .env.example / the tuned docker-compose.yml, fastest that keep
  // what the bench compares (auth on) and drop what it does not need.
  const settings: Record<string, string> = {
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: `sqlite:///${join(ctx.dir, 'contextforge.db')}`,
    CACHE_TYPE: 'memory',
    USE_STATEFUL_SESSIONS: 'true', // the only mode that hands out an mcp-session-id
    JSON_RESPONSE_ENABLED: 'true', // its default: application/json answers
    TRANSPORT_TYPE: 'streamablehttp',
    // Auth: on, HS256 bearer JWTs; the platform admin is created in the database at startup.
    AUTH_REQUIRED: 'true',
    MCP_CLIENT_AUTH_ENABLED: 'true',
    MCP_REQUIRE_AUTH: 'true',
    JWT_ALGORITHM: 'HS256',
    JWT_SECRET_KEY: jwtSecret,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    AUTH_ENCRYPTION_SECRET: secret(),
    PLATFORM_ADMIN_EMAIL: ADMIN,
    PLATFORM_ADMIN_PASSWORD: secret(),
    BASIC_AUTH_PASSWORD: secret(),
    DEFAULT_USER_PASSWORD: secret(),
    // The upstreams are on loopback, which its SSRF guard refuses by default.
    SSRF_ALLOW_LOCALHOST: 'true',
    // Off: UI, admin API, plugins, rate limiting (MCP tier: 100/min), compression, deprecated
    // unversioned REST aliases, correlation ids, per-call metric rows, token-usage log, catalog,
    // A2A, LLM chat, metrics aggregation.
    MCPGATEWAY_UI_ENABLED: 'false',
    MCPGATEWAY_ADMIN_API_ENABLED: 'false',
    PLUGINS_ENABLED: 'false',
    RATE_LIMITING_ENABLED: 'false',
    COMPRESSION_ENABLED: 'false',
    LEGACY_API_ENABLED: 'false',
    CORRELATION_ID_ENABLED: 'false',
    DB_METRICS_RECORDING_ENABLED: 'false',
    TOKEN_USAGE_LOGGING_ENABLED: 'false',
    METRICS_AGGREGATION_ENABLED: 'false',
    MCPGATEWAY_CATALOG_ENABLED: 'false',
    MCPGATEWAY_A2A_ENABLED: 'false',
    LLMCHAT_ENABLED: 'false',
    OBSERVABILITY_ENABLED: 'false',
    ENABLE_METRICS: 'false',
    STRUCTURED_LOGGING_DATABASE_ENABLED: 'false',
    LOG_LEVEL: 'ERROR',
    GATEWAY_TOOL_NAME_SEPARATOR: SEPARATOR,
  };
  // Not the parent's environment wholesale: a stray DATABASE_URL or PORT there must not leak in.
  const env = { PATH: `${join(venv, 'bin')}:${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? ctx.dir, LANG: 'C.UTF-8', VIRTUAL_ENV: venv, ...settings };

  // As run-gunicorn.sh: Uvicorn workers (uvloop + httptools), no access log, long timeout.
  const gunicornArgs = [
    join(venv, 'bin', 'gunicorn'),
    ...['--worker-class', 'uvicorn.workers.UvicornWorker', '--workers', String(WORKERS), '--bind', `127.0.0.1:${port}`],
    ...['--timeout', '600', '--graceful-timeout', '3', '--keep-alive', '75', '--backlog', '4096'],
    ...['--access-logfile', '/dev/null', '--error-logfile', '-', '--log-level', 'warning'],
    'mcpgateway.main:app',
  ];
  const fd = openSync(log, 'a');
  // Its own process group, so stop() reaches the worker too.
  const child: ChildProcess = spawn(gunicornArgs[0]!, gunicornArgs.slice(1), { cwd: ctx.dir, env, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  const pid = child.pid!;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const killGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* gone */
    }
  };
  const onExit = () => killGroup('SIGKILL');
  process.once('exit', onExit);
  const stop = async () => {
    process.off('exit', onExit);
    killGroup('SIGTERM');
    const t = setTimeout(() => killGroup('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
    killGroup('SIGKILL'); // a worker left behind
  };

  try {
    const t0 = Date.now();
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new PeerUnavailable(`ContextForge exited (${child.exitCode ?? child.signalCode}) while starting: ${tail(log)}`);
      if (Date.now() - t0 > READY_TIMEOUT_MS) throw new PeerUnavailable(`ContextForge not ready on ${base}/ready within ${READY_TIMEOUT_MS / 1000} s: ${tail(log)}`);
      const ok = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    say(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // As its own create_jwt_token utility mints them (sub, iss, aud, iat, exp, jti). No "teams" claim means
    // public-only to ContextForge: RBAC is evaluated on every request, no admin bypass (teams: null would skip it).
    const token = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(ADMIN)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('12h')
      .sign(new TextEncoder().encode(jwtSecret));

    // Both upstreams, then one virtual server for each: the curated 52 of the JSON one, and the SSE one's progress tool.
    const gw = async (name: string, url: string) => (await api(base, token, 'POST', '/v1/gateways', { name, url, transport: 'STREAMABLEHTTP' })) as Json;
    const json = await gw('bench-json', ctx.upstream.json);
    const sse = await gw('bench-sse', ctx.upstream.sse);
    const tools = (await api(base, token, 'GET', '/v1/tools?limit=0')) as Json[];
    const of = (g: Json, names: readonly string[]) => {
      const mine = tools.filter((t) => t.gatewayId === g.id && names.includes(String(t.originalName)));
      if (mine.length !== names.length) throw new Error(`ContextForge lists ${mine.length} of the ${names.length} tools wanted from ${String(g.name)}`);
      return mine;
    };
    const jsonTools = of(json, ctx.curatedTools);
    const sseTools = of(sse, ['progress']);
    const server = async (name: string, picked: Json[]) =>
      (await api(base, token, 'POST', '/v1/servers', { server: { name, associated_tools: picked.map((t) => t.id) }, visibility: 'public' })) as Json;
    const jsonServer = await server('bench-json-curated', jsonTools);
    const sseServer = await server('bench-sse', sseTools);
    // Its name for an upstream tool: <gateway slug><separator><original name>.
    const prefix = (t: Json) => String(t.name).slice(0, -String(t.originalName).length);

    return {
      target: {
        setup: 'contextforge',
        jsonUrl: `${base}/servers/${String(jsonServer.id)}/mcp`,
        sseUrl: `${base}/servers/${String(sseServer.id)}/mcp`,
        authorizations: [`Bearer ${token}`],
        expectListed: ctx.curatedTools.length,
        toolPrefix: { json: prefix(jsonTools[0]!), sse: prefix(sseTools[0]!) },
      },
      gateway: { pid },
      note:
        `ContextForge ${VERSION} (PyPI), gunicorn + ${WORKERS} Uvicorn worker (stateful sessions; more workers need Redis and were slower), ` +
        `SQLite in the run folder, cache ${settings.CACHE_TYPE}, plugins/UI/rate limits off; ` +
        `per request: HS256 JWT check, user and RBAC role lookups in SQLite (the token has no teams claim: public-only, no admin bypass), virtual-server tool lookup, one upstream session per downstream session; ` +
        `progress notifications go to the session's GET stream, not the call's response, so call-sse fails its check`,
      stop,
    };
  } catch (err) {
    await stop();
    // Reported with the reason (the other setups are still measured), not a crash of the whole run.
    throw err instanceof PeerUnavailable ? err : new PeerUnavailable(`ContextForge set-up failed: ${(err as Error).message}`);
  }
}
