// A typical allowed tools/call audit event, for the micro-benchmarks of what handles one.
import { emptyAuditEvent, type AuditEvent } from '../../src/audit/event.js';

/** A typical allowed tools/call event (about 600 bytes as JSON). */
export function typicalAuditEvent(i: number): AuditEvent {
  return {
    ...emptyAuditEvent(),
    request_id: `0b6f3c1e-8f5a-4c1d-9e2b-${String(i).padStart(12, '0')}`,
    trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    session_id: 'v1.Zm9vYmFyYmF6cXV4.c2lnbmF0dXJl',
    server: 'everything',
    http: { method: 'POST', path: '/mcp/everything', status: 200 },
    protocol_version: '2025-11-25',
    identity: { subject: 'alice@example.com', method: 'jwt', issuer: 'https://auth.example.com' },
    rpc: { kind: 'request', id: i, method: 'tools/call' },
    target: { kind: 'tool', name: 'get-balance' },
    arguments: { account: 'ACC-1234', token: '[REDACTED]' },
    policy: { decision_id: 'd-1', revision: 'rev-42', allowed: true, reasons: [], dry_run: false, error: undefined },
    upstream_status: 200,
    latency_ms: 1.234,
    client_address: '127.0.0.1:54321',
  };
}
