// Protocol revisions at the gateway's edge: unsupported versions (2026-07-28
// UnsupportedProtocolVersionError, −32022, HTTP 400, data { supported, requested }),
// MCP-Protocol-Version header vs `_meta` version (−32020), and methods 2026-07-28 removed
// (404, −32601, before any parameter is checked). The pure rules first, then the same
// tables through one Exchange (header phase + body phase), as Envoy drives it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseJsonRpcMessage, type JsonRpcMessage } from '../../src/mcp/jsonrpc.js';
import { isRemovedMethod, metaProtocolVersion, STATELESS_PROTOCOL_VERSIONS, SUPPORTED_PROTOCOL_VERSIONS } from '../../src/mcp/protocol.js';
import { headerVersionRefusal, messageVersion, removedMethodRefusal } from '../../src/gateway/protocol-version.js';
import { Exchange } from '../../src/gateway/exchange.js';
import { GatewayRuntime } from '../../src/gateway/runtime.js';
import { MemoryAuditSink } from '../../src/audit/sink.js';
import { parseConfig } from '../../src/config/load.js';
import type { Verdict } from '../../src/gateway/verdict.js';

const META = 'io.modelcontextprotocol/protocolVersion';
const NEW = '2026-07-28';
const LEGACY = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'] as const;
const UNSUPPORTED = ['v999.0.0', '1999-01-01', '2026-07-29', ''];
const REMOVED = ['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe'];
/** Requests 2026-07-28 keeps (its schema's ClientRequest union), plus the tasks extension's. */
const KEPT = ['server/discover', 'subscriptions/listen', 'tools/list', 'tools/call', 'prompts/list', 'prompts/get', 'resources/list', 'resources/templates/list', 'resources/read', 'completion/complete', 'tasks/get'];

function msg(json: unknown): JsonRpcMessage {
  const r = parseJsonRpcMessage(Buffer.from(JSON.stringify(json)));
  assert.ok(r.ok, 'test message must parse');
  return r.message;
}
const req = (method: string, params?: Record<string, unknown>, id: number | string = 7) => msg({ jsonrpc: '2.0', id, method, ...(params && { params }) });
const withMeta = (version: unknown, params: Record<string, unknown> = {}) => ({ ...params, _meta: { [META]: version, 'io.modelcontextprotocol/clientCapabilities': {} } });

describe('metaProtocolVersion', () => {
  const cases: [string, Record<string, unknown> | undefined, string | undefined | null][] = [
    ['no params', undefined, undefined],
    ['no _meta', { name: 'x' }, undefined],
    ['_meta not an object', { _meta: 'x' }, undefined],
    ['_meta an array', { _meta: [] }, undefined],
    ['_meta without the key', { _meta: { other: 1 } }, undefined],
    ['a string', { _meta: { [META]: NEW } }, NEW],
    ['a number', { _meta: { [META]: 20260728 } }, null],
    ['null', { _meta: { [META]: null } }, null],
  ];
  for (const [name, params, want] of cases) it(name, () => assert.equal(metaProtocolVersion(params), want));
});

describe('isRemovedMethod', () => {
  for (const m of REMOVED) {
    it(`${m} is removed in ${NEW}`, () => assert.equal(isRemovedMethod(NEW, m), true));
    for (const v of LEGACY) it(`${m} exists in ${v}`, () => assert.equal(isRemovedMethod(v, m), false));
    it(`${m} without a version is not judged`, () => assert.equal(isRemovedMethod(undefined, m), false));
  }
  for (const m of KEPT) it(`${m} exists in ${NEW}`, () => assert.equal(isRemovedMethod(NEW, m), false));
});

describe('headerVersionRefusal (GET, DELETE: no body)', () => {
  for (const v of [...LEGACY, NEW]) it(`accepts ${v}`, () => assert.equal(headerVersionRefusal(v), undefined));
  it('accepts no header', () => assert.equal(headerVersionRefusal(undefined), undefined));
  for (const v of UNSUPPORTED) {
    it(`refuses ${JSON.stringify(v)}: 400, −32022, id null, every supported version`, () => {
      const r = headerVersionRefusal(v);
      assert.ok(r);
      assert.deepEqual([r.httpStatus, r.rpcCode, r.rpcId, r.reason], [400, -32022, null, 'unsupported_protocol_version']);
      assert.deepEqual(r.data, { supported: [...SUPPORTED_PROTOCOL_VERSIONS], requested: v });
    });
  }
});

describe('messageVersion (POST body)', () => {
  type Want = { ok: string | undefined } | { code: number; status: number; supported?: readonly string[]; requested?: string };
  const cases: { name: string; header: string | undefined; meta?: unknown; want: Want }[] = [
    { name: 'no header, no _meta', header: undefined, want: { ok: undefined } },
    ...[...LEGACY, NEW].map((v) => ({ name: `header ${v}, no _meta`, header: v, want: { ok: v } })),
    { name: `header and _meta ${NEW}`, header: NEW, meta: NEW, want: { ok: NEW } },
    { name: 'header and _meta 2025-11-25 (agreeing)', header: '2025-11-25', meta: '2025-11-25', want: { ok: '2025-11-25' } },
    ...UNSUPPORTED.map((v) => ({ name: `header ${JSON.stringify(v)}, no _meta`, header: v, want: { code: -32022, status: 400, supported: SUPPORTED_PROTOCOL_VERSIONS, requested: v } })),
    ...UNSUPPORTED.map((v) => ({ name: `header and _meta ${JSON.stringify(v)}`, header: v, meta: v, want: { code: -32022, status: 400, supported: STATELESS_PROTOCOL_VERSIONS, requested: v } })),
    { name: `header ${NEW}, _meta v999.0.0 (mismatch wins)`, header: NEW, meta: 'v999.0.0', want: { code: -32020, status: 400 } },
    { name: `header v999.0.0, _meta ${NEW} (mismatch wins)`, header: 'v999.0.0', meta: NEW, want: { code: -32020, status: 400 } },
    { name: `no header, _meta ${NEW}`, header: undefined, meta: NEW, want: { code: -32020, status: 400 } },
    { name: 'no header, _meta v999.0.0', header: undefined, meta: 'v999.0.0', want: { code: -32020, status: 400 } },
    { name: '_meta version a number', header: NEW, meta: 20260728, want: { code: -32602, status: 400 } },
  ];
  for (const c of cases) {
    for (const kind of ['request', 'notification'] as const) {
      it(`${c.name} (${kind})`, () => {
        const params = c.meta === undefined ? { cursor: 'a' } : withMeta(c.meta, { cursor: 'a' });
        const m = kind === 'request' ? req('tools/list', params, 'r-1') : msg({ jsonrpc: '2.0', method: 'notifications/cancelled', params });
        const got = messageVersion(c.header, m);
        if ('ok' in c.want) {
          assert.deepEqual(got, { ok: true, version: c.want.ok });
          return;
        }
        assert.equal(got.ok, false);
        if (got.ok) return;
        assert.equal(got.refusal.rpcCode, c.want.code);
        assert.equal(got.refusal.httpStatus, c.want.status);
        assert.equal(got.refusal.rpcId, kind === 'request' ? 'r-1' : null, 'the request id, known in the body phase');
        if (c.want.supported) assert.deepEqual(got.refusal.data, { supported: [...c.want.supported], requested: c.want.requested });
      });
    }
  }
  it('a response is checked against the header only', () => {
    const response = msg({ jsonrpc: '2.0', id: 3, result: { _meta: { [META]: 'v999.0.0' } } });
    assert.deepEqual(messageVersion(NEW, response), { ok: true, version: NEW });
    const bad = messageVersion('v999.0.0', response);
    assert.ok(!bad.ok && bad.refusal.rpcCode === -32022 && bad.refusal.rpcId === null);
  });
});

describe('removedMethodRefusal', () => {
  for (const m of REMOVED) {
    it(`${m} at ${NEW}: 404, −32601, the request id`, () => {
      const r = removedMethodRefusal(NEW, req(m, withMeta(NEW), 500));
      assert.ok(r);
      assert.deepEqual([r.httpStatus, r.rpcCode, r.rpcId, r.reason], [404, -32601, 500, 'method_removed']);
    });
    it(`${m} as a notification is not answered`, () => assert.equal(removedMethodRefusal(NEW, msg({ jsonrpc: '2.0', method: m })), undefined));
    for (const v of [...LEGACY, undefined]) it(`${m} at ${v ?? 'no version'}: not refused`, () => assert.equal(removedMethodRefusal(v, req(m)), undefined));
  }
  for (const m of KEPT) it(`${m} at ${NEW}: not refused`, () => assert.equal(removedMethodRefusal(NEW, req(m, withMeta(NEW))), undefined));
});

// ---------------------------------------------------------------------------
// Through an Exchange
// ---------------------------------------------------------------------------

const config = parseConfig('servers:\n  - name: s\n    url: http://127.0.0.1:1/mcp\n');
const conn = { clientAddress: '127.0.0.1' };

function headers(method: string, extra: Record<string, string | undefined>): Record<string, string> {
  const h: Record<string, string> = { ':method': method, ':path': '/mcp/s', ':authority': 'localhost:10000', 'content-type': 'application/json' };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) h[k] = v;
  return h;
}

/** Header phase then (for a POST that got through) body phase; the final verdict and the audit event. */
async function run(httpMethod: string, h: Record<string, string | undefined>, body?: unknown) {
  const audit = new MemoryAuditSink();
  const ex = new Exchange(new GatewayRuntime(config, audit, undefined));
  let v: Verdict = await ex.requestHeaders(headers(httpMethod, h), body === undefined, conn);
  if (v.kind === 'continue' && body !== undefined) v = await ex.requestBody(Buffer.from(JSON.stringify(body)));
  ex.close('complete');
  return { v, event: audit.events[0] };
}

function refusal(v: Verdict) {
  assert.equal(v.kind, 'respond', `expected a refusal, got ${JSON.stringify(v)}`);
  if (v.kind !== 'respond') throw new Error('unreachable');
  const json = JSON.parse(v.body) as { id: unknown; error: { code: number; data?: Record<string, unknown> } };
  return { status: v.status, id: json.id, code: json.error.code, data: json.error.data };
}

/** The standard headers a conformant 2026-07-28 client sends for `method` (no Mcp-Name: the tests use no named targets). */
const std = (method: string, version: string | undefined) => ({ 'mcp-protocol-version': version, 'mcp-method': method });

describe('Exchange: unsupported versions', () => {
  for (const v of UNSUPPORTED) {
    it(`POST, header ${JSON.stringify(v)}: refused in the body phase with the request id`, async () => {
      const { v: verdict, event } = await run('POST', std('tools/list', v), { jsonrpc: '2.0', id: 301, method: 'tools/list' });
      const r = refusal(verdict);
      assert.deepEqual([r.status, r.id, r.code], [400, 301, -32022]);
      assert.deepEqual(r.data, { supported: [...SUPPORTED_PROTOCOL_VERSIONS], requested: v, reason: 'unsupported_protocol_version' });
      assert.equal(event?.reason, 'unsupported_protocol_version');
      assert.equal(event?.rpc?.id, 301);
    });
    it(`POST, header and _meta ${JSON.stringify(v)}: the stateless versions are offered`, async () => {
      const r = refusal((await run('POST', std('server/discover', v), { jsonrpc: '2.0', id: 'd', method: 'server/discover', params: withMeta(v) })).v);
      assert.deepEqual([r.status, r.id, r.code], [400, 'd', -32022]);
      assert.deepEqual(r.data?.['supported'], [...STATELESS_PROTOCOL_VERSIONS]);
      assert.equal(r.data?.['requested'], v);
    });
    for (const m of ['GET', 'DELETE']) {
      it(`${m}, header ${JSON.stringify(v)}: refused from the headers (id null)`, async () => {
        const r = refusal((await run(m, { 'mcp-protocol-version': v })).v);
        assert.deepEqual([r.status, r.id, r.code], [400, null, -32022]);
        assert.deepEqual(r.data, { supported: [...SUPPORTED_PROTOCOL_VERSIONS], requested: v, reason: 'unsupported_protocol_version' });
      });
    }
  }
  it(`POST, header ${NEW}, _meta v999.0.0: −32020 (header mismatch) with the id`, async () => {
    const r = refusal((await run('POST', std('server/discover', NEW), { jsonrpc: '2.0', id: 302, method: 'server/discover', params: withMeta('v999.0.0') })).v);
    assert.deepEqual([r.status, r.id, r.code], [400, 302, -32020]);
  });
  for (const v of [...LEGACY, NEW]) {
    it(`GET with header ${v} goes on`, async () => assert.equal((await run('GET', { 'mcp-protocol-version': v })).v.kind, 'continue'));
  }
});

describe('Exchange: methods 2026-07-28 removed', () => {
  // Parameters that would fail validation (resources/subscribe without a uri) must not matter.
  const paramsFor = (m: string, version: string) => (version === NEW ? withMeta(NEW) : m === 'initialize' ? { protocolVersion: version, capabilities: {}, clientInfo: { name: 't', version: '1' } } : {});
  for (const m of REMOVED) {
    for (const where of ['header', 'header+_meta'] as const) {
      it(`${m} at ${NEW} (${where}): 404, −32601, id kept, nothing forwarded`, async () => {
        const params = where === 'header' ? {} : withMeta(NEW);
        const { v, event } = await run('POST', std(m, NEW), { jsonrpc: '2.0', id: 500, method: m, params });
        const r = refusal(v);
        assert.deepEqual([r.status, r.id, r.code], [404, 500, -32601]);
        assert.equal(event?.reason, 'method_removed');
      });
    }
    it(`${m} at ${NEW} without Mcp-Method: still 404 −32601 (the method does not exist, whatever its headers)`, async () => {
      const r = refusal((await run('POST', { 'mcp-protocol-version': NEW }, { jsonrpc: '2.0', id: 9, method: m, params: withMeta(NEW) })).v);
      assert.deepEqual([r.status, r.code], [404, -32601]);
    });
    for (const v of LEGACY) {
      it(`${m} at ${v}: as before`, async () => {
        const { v: verdict } = await run('POST', { 'mcp-protocol-version': v }, { jsonrpc: '2.0', id: 1, method: m, params: paramsFor(m, v) });
        if (m === 'resources/subscribe' || m === 'resources/unsubscribe') {
          // No uri: parameter validation, as in every session-era revision.
          const r = refusal(verdict);
          assert.deepEqual([r.status, r.code], [200, -32602]);
        } else {
          assert.equal(verdict.kind, 'continue');
        }
      });
    }
  }
  it(`a method differing only by case at ${NEW}: 404 −32601`, async () => {
    const r = refusal((await run('POST', std('Tools/List', NEW), { jsonrpc: '2.0', id: 4, method: 'Tools/List', params: withMeta(NEW) })).v);
    assert.deepEqual([r.status, r.code], [404, -32601]);
  });
  it('a method differing only by case at 2025-11-25: 200 −32601 (as before)', async () => {
    const r = refusal((await run('POST', { 'mcp-protocol-version': '2025-11-25' }, { jsonrpc: '2.0', id: 4, method: 'Tools/List' })).v);
    assert.deepEqual([r.status, r.code], [200, -32601]);
  });
  for (const m of ['server/discover', 'tools/list', 'prompts/list', 'resources/list']) {
    it(`${m} at ${NEW} goes on`, async () => {
      assert.equal((await run('POST', std(m, NEW), { jsonrpc: '2.0', id: 2, method: m, params: withMeta(NEW) })).v.kind, 'continue');
    });
  }
});
