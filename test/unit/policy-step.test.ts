// The policy step on its own: how a decision becomes a refusal, a dry-run pass or upstream headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPolicy } from '../../src/gateway/policy-step.js';
import { emptyAuditEvent } from '../../src/audit/event.js';
import type { ServerRuntime } from '../../src/gateway/runtime.js';
import type { Decision } from '../../src/policy/decision.js';
import type { PolicyInput } from '../../src/policy/input.js';

const decision = (d: Partial<Decision>): Decision => ({ allowed: false, reasons: [], errorMessage: undefined, headers: [], redact: [], rateLimits: [], error: undefined, ...d });
const server = (d: Decision, dryRun = false) =>
  ({ config: { dryRun }, policy: { current: () => ({ revision: 'abc123def456', decide: () => d }) } }) as unknown as ServerRuntime;
const input = {} as PolicyInput;
const target = { kind: 'tool' as const, name: 'run-sql' };

test('a denial becomes a -32003 refusal with the request id, the reasons, and the policy headers', () => {
  const ev = emptyAuditEvent();
  const step = applyPolicy(server(decision({ reasons: ['no'], headers: [['retry-after', '60']] })), input, target, 7, ev);
  assert.ok(step.refusal);
  assert.equal(step.refusal.rpcCode, -32003);
  assert.equal(step.refusal.rpcId, 7);
  assert.equal(step.refusal.httpStatus, 200);
  assert.equal(step.refusal.message, 'Denied by policy: tool "run-sql" — no');
  assert.deepEqual(step.refusal.headers, [['retry-after', '60']]);
  assert.equal(ev.policy?.allowed, false);
  assert.equal(ev.policy?.revision, 'abc123def456');
});

test('a denied notification gets 403; error_message wins; a malformed decision says why', () => {
  const a = applyPolicy(server(decision({ errorMessage: 'ask finance' })), input, target, null, emptyAuditEvent());
  assert.equal(a.refusal?.httpStatus, 403);
  assert.equal(a.refusal?.message, 'ask finance');
  const b = applyPolicy(server(decision({ error: 'policy decision: "allowed" must be a boolean, got string' })), input, target, 1, emptyAuditEvent());
  assert.match(b.refusal!.message, /must be a boolean/);
});

test('dry run passes a denial and audits "would deny"', () => {
  const ev = emptyAuditEvent();
  const step = applyPolicy(server(decision({ reasons: ['too big'] }), true), input, target, 1, ev);
  assert.equal(step.refusal, undefined);
  assert.equal(ev.reason, 'would_deny');
  assert.equal(ev.message, 'too big');
  assert.equal(ev.policy?.dry_run, true);
});

test('an allowed decision passes its headers upstream and redacts the audit arguments', () => {
  const ev = emptyAuditEvent();
  ev.arguments = { amount: 5, card_number: '4111' };
  const step = applyPolicy(server(decision({ allowed: true, headers: [['x-tenant', 'a']], redact: ['card_number'] })), input, target, 1, ev);
  assert.deepEqual(step, { refusal: undefined, headers: [['x-tenant', 'a']], rateLimits: [] });
  assert.deepEqual(ev.arguments, { amount: 5, card_number: '[REDACTED]' });
  assert.match(ev.policy!.decision_id, /^[0-9a-f-]{36}$/);
});
