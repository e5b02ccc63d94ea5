// What the sidecar's worker processes are built on: their addresses (and Envoy's endpoints),
// the config as it crosses to a worker, the IPC channel, limits counted in the primary.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseConfig, ConfigError } from '../../src/config/load.js';
import { envoyBootstrap, SIDECAR_CLUSTER } from '../../src/envoy/bootstrap.js';
import { sidecarWorkers, workerListens } from '../../src/workers/addresses.js';
import { decodeConfig, encodeConfig } from '../../src/workers/wire.js';
import { Channel, ChannelClosedError, type WireMessage } from '../../src/workers/channel.js';
import { ipcLimits, LimitsHost } from '../../src/workers/ipc-limits.js';
import { workerExecArgv } from '../../src/workers/pool.js';
import { workerConfig } from '../../src/workers/worker-config.js';
import { assertSidecarReloadable, RestartNeededError } from '../../src/config/restart-needed.js';
import type { RateCounter } from '../../src/limits/types.js';
import { availableParallelism } from 'node:os';

const base = (sidecar: string) => parseConfig(`servers: [{ name: s, url: "http://127.0.0.1:9/mcp" }]\n${sidecar}`);

/** Two channels wired to each other, as the primary and a worker are (asynchronously, in order). */
function pair(): [Channel, Channel] {
  let a: Channel;
  let b: Channel;
  const deliver = (to: () => Channel) => (m: WireMessage) => void setImmediate(() => to().receive(JSON.parse(JSON.stringify(m))));
  a = new Channel(deliver(() => b));
  b = new Channel(deliver(() => a));
  return [a, b];
}

describe('worker addresses', () => {
  test('workers default to 1; auto is the cores available', () => {
    assert.equal(base('').sidecar.workers, 1);
    assert.equal(base('sidecar: { workers: auto }').sidecar.workers, availableParallelism());
    assert.equal(sidecarWorkers(3), 3);
  });

  test('worker i listens on port + i, or <path>.i; Envoy lists one endpoint per worker', () => {
    const c = base('sidecar: { listen: "127.0.0.1:9100", workers: 3 }');
    assert.deepEqual(workerListens(c.sidecar).map((l) => (l.kind === 'tcp' ? l.port : l.path)), [9100, 9101, 9102]);
    const u = base('sidecar: { listen: "unix:/run/mcp.sock", workers: 2 }');
    assert.deepEqual(workerListens(u.sidecar).map((l) => (l.kind === 'unix' ? l.path : '')), ['/run/mcp.sock', '/run/mcp.sock.1']);
    const clusters = (envoyBootstrap(c) as any).static_resources.clusters;
    const eps = clusters.find((x: any) => x.name === SIDECAR_CLUSTER).load_assignment.endpoints[0].lb_endpoints;
    assert.deepEqual(eps.map((e: any) => e.endpoint.address.socket_address.port_value), [9100, 9101, 9102]);
    // One worker: exactly the single-process sidecar's one endpoint.
    const one = (envoyBootstrap(base('sidecar: { listen: "127.0.0.1:9100" }')) as any).static_resources.clusters.find((x: any) => x.name === SIDECAR_CLUSTER);
    assert.equal(one.load_assignment.endpoints[0].lb_endpoints.length, 1);
  });

  test('port 0, ports past 65535 and a worker port on the gateway listener are config errors', () => {
    const problem = (s: string) => {
      try {
        base(s);
        return '';
      } catch (err) {
        return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`).join('\n');
      }
    };
    assert.match(problem('sidecar: { listen: "127.0.0.1:0", workers: 2 }'), /fixed port/);
    assert.match(problem('sidecar: { listen: "127.0.0.1:65535", workers: 2 }'), /past 65535/);
    assert.match(problem('gateway: { listen: "127.0.0.1:9101" }\nsidecar: { listen: "127.0.0.1:9100", workers: 2 }'), /127\.0\.0\.1:9101/);
    assert.match(problem('sidecar: { workers: 0 }'), /sidecar\.workers/);
    assert.equal(problem('sidecar: { listen: "127.0.0.1:0" }'), '', 'one worker may take any free port');
  });

  test('changing the number of workers needs a restart', () => {
    assert.throws(() => assertSidecarReloadable(base(''), base('sidecar: { workers: 2 }')), RestartNeededError);
  });
});

describe('the config as a worker gets it', () => {
  test('round-trips, URLs included, and the worker serves its own address without the endpoint', () => {
    const c = parseConfig(readFileSync('examples/gateway.yaml', 'utf8'), 'examples/gateway.yaml');
    const back = decodeConfig(encodeConfig(c));
    // Equal but for keys whose value is undefined (JSON leaves them out; every reader treats both alike).
    assert.equal(encodeConfig(back), encodeConfig(c));
    assert.ok(back.servers[0]!.url instanceof URL);
    assert.equal(back.servers[0]!.url.href, c.servers[0]!.url.href);
    const withTelemetry = base('sidecar: { listen: "127.0.0.1:9100", workers: 2 }\ntelemetry: { listen: "127.0.0.1:9200" }');
    const w = workerConfig(withTelemetry, 1);
    assert.deepEqual(w.sidecar.listen, { kind: 'tcp', host: '127.0.0.1', port: 9101 });
    assert.equal(w.sidecar.workers, 1);
    assert.equal(w.telemetry.listen, undefined);
  });

  test('approvals with workers: only on a Redis store; every worker gates, worker 0 alone serves the page', () => {
    const approvals = (store: string) => base(`sidecar: { listen: "127.0.0.1:9100", workers: 2 }\napprovals: { listen: "127.0.0.1:9300"${store} }`);
    assert.throws(() => approvals(''), (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.path === 'approvals.store' && /store: \{ kind: redis \}/.test(p.message)));
    assert.throws(() => approvals(', store: { kind: memory }'), ConfigError);
    const c = approvals(', store: { kind: redis, url: "redis://127.0.0.1:6379" }');
    assert.equal(c.approvals!.servePage, true);
    assert.deepEqual([0, 1].map((i) => workerConfig(c, i).approvals!.servePage), [true, false]);
    // The flag crosses to the worker with the rest of the config.
    assert.equal(decodeConfig(encodeConfig(workerConfig(c, 1))).approvals!.servePage, false);
    // One process keeps the memory store.
    assert.equal(base('approvals: { listen: "127.0.0.1:9300" }').approvals!.store.kind, 'memory');
  });

  test('workers keep a profiler flag and its value, and load TypeScript only from sources', () => {
    assert.deepEqual(workerExecArgv(['--cpu-prof', '--cpu-prof-dir', '/tmp/p', '--test-reporter', 'spec'], false), ['--cpu-prof', '--cpu-prof-dir', '/tmp/p']);
    assert.deepEqual(workerExecArgv(['--import', 'tsx'], true), ['--import', 'tsx']);
    assert.deepEqual(workerExecArgv([], false), []);
  });
});

describe('the IPC channel', () => {
  test('requests are answered, errors come back as rejections, notes need no answer', async () => {
    const [primary, worker] = pair();
    worker.handle('double', (n: number) => n * 2);
    worker.handle('fail', () => {
      throw new Error('no such bundle');
    });
    const notes: unknown[] = [];
    primary.handle('note', (b: unknown) => void notes.push(b));
    assert.equal(await primary.call('double', 21), 42);
    await assert.rejects(primary.call('fail'), /no such bundle/);
    await assert.rejects(primary.call('unknown'), /no handler/);
    worker.notify('note', 'a');
    worker.notify('note', 'b');
    await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(notes, ['a', 'b']);
  });

  test('a closed channel rejects what waits and what comes; a call can time out', async () => {
    const [primary, worker] = pair();
    worker.handle('never', () => new Promise(() => undefined));
    const waiting = primary.call('never');
    primary.close('worker exited');
    await assert.rejects(waiting, ChannelClosedError);
    await assert.rejects(primary.call('never'), ChannelClosedError);
    assert.throws(() => primary.notify('x'), ChannelClosedError);
    const [p2, w2] = pair();
    w2.handle('never', () => new Promise(() => undefined));
    await assert.rejects(p2.call('never', undefined, 20), /no answer within 20 ms/);
  });
});

describe('limits counted in the primary', () => {
  const counter: RateCounter = { limit: 'l', source: 'config', dimensions: ['caller'], values: ['alice'], requestsPerUnit: 3, unit: 'hour', shadow: false };

  test('a rate of N is N over all workers together', async () => {
    const host = new LimitsHost();
    const workers = [pair(), pair()].map(([primary, worker], i) => (host.serve(primary, i), ipcLimits(worker)));
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => workers[i % 2]!.rates.take([counter])));
    assert.equal(results.filter((r) => r.hit === undefined).length, 3);
    assert.ok(results.filter((r) => r.hit).every((r) => r.hit!.limit === 'l' && r.hit!.kind === 'rate'));
  });

  test('concurrency slots are shared, released by the worker, and freed when a worker exits', async () => {
    const host = new LimitsHost();
    const [p0, w0] = pair();
    const [p1, w1] = pair();
    host.serve(p0, 0);
    host.serve(p1, 1);
    const [a, b] = [ipcLimits(w0), ipcLimits(w1)];
    const slot = [{ limit: 'cap', values: ['alice'], max: 2, shadow: false }];
    const first = await a.concurrency.take(slot);
    const second = await b.concurrency.take(slot);
    const third = await a.concurrency.take(slot);
    assert.ok('lease' in first && 'lease' in second);
    assert.ok('hit' in third && third.hit.kind === 'concurrency');
    // Worker 0 releases its slot: one is free again.
    first.lease.release();
    first.lease.release();
    await new Promise((r) => setTimeout(r, 5));
    const fourth = await a.concurrency.take(slot);
    assert.ok('lease' in fourth);
    // Worker 0 dies with its slot held: the primary frees it.
    assert.equal(host.heldLeases, 2);
    host.workerGone(0);
    assert.equal(host.heldLeases, 1);
    assert.ok('lease' in (await b.concurrency.take(slot)));
  });
});
