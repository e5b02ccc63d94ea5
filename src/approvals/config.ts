// The approvals config: the top-level `approvals` section (the page's listener, the store,
// the webhook) and each server's `approvals` rules (which tools need whose approval).
import { z } from 'zod';
import type { HostPort } from '../config/types.js';

export const APPROVAL_DEFAULTS = {
  listen: '127.0.0.1:9903',
  ttlS: 900,
  loginTtlS: 3600,
  webhookTimeoutMs: 2000,
  redisTimeoutMs: 500,
} as const;

/** `group:<name>` or `subject:<id>`: who may approve. */
export const approverSchema = z.string().regex(/^(group|subject):.+$/, 'an approver is "group:<name>" or "subject:<id>"');
const ttlSchema = z.number().int().min(1).max(7 * 24 * 3600);

/** One rule of `servers[].approvals`. */
export const serverApprovalsSchema = z.array(
  z
    .object({
      tools: z.array(z.string().min(1, 'a pattern cannot be empty')).min(1, 'list the tools (names or globs) this rule covers'),
      approvers: z.array(approverSchema).min(1, 'list at least one approver'),
      reason: z.string().min(1).max(500).optional(),
      ttl_s: ttlSchema.optional(),
    })
    .strict(),
);

export const approvalsSchema = z
  .object({
    // The approval page's own listener (not the MCP listener).
    listen: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9903').optional(),
    // The base of the approval URLs clients are given (default http://<listen>).
    public_url: z.string().url('expected the absolute URL approvers reach the approval page at, e.g. https://approvals.example.com').optional(),
    store: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('memory') }).strict(),
        z.object({ kind: z.literal('redis'), url: z.string().regex(/^rediss?:\/\/.+/, 'expected redis://host:port or rediss://host:port'), timeout_ms: z.number().int().min(5).max(10_000).optional() }).strict(),
      ])
      .optional(),
    allow_self_approval: z.boolean().optional(),
    ttl_s: ttlSchema.optional(),
    login_ttl_s: z.number().int().min(60).max(24 * 3600).optional(),
    webhook: z
      .object({
        url: z.string().url('the URL notified (JSON POST) when an approval is pending'),
        timeout_ms: z.number().int().min(10).max(30_000).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export interface ApprovalRuleConfig {
  tools: readonly string[];
  approvers: readonly string[];
  reason: string | undefined;
  ttlS: number | undefined;
}

export interface ApprovalsConfig {
  listen: HostPort;
  /** Base of the approval URLs, without a trailing slash. */
  publicUrl: string;
  store: { kind: 'memory' } | { kind: 'redis'; url: string; timeoutMs: number };
  allowSelfApproval: boolean;
  /** How long a request waits for a decision, and how long a granted approval stays usable (from the request). */
  ttlS: number;
  loginTtlS: number;
  webhook: { url: string; timeoutMs: number } | undefined;
  /**
   * Whether this process serves the page. Not a config key: with sidecar.workers > 1 only
   * worker 0 does (one listener for the port); every worker gates calls on the shared store.
   */
  servePage: boolean;
}

export function resolveApprovals(raw: z.infer<typeof approvalsSchema> | undefined, parseHostPort: (s: string) => HostPort): ApprovalsConfig | undefined {
  if (!raw) return undefined;
  const listen = parseHostPort(raw.listen ?? APPROVAL_DEFAULTS.listen);
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host;
  const store = raw.store ?? { kind: 'memory' as const };
  return {
    listen,
    publicUrl: (raw.public_url ?? `http://${host}:${listen.port}`).replace(/\/+$/, ''),
    store: store.kind === 'memory' ? store : { kind: 'redis', url: store.url, timeoutMs: store.timeout_ms ?? APPROVAL_DEFAULTS.redisTimeoutMs },
    allowSelfApproval: raw.allow_self_approval ?? false,
    ttlS: raw.ttl_s ?? APPROVAL_DEFAULTS.ttlS,
    loginTtlS: raw.login_ttl_s ?? APPROVAL_DEFAULTS.loginTtlS,
    webhook: raw.webhook && { url: raw.webhook.url, timeoutMs: raw.webhook.timeout_ms ?? APPROVAL_DEFAULTS.webhookTimeoutMs },
    servePage: true,
  };
}

export function resolveServerApprovals(raw: z.infer<typeof serverApprovalsSchema> | undefined): ApprovalRuleConfig[] {
  return (raw ?? []).map((r) => ({ tools: r.tools, approvers: r.approvers, reason: r.reason, ttlS: r.ttl_s }));
}
