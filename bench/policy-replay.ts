// How fast `mcp-gateway policy replay` re-decides an audit trail, against reading and
// parsing the same trail without deciding anything (measured in the same run).
//
//   npm run bench:replay               # N=50000 recorded decisions
//   npm run bench:replay -- 200000     # N
//
// The trail: tools/call events of 40 callers in 4 groups over the policy fixture's
// tools, each with the policy input the gateway records (audit.policy_input), about
// 1.3 kB a line. Builds policies/ with the real OPA CLI first (see scripts/bootstrap.sh).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { POLICY_INPUT_VERSION } from '../src/audit/event.js';
import { readAuditLines } from '../src/audit/read-trail.js';
import { loadPolicyBundle } from '../src/policy/engine.js';
import { createPolicyInputBuilder } from '../src/policy/input.js';
import { opaBuild } from '../src/policy/opa-cli.js';
import { replayPolicy } from '../src/policy/replay.js';
import { typicalAuditEvent } from './lib/typical-audit-event.js';

const N = Number(process.argv[2] ?? 50_000);
const POLICIES = fileURLToPath(new URL('../policies', import.meta.url));
const GROUPS = ['analyst', 'finance', 'admin', 'support'];
const TOOLS = ['echo', 'get-balance', 'query-customers', 'run-sql', 'read-file', 'make-payment', 'admin-reset'];

const dir = mkdtempSync(join(tmpdir(), 'bench-replay-'));
try {
  const bundle = join(dir, 'bundle.tar.gz');
  await opaBuild(POLICIES, bundle);
  const build = createPolicyInputBuilder();
  const lines: string[] = [];
  const time = Date.now();
  for (let i = 0; i < N; i++) {
    const tool = TOOLS[i % TOOLS.length]!;
    const args = tool === 'make-payment' ? { amount: (i % 2000) + 1 } : tool === 'read-file' ? { path: `/srv/data/r${i % 10}.txt` } : { message: `m${i}` };
    const input = build({
      http: { method: 'POST', path: '/mcp/tools', host: 'gateway.example', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': 'v1.abc', 'user-agent': 'bench' } },
      sourceAddress: '10.0.0.7:51234',
      identity: { subject: `caller-${i % 40}`, issuer: 'https://idp.example', groups: [GROUPS[i % 4]!], scopes: ['mcp'], claims: { tenant: 'acme' }, method: 'jwt' },
      server: 'tools',
      protocolVersion: '2025-11-25',
      sessionId: 'v1.abc',
      message: { kind: 'request', id: i, method: 'tools/call', params: { name: tool, arguments: args } } as never,
    });
    const ev = { ...typicalAuditEvent(i), log: 'audit', time: new Date(time + i).toISOString(), server: 'tools', target: { kind: 'tool', name: tool }, arguments: args };
    ev.policy = { ...ev.policy!, allowed: true, reasons: [], input_version: POLICY_INPUT_VERSION, input };
    lines.push(JSON.stringify(ev));
  }
  const audit = join(dir, 'audit.jsonl');
  writeFileSync(audit, lines.join('\n') + '\n');
  const bytes = lines.reduce((n, l) => n + l.length + 1, 0);

  // Baseline: read and parse every line, nothing decided.
  const readStarted = performance.now();
  let parsed = 0;
  for await (const ev of readAuditLines(audit)) if ((ev as { policy?: unknown }).policy) parsed++;
  const readSeconds = (performance.now() - readStarted) / 1000;

  const r = await replayPolicy({ audit, candidate: bundle, load: (p, clock) => loadPolicyBundle(p, { clockMs: clock, timeoutMs: 10_000 }) });
  console.log(`trail: ${N} decisions, ${(bytes / 1e6).toFixed(1)} MB (${Math.round(bytes / N)} B a line)`);
  console.log(`read + parse only : ${Math.round(parsed / readSeconds).toLocaleString('en')} lines/s`);
  console.log(`replay (decide)   : ${r.decisions_per_second.toLocaleString('en')} decisions/s (${((r.seconds / r.replayed) * 1e6).toFixed(1)} µs each; ${(r.seconds / readSeconds).toFixed(2)}× the read-only pass)`);
  console.log(`changes vs recorded: newly denied ${r.newly_denied.count}, newly allowed ${r.newly_allowed.count} (the recorded decisions all say allow)`);
  console.log(`target ≥ 10,000 decisions/s: ${r.decisions_per_second >= 10_000 ? 'met' : 'NOT met'}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
