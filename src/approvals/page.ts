// The approval page: plain HTML forms, no script. Every value that came from a caller,
// an upstream or a policy (tool names, arguments, reasons, comments, subjects) is
// HTML-escaped where it is written, and the page is served with a CSP that runs no script.
import type { Approver } from './cookies.js';
import { stateOf, type ApprovalRecord, type ApprovalState } from './record.js';

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on the page's own forms.
  'referrer-policy': 'same-origin',
};

const STYLE = 'body{font:15px/1.45 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}' +
  'dt{font-weight:600;margin-top:.6rem}dd{margin:0}pre{background:#f4f4f4;padding:.6rem;overflow:auto;white-space:pre-wrap;word-break:break-all}' +
  '.status{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;background:#eee}.notice{padding:.6rem;border-left:4px solid #b00;background:#fff4f4}' +
  'form{margin:1rem 0}textarea,input[type=password]{width:100%;box-sizing:border-box}button{margin-right:.5rem;padding:.3rem .9rem}';

export function layout(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

export interface PageView {
  record: ApprovalRecord;
  nowMs: number;
  /** The signed-in approver, if any. */
  viewer: Approver | undefined;
  /** Why the viewer may not decide (undefined: they may, or nobody is signed in). */
  notAllowed: string | undefined;
  csrf: string;
  /** Who asks for what: only for a signed-in approver of this request or its caller (the URL alone shows the status). */
  details: boolean;
  /** A notice at the top (a failed sign-in, a refusal). */
  notice?: string | undefined;
}

const STATE_TEXT: Record<ApprovalState, string> = {
  pending: 'pending: waiting for an approver',
  approved: 'approved: the caller can now retry the call once',
  denied: 'denied',
  used: 'approved and used',
  expired: 'expired',
};

export function approvalPage(v: PageView): string {
  const r = v.record;
  const state = stateOf(r, v.nowMs);
  const e = escapeHtml;
  const at = (ms: number) => e(new Date(ms).toISOString());
  const what = `${r.target.kind} <code>${e(r.target.name)}</code>`;
  const args = r.arguments === undefined ? '<em>none recorded</em>' : `<pre>${e(JSON.stringify(r.arguments, null, 2) ?? 'null')}</pre>`;
  const decided = r.decidedBy === undefined ? '' : `<dt>Decided by</dt><dd>${e(r.decidedBy)} at ${at(r.decidedMs ?? 0)}${r.comment ? ` — “${e(r.comment)}”` : ''}</dd>`;
  const base = `/approvals/${e(r.id)}`;
  let actions: string;
  if (state !== 'pending') actions = v.viewer ? signOut(base, v.csrf) : '';
  else if (!v.viewer) {
    actions = `<h2>Sign in to decide</h2><form method="post" action="${base}/login"><input type="hidden" name="csrf" value="${e(v.csrf)}">` +
      `<label>API key or bearer token<br><input type="password" name="credential" autocomplete="off" required></label><p><button type="submit">Sign in</button></p></form>`;
  } else if (v.notAllowed) {
    actions = `<p class="notice">Signed in as ${e(v.viewer.subject)}: ${e(v.notAllowed)}</p>${signOut(base, v.csrf)}`;
  } else {
    actions = `<h2>Decide</h2><p>Signed in as <strong>${e(v.viewer.subject)}</strong>.</p><form method="post" action="${base}/decide"><input type="hidden" name="csrf" value="${e(v.csrf)}">` +
      `<label>Comment (the caller sees it)<br><textarea name="comment" rows="3" maxlength="500"></textarea></label>` +
      `<p><button type="submit" name="decision" value="approve">Approve</button><button type="submit" name="decision" value="deny">Deny</button></p></form>${signOut(base, v.csrf)}`;
  }
  const details = !v.details
    ? `<p>Sign in as one of its approvers to see who asks for what.</p>`
    : `<dl>` +
    `<dt>Who asks</dt><dd>${e(r.caller.subject)} <small>(${e(r.caller.method)}${r.caller.issuer ? `, ${e(r.caller.issuer)}` : ''})</small></dd>` +
    `<dt>Server</dt><dd><code>${e(r.server)}</code></dd><dt>Call</dt><dd><code>${e(r.method)}</code> of ${what}</dd>` +
    `<dt>Arguments</dt><dd>${args}</dd><dt>Why approval is needed</dt><dd>${e(r.reason)}</dd>` +
    `<dt>Approvers</dt><dd>${r.approvers.map((a) => `<code>${e(a)}</code>`).join(', ')}</dd>` +
    `<dt>Requested</dt><dd>${at(r.createdMs)}; expires ${at(r.expiresMs)}</dd>${decided}</dl>`;
  const body =
    `<h1>Approval request</h1>${v.notice ? `<p class="notice" role="alert">${e(v.notice)}</p>` : ''}` +
    `<p>Status: <span class="status" id="status">${e(STATE_TEXT[state])}</span></p>${details}${actions}`;
  return layout('Approval request', body);
}

function signOut(base: string, csrf: string): string {
  return `<form method="post" action="${base}/logout"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}"><button type="submit">Sign out</button></form>`;
}

/** A page that only says something (not found, forbidden, a refused form). */
export function messagePage(title: string, text: string, backTo?: string): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1><p class="notice" role="alert">${escapeHtml(text)}</p>${backTo ? `<p><a href="${escapeHtml(backTo)}">Back to the request</a></p>` : ''}`);
}
