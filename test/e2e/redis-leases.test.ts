// Concurrency slots in the real Redis, as two replicas see them: a slot is shared, renewed
// while held, given back on release, and a crashed holder's slot frees itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RedisConcurrency, slotKey } from '../../src/limits/redis-concurrency.js';
import type { ConcurrencySlot } from '../../src/limits/types.js';
import { startRedis, type RunningRedis } from '../support/limit-services.js';

let redis: RunningRedis;
const replicas: RedisConcurrency[] = [];
const replica = (leaseTtlMs = 1000) => {
  const r = new RedisConcurrency({ url: redis.url, timeoutMs: 1000, leaseTtlMs, failureMode: 'closed' });
  replicas.push(r);
  return r;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const slot = (values: string[], max = 1, shadow = false): ConcurrencySlot => ({ limit: 'leases', values, max, shadow });

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await Promise.all(replicas.map((r) => r.close()));
  await redis?.stop();
});

test('one cap across replicas; a release frees the slot for the other', async () => {
  const [a, b] = [replica(), replica()];
  const s = slot(['alice'], 2);
  const one = await a.take([s]);
  const two = await b.take([s]);
  assert.ok('lease' in one && 'lease' in two);
  const third = await a.take([s]);
  assert.ok('hit' in third, 'the cap is full across both');
  assert.equal(third.hit.limit, 'leases');
  assert.equal(third.hit.kind, 'concurrency');
  two.lease.release();
  let again;
  for (let i = 0; i < 50; i++) {
    again = await a.take([s]);
    if ('lease' in again) break;
    await sleep(20);
  }
  assert.ok(again && 'lease' in again, 'the released slot is free');
  // Another key has its own slots.
  assert.ok('lease' in (await b.take([slot(['bob'], 2)])));
});

test('all caps or none: a request under two caps takes nothing when one is full', async () => {
  const a = replica();
  const perCaller = slot(['carol'], 5);
  const perTool = { ...slot(['tool:x'], 1), limit: 'per-tool' };
  const first = await a.take([perCaller, perTool]);
  assert.ok('lease' in first);
  const second = await a.take([perCaller, perTool]);
  assert.ok('hit' in second && second.hit.limit === 'per-tool');
  const members = Number(await rawZcard(slotKey(perCaller)));
  assert.equal(members, 1, 'the refused request holds no slot of the cap that had room');
});

test('shadow caps are reported and let the request through', async () => {
  const a = replica();
  const s = slot(['dave'], 1, true);
  assert.ok('lease' in (await a.take([s])));
  const over = await a.take([s]);
  assert.ok('lease' in over);
  assert.deepEqual(over.shadowed.map((h) => [h.limit, h.shadow]), [['leases', true]]);
});

test('a held slot is renewed past its TTL; a crashed holder\'s slot expires', async () => {
  // A TTL of 2 s, renewed every 667 ms: a loaded machine can delay a renewal without losing it.
  const holder = replica(2000);
  const other = replica(2000);
  const s = slot(['erin']);
  const held = await holder.take([s]);
  assert.ok('lease' in held);
  // Over two TTLs later the holder, still alive, has kept renewing it.
  await sleep(4500);
  assert.ok('hit' in (await other.take([s])), 'renewed: still held');
  // The holder dies without giving it back: no more renewals.
  await holder.close();
  let freed = false;
  for (let i = 0; i < 100 && !freed; i++) {
    await sleep(100);
    freed = 'lease' in (await other.take([s]));
  }
  assert.ok(freed, 'the lease expired within about one TTL');
});

test('Redis gone: take() rejects fast (the failure mode decides); back: it works again', async () => {
  const a = replica();
  assert.ok('lease' in (await a.take([slot(['frank'], 10)])));
  await redis.stop();
  const t0 = Date.now();
  await assert.rejects(a.take([slot(['frank'], 10)]));
  assert.ok(Date.now() - t0 < 5000);
  await redis.restart();
  let ok = false;
  for (let i = 0; i < 60 && !ok; i++) {
    ok = await a.take([slot(['frank'], 10)]).then((r) => 'lease' in r, () => false);
    if (!ok) await sleep(100);
  }
  assert.ok(ok, 'reconnected');
});

/** ZCARD over a raw RESP connection: the test reads Redis without the code under test. */
async function rawZcard(key: string): Promise<string> {
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = connect(redis.port, '127.0.0.1', () => s.write(`*2\r\n$5\r\nZCARD\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n`));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().replace(/^:|\r\n$/g, ''));
    });
    s.once('error', reject);
  });
}
