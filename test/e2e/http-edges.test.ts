// HTTP at the edges, through the real Envoy: requests Envoy itself refuses (its local
// replies), bodies on methods that have none, HTTP/2 trailers. The client gets Envoy's
// status or the gateway's precise refusal, nothing reaches the upstream that should not,
// the sidecar logs no error for any of it, and the audit trail says what happened.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';

let up: ScriptedUpstream;
let gw: RunningGateway;
let port: number;
let dir: string;
let auditFile: string;
const logLines: { level: number; msg: string }[] = [];

before(async () => {
  up = await startScriptedUpstream();
  dir = await mkdtemp(join(tmpdir(), 'mcp-gw-edges-'));
  auditFile = join(dir, 'audit.log');
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) logLines.push(JSON.parse(l));
      cb();
    },
  });
  gw = await startGateway({
    config: { servers: [{ name: 'e', url: up.url, tools: { deny: ['secret-*'] } }], audit: { sink: 'file', file: auditFile } },
    log: pino({ level: 'info' }, sink),
  });
  port = Number(new URL(gw.url('e')).port);
});
after(async () => {
  await gw?.stop();
  await up?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Writes raw bytes on a fresh connection; resolves with everything the server sent back. */
function raw(text: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    const done = () => resolve(out);
    s.on('data', (b) => (out += b.toString('latin1')));
    s.on('end', done);
    s.on('error', done);
    setTimeout(() => {
      s.destroy();
      done();
    }, 2000);
  });
}

const HOST = () => `Host: 127.0.0.1:${port}`;
const PING = '{"jsonrpc":"2.0","id":1,"method":"ping"}';
const statusOf = (reply: string) => Number(/^HTTP\/1\.[01] (\d{3})/.exec(reply)?.[1] ?? 0);

describe("requests Envoy refuses itself: the client gets Envoy's answer", () => {
  const cases: [string, () => string, number][] = [
    ['HTTP/1.0', () => `POST /mcp/e HTTP/1.0\r\n${HOST()}\r\nContent-Length: ${PING.length}\r\n\r\n${PING}`, 426],
    ['Content-Length with Transfer-Encoding', () => `POST /mcp/e HTTP/1.1\r\n${HOST()}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
    ['two different Content-Lengths', () => `POST /mcp/e HTTP/1.1\r\n${HOST()}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{"a":1}`, 400],
    ['oversize headers', () => `GET /mcp/e HTTP/1.1\r\n${HOST()}\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`, 431],
    ['an unknown method token', () => `FOO /mcp/e HTTP/1.1\r\n${HOST()}\r\n\r\n`, 400],
    ['a space in the method', () => `PO ST /mcp/e HTTP/1.1\r\n${HOST()}\r\n\r\n`, 400],
    ['a header with a control character', () => `POST /mcp/e HTTP/1.1\r\n${HOST()}\r\nX-A: a\u0001b\r\nContent-Length: 2\r\n\r\n{}`, 400],
    ['a header line without a colon', () => `POST /mcp/e HTTP/1.1\r\n${HOST()}\r\nbroken header\r\nContent-Length: 2\r\n\r\n{}`, 400],
    ['a websocket upgrade', () => `GET /mcp/e HTTP/1.1\r\n${HOST()}\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n`, 403],
    ['a bad chunk size', () => `POST /mcp/e HTTP/1.1\r\n${HOST()}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`, 400],
    ['an absolute-form target to another host', () => `GET http://evil.example/mcp/e HTTP/1.1\r\n${HOST()}\r\n\r\n`, 0],
    ['no Host header', () => `POST /mcp/e HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}`, 400],
  ];
  for (const [name, request, expected] of cases) {
    test(name, async () => {
      const before = up.received.length;
      const reply = await raw(request());
      const status = statusOf(reply);
      if (expected === 0) assert.ok(status >= 400 && status < 500, `a 4xx for ${name}, got:\n${reply.slice(0, 200)}`);
      else assert.equal(status, expected, `${name}:\n${reply.slice(0, 300)}`);
      assert.equal(up.received.length, before, 'nothing reached the upstream');
    });
  }

  test('Envoy wrote an audit line for each of its local replies; the sidecar logged no error', async () => {
    await new Promise((r) => setTimeout(r, 1500)); // Envoy flushes its access log every second
    const lines = (await readFile(auditFile, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const envoy = lines.filter((l) => l.source === 'envoy');
    const statuses = envoy.map((l) => l.http.status);
    for (const s of [426, 431, 403, 400]) assert.ok(statuses.includes(s), `an Envoy audit line with status ${s}: ${JSON.stringify(envoy)}`);
    for (const l of envoy) {
      assert.equal(l.type, 'http.local_reply');
      assert.equal(l.decision, 'deny');
      assert.equal(l.reason, 'envoy_local_reply');
      assert.ok(l.message, 'Envoy says why (response code details)');
    }
    const errors = logLines.filter((l) => l.level >= 50);
    assert.deepEqual(errors, [], 'no error-level sidecar log for a well-understood case');
  });
});

describe('methods without a body', () => {
  for (const method of ['GET', 'DELETE', 'OPTIONS']) {
    test(`${method} with a Content-Length body is refused before the upstream (HTTP/1.1)`, async () => {
      const before = up.received.length;
      const reply = await raw(`${method} /mcp/e HTTP/1.1\r\n${HOST()}\r\nAccept: text/event-stream\r\nContent-Length: ${PING.length}\r\n\r\n${PING}`);
      assert.equal(statusOf(reply), 400, reply);
      assert.match(reply, /"reason":"body_not_allowed"/);
      assert.equal(up.received.length, before);
      const ev = await gw.waitForAudit((e) => e.reason === 'body_not_allowed' && e.http.method === method);
      assert.equal(ev.decision, 'deny');
    });

    test(`${method} with DATA frames is refused before the upstream (HTTP/2)`, async () => {
      const before = up.received.length;
      const c = http2.connect(`http://127.0.0.1:${port}`);
      try {
        const req = c.request({ ':method': method, ':path': '/mcp/e', accept: 'text/event-stream' }, { endStream: false });
        req.end(PING);
        const status = await new Promise<number>((resolve) => req.on('response', (h) => resolve(Number(h[':status']))));
        req.resume();
        assert.equal(status, 400);
      } finally {
        c.close();
      }
      assert.equal(up.received.length, before);
    });
  }

  test('a GET whose chunked body is empty is an ordinary GET', async () => {
    up.answer = () => ({ status: 405, headers: { allow: 'POST' }, chunks: [] });
    const reply = await raw(`GET /mcp/e HTTP/1.1\r\n${HOST()}\r\nAccept: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`);
    assert.equal(statusOf(reply), 405, reply);
    assert.equal(up.received.at(-1)!.method, 'GET');
  });
});

describe('HTTP/2 trailers', () => {
  test('a POST with trailers is answered normally; the trailers never reach the upstream', async () => {
    up.answer = () => ({ headers: { 'content-type': 'application/json' }, chunks: ['{"jsonrpc":"2.0","id":1,"result":{}}'] });
    const c = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const req = c.request({ ':method': 'POST', ':path': '/mcp/e', 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, { waitForTrailers: true });
      req.on('wantTrailers', () => req.sendTrailers({ authorization: 'Bearer smuggled', 'mcp-session-id': 'forged', 'x-other': '1' }));
      req.end(PING);
      let text = '';
      req.on('data', (d: Buffer) => (text += d));
      const status = await new Promise<number>((resolve) => req.on('response', (h) => resolve(Number(h[':status']))));
      await new Promise((r) => req.on('end', r));
      assert.equal(status, 200, text);
      assert.deepEqual(JSON.parse(text), { jsonrpc: '2.0', id: 1, result: {} });
    } finally {
      c.close();
    }
    const got = up.received.at(-1)!;
    assert.equal(got.body, PING);
    assert.deepEqual(got.trailers, {}, 'no trailer reached the upstream');
  });
});

test('after all of it the gateway still serves', async () => {
  up.answer = () => ({ headers: { 'content-type': 'application/json' }, chunks: ['{"jsonrpc":"2.0","id":1,"result":{}}'] });
  const res = await fetch(gw.url('e'), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: PING });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { jsonrpc: '2.0', id: 1, result: {} });
});
