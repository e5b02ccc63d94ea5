// Health end to end, with the real sidecar and the real Envoy: /readyz and
// grpc.health.v1 say why the sidecar is not ready (a JWKS that is down at start, an
// audit file gone), Envoy's active health check of the sidecar cluster follows
// (/clusters), and `up`'s launcher logs each transition of both components and shows
// it as mcp_gateway_component_ready.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rename, mkdir, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { exportJWK } from 'jose';
import { startUpstream, everythingServerFactory, type RunningUpstream } from '../../examples/upstream.js';
import { startGateway, freePort, type RunningGateway } from '../support/gateway.js';
import { scrape, samples, total } from '../support/prometheus.js';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { launchGateway, type RunningGateway as Launched } from '../../src/launcher.js';
import { EXT_PROC_SERVICE } from '../../src/extproc/server.js';
import { SIDECAR_CLUSTER } from '../../src/envoy/bootstrap.js';

/** An operational log kept in memory: the lines `up` would print on stderr. */
function memoryLog(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

async function readyz(telemetry: string): Promise<{ status: number; body: { status: string; reason?: string } }> {
  const res = await fetch(`${telemetry}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
}

async function grpcHealth(address: string): Promise<string> {
  const Ctor = grpc.makeGenericClientConstructor(healthService, 'Health');
  const client = new Ctor(address, grpc.credentials.createInsecure()) as unknown as {
    check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
    close(): void;
  };
  try {
    return (await new Promise<{ status: string }>((resolve, reject) => client.check({ service: EXT_PROC_SERVICE }, (err, r) => (err ? reject(err) : resolve(r!))))).status;
  } finally {
    client.close();
  }
}

/** The sidecar host's line in Envoy's /clusters text: `mcp_gateway_sidecar::127.0.0.1:P::health_flags::…`. */
async function sidecarHealthFlags(adminUrl: string): Promise<string> {
  const text = await (await fetch(`${adminUrl}/clusters`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${SIDECAR_CLUSTER}::`) && l.includes('::health_flags::'));
  assert.ok(line, `no health_flags line for ${SIDECAR_CLUSTER} in /clusters:\n${text}`);
  return line.slice(line.lastIndexOf('::') + 2);
}

async function gauge(telemetry: string, component: string): Promise<number> {
  const { families } = await scrape(telemetry);
  return total(samples(families, 'mcp_gateway_component_ready', { component }));
}

async function mcpInitialize(url: string): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'health-e2e', version: '1' } } }),
  });
  await res.arrayBuffer();
  return res.status;
}

let upstream: RunningUpstream;
before(async () => {
  upstream = await startUpstream({ createServer: await everythingServerFactory() });
});
after(async () => {
  await upstream?.close();
});

describe('a JWKS that is down at start', () => {
  let gw: RunningGateway;
  let jwks: Server | undefined;
  const jwksPort = freePort();

  before(async () => {
    const port = await jwksPort;
    gw = await startGateway({
      config: {
        servers: [{ name: 'everything', url: upstream.url }],
        auth: { jwt: { issuer: 'https://issuer.test', audiences: ['mcp'], jwks_url: `http://127.0.0.1:${port}/jwks.json`, jwks_timeout_ms: 500 } },
        telemetry: { listen: `127.0.0.1:${await freePort()}` },
        audit: { sink: 'stdout' },
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await new Promise((r) => (jwks ? jwks.close(r) : r(undefined)));
  });

  test('keeps the sidecar not ready, with the reason, until the JWKS is fetched', async () => {
    const telemetry = gw.launched.sidecar.telemetryUrl!;
    const down = await readyz(telemetry);
    assert.equal(down.status, 503);
    assert.equal(down.body.status, 'not_ready');
    assert.match(down.body.reason ?? '', /^jwks: JWKS http:\/\/127\.0\.0\.1:\d+\/jwks\.json not fetched yet/);
    assert.equal(await grpcHealth(gw.launched.sidecar.address), 'NOT_SERVING');
    assert.equal(await gauge(telemetry, 'sidecar'), 0);

    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const body = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] });
    jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    const port = await jwksPort;
    await new Promise<void>((r) => jwks!.listen(port, '127.0.0.1', () => r()));

    // The periodic re-evaluation fetches it again (no request needed).
    await until('SERVING', async () => ((await grpcHealth(gw.launched.sidecar.address)) === 'SERVING' ? true : undefined));
    assert.deepEqual(await readyz(telemetry), { status: 200, body: { status: 'ready' } });
    assert.equal(await gauge(telemetry, 'sidecar'), 1);
  });
});

describe('the audit file, Envoy health-checking the sidecar, and up watching Envoy', () => {
  let gw: Launched;
  let dir: string;
  let file: string;
  const mem = memoryLog();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcp-gateway-health-'));
    file = join(dir, 'audit.jsonl');
    // Launched as `up` does, with the audit sink built from the config (the harness's
    // startGateway() collects audit events in memory instead).
    const config = parseConfig(
      stringify({
        gateway: { listen: `127.0.0.1:${await freePort()}`, admin: `127.0.0.1:${await freePort()}` },
        sidecar: { listen: `127.0.0.1:${await freePort()}` },
        servers: [{ name: 'everything', url: upstream.url }],
        telemetry: { listen: `127.0.0.1:${await freePort()}` },
        audit: { sink: 'file', file },
      }),
      '<health test>',
    );
    gw = await launchGateway(config, { log: mem.log, envoy: { logLevel: 'error', stdio: 'pipe' } });
  });
  after(async () => {
    await gw?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('Envoy sees the sidecar healthy; an audit file that cannot be appended to makes it not ready and failing the health check; back when fixed', async () => {
    const telemetry = gw.sidecar.telemetryUrl!;
    const admin = gw.envoy.adminUrl;
    assert.deepEqual(await readyz(telemetry), { status: 200, body: { status: 'ready' } });
    assert.equal(await until('the first health check', async () => ((await sidecarHealthFlags(admin)) === 'healthy' ? 'healthy' : undefined)), 'healthy');

    // Replace the file by a directory: nothing can append to that path any more, even as root.
    await rename(file, `${file}.moved`);
    await mkdir(file);
    const down = await readyz(telemetry);
    assert.equal(down.status, 503);
    assert.match(down.body.reason ?? '', /^audit: .*audit\.jsonl cannot be appended to \(EISDIR\)$/);
    await until('NOT_SERVING', async () => ((await grpcHealth(gw.sidecar.address)) === 'NOT_SERVING' ? true : undefined));
    assert.equal(await until('failed_active_hc', async () => ((await sidecarHealthFlags(admin)).includes('/failed_active_hc') ? true : undefined)), true);
    const stats = await (await fetch(`${admin}/stats?filter=^cluster\\.${SIDECAR_CLUSTER}\\.health_check\\.`)).text();
    assert.match(stats, /health_check\.failure: [1-9]/);
    // Panic mode: the only sidecar host is unhealthy, yet Envoy still sends it the ext_proc streams.
    assert.equal(await mcpInitialize(gw.endpoints.get('everything')!), 200);
    const logged = mem.lines.find((l) => l.msg === 'sidecar not ready');
    assert.ok(logged, JSON.stringify(mem.lines));
    assert.match(String(logged.reason), /^audit: /);

    await rmdir(file);
    await rename(`${file}.moved`, file);
    await until('healthy again', async () => ((await sidecarHealthFlags(admin)) === 'healthy' ? true : undefined));
    assert.equal((await readyz(telemetry)).status, 200);
    assert.equal(mem.lines.filter((l) => l.msg === 'sidecar not ready').length, 1, 'one line per transition');
    assert.equal(mem.lines.filter((l) => l.msg === 'sidecar ready').length, 1);
  });

  test('Envoy reporting not ready (admin /healthcheck/fail) is logged once and shown by the gauge; and back', async () => {
    const telemetry = gw.sidecar.telemetryUrl!;
    const admin = gw.envoy.adminUrl;
    assert.equal(await gauge(telemetry, 'envoy'), 1);
    assert.equal((await fetch(`${admin}/healthcheck/fail`, { method: 'POST' })).status, 200);
    assert.equal((await fetch(`${admin}/ready`)).status, 503, 'Envoy /ready turns 503 DRAINING');
    const line = await until('the envoy log line', async () => mem.lines.find((l) => l.msg === 'envoy not ready'));
    assert.equal(line.component, 'envoy');
    assert.match(String(line.reason), /admin \/ready answered 503 DRAINING/);
    assert.equal(await gauge(telemetry, 'envoy'), 0);
    assert.equal(await gauge(telemetry, 'sidecar'), 1, 'the sidecar is still ready');

    await fetch(`${admin}/healthcheck/ok`, { method: 'POST' });
    await until('envoy ready again', async () => mem.lines.find((l) => l.msg === 'envoy ready'));
    assert.equal(await gauge(telemetry, 'envoy'), 1);
    assert.equal(mem.lines.filter((l) => l.msg === 'envoy not ready').length, 1, 'one line per transition');
  });

  test('Envoy dying is logged with its exit and shown by the gauge', async () => {
    const telemetry = gw.sidecar.telemetryUrl!;
    process.kill(gw.envoy.pid, 'SIGKILL');
    const line = await until('the exit line', async () => mem.lines.find((l) => l.msg === 'envoy not ready' && /exited/.test(String(l.reason))));
    assert.match(String(line.reason), /^exited \(code none: killed by a signal\)$/);
    assert.equal(await gauge(telemetry, 'envoy'), 0);
  });
});
