// The approval page's own HTTP listener:
//   GET  /approvals/<id>          the request: who asks, server, tool, redacted arguments, reason, status
//   POST /approvals/<id>/login    sign in with an API key or bearer token (the callers' own identity config)
//   POST /approvals/<id>/decide   approve or deny, with a comment (signed in, named approver, CSRF token)
//   POST /approvals/<id>/logout
// Forms are urlencoded; answers are HTML (303 back to the page after a form that worked).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuditSink } from '../audit/event.js';
import type { Authenticator, Identity } from '../identity/types.js';
import { approvalEvent } from './audit.js';
import { isApprover, mayDecide } from './approvers.js';
import { CookieSigner, CSRF_COOKIE, parseCookies, type Approver } from './cookies.js';
import type { ApprovalGate } from './gate.js';
import { PAGE_HEADERS, approvalPage, messagePage } from './page.js';
import type { ApprovalRecord } from './record.js';

const ID = /^[A-Za-z0-9_-]{16,64}$/;
const MAX_FORM_BYTES = 16 * 1024;
const MAX_COMMENT = 500;

export interface ApprovalPageDeps {
  gate: ApprovalGate;
  audit: AuditSink;
  signer: CookieSigner;
  /** The authenticator in force (it follows config reloads); undefined: nobody can sign in. */
  authenticator: () => Authenticator | undefined;
  now?: () => number;
}

export interface ApprovalListener {
  readonly url: string;
  close(): Promise<void>;
}

export async function startApprovalListener(listen: { host: string; port: number }, deps: ApprovalPageDeps): Promise<ApprovalListener> {
  const handle = approvalHandler(deps);
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) send(res, 500, messagePage('Error', `The approval could not be handled: ${err.message}`));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`approvals.listen ${listen.host}:${listen.port}: ${err.message}`)));
    server.listen(listen.port, listen.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    url: `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

function send(res: ServerResponse, status: number, html: string, cookies: string[] = []): void {
  res.writeHead(status, { ...PAGE_HEADERS, ...(cookies.length && { 'set-cookie': cookies }) }).end(html);
}

function seeOther(res: ServerResponse, location: string, cookies: string[] = []): void {
  res.writeHead(303, { location, 'cache-control': 'no-store', ...(cookies.length && { 'set-cookie': cookies }) }).end();
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(c);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export function approvalHandler(deps: ApprovalPageDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { gate, audit, signer } = deps;
  const now = deps.now ?? Date.now;
  const cfg = gate.config;
  const origin = new URL(cfg.publicUrl).origin;

  const render = (res: ServerResponse, status: number, r: ApprovalRecord, viewer: Approver | undefined, csrf: { token: string; set: string[] }, notice?: string) => {
    const check = viewer && mayDecide(asIdentity(viewer), r, cfg.allowSelfApproval);
    const notAllowed = check && !check.ok ? check.why : undefined;
    // The request's approvers and its caller see its details; the URL alone (it travels through the client) shows only the status.
    const details = viewer !== undefined && (check?.ok === true || viewer.subject === r.caller.subject || isApprover(viewer, r));
    send(res, status, approvalPage({ record: r, nowMs: now(), viewer, notAllowed, details, csrf: csrf.token, notice }), csrf.set);
  };

  return async (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const m = /^\/approvals\/([^/]+)(?:\/(login|decide|logout))?$/.exec(path);
    if (!m || !ID.test(m[1]!)) return send(res, 404, messagePage('Not found', 'There is no approval request at this address.'));
    const [, id, action] = m as unknown as [string, string, string | undefined];
    const cookies = parseCookies(req.headers.cookie);
    // The browser's CSRF cookie, made on its first visit; every form carries its HMAC.
    const existing = cookies.get(CSRF_COOKIE);
    const fresh = existing === undefined ? signer.newCsrf() : undefined;
    const csrf = { token: signer.csrfToken(existing ?? fresh!.value), set: fresh ? [fresh.header] : [] };
    const record = await gate.store.get(id);
    if (!record) return send(res, 404, messagePage('Not found', 'There is no approval request at this address (or it was removed after it expired).'), csrf.set);
    const back = `/approvals/${id}`;
    const viewer = signer.approver(cookies, now());

    if (action === undefined) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, messagePage('Method not allowed', 'Use the forms on the page.'));
      return render(res, 200, record, viewer, csrf);
    }
    if (req.method !== 'POST') return send(res, 405, messagePage('Method not allowed', 'This address takes the page\'s form (POST).'), csrf.set);
    // A cross-site POST never gets here with the cookies (SameSite=Strict); an Origin from elsewhere is refused outright.
    const from = req.headers.origin;
    if (from !== undefined && from !== origin) return send(res, 403, messagePage('Forbidden', `This form can only be sent from ${origin}.`, back));
    const form = await readForm(req);
    if (!form) return send(res, 400, messagePage('Bad request', 'Expected the page\'s form (urlencoded, at most 16 KiB).', back));
    if (!signer.csrfValid(cookies, form.get('csrf') ?? undefined)) return send(res, 403, messagePage('Forbidden', 'The form has expired or did not come from this page: reload the page and try again.', back), csrf.set);

    if (action === 'logout') return seeOther(res, back, [signer.signOut()]);
    if (action === 'login') {
      const credential = (form.get('credential') ?? '').trim();
      const authenticator = deps.authenticator();
      if (!authenticator) return render(res, 401, record, undefined, csrf, 'Nobody can sign in: the gateway has no auth section (API keys or JWT) to check approvers with.');
      if (!credential) return render(res, 401, record, undefined, csrf, 'Enter an API key or a bearer token.');
      // The same mechanisms as callers: a JWT (three dot-separated parts) as a bearer token, anything else as an API key.
      const scheme = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(credential) ? 'Bearer' : 'ApiKey';
      const result = await authenticator.authenticate({ headers: { authorization: `${scheme} ${credential}` } });
      if (!result.ok || result.identity.method === 'anonymous') {
        const why = result.ok ? 'anonymous sign-in is not accepted' : result.message;
        audit.write(approvalEvent('forbidden', record, { message: `sign-in failed: ${why}` }));
        return render(res, 401, record, undefined, csrf, `Sign-in failed: ${why}`);
      }
      return seeOther(res, back, [signer.signIn(result.identity, cfg.loginTtlS, now())]);
    }

    // decide
    if (!viewer) return render(res, 401, record, undefined, csrf, 'Your sign-in has expired: sign in again.');
    const decision = form.get('decision');
    if (decision !== 'approve' && decision !== 'deny') return send(res, 400, messagePage('Bad request', 'Choose Approve or Deny.', back), csrf.set);
    const comment = (form.get('comment') ?? '').trim().slice(0, MAX_COMMENT) || undefined;
    const allowed = mayDecide(asIdentity(viewer), record, cfg.allowSelfApproval);
    if (!allowed.ok) {
      audit.write(approvalEvent('forbidden', record, { by: viewer.subject, message: `${viewer.subject} may not decide: ${allowed.why}` }));
      return send(res, 403, messagePage('Forbidden', `You may not decide this request: ${allowed.why}.`, back), csrf.set);
    }
    const status = decision === 'approve' ? 'approved' : 'denied';
    const r = await gate.store.decide(id, status, viewer.subject, comment, now());
    if (!r.ok) return render(res, 409, r.record ?? record, viewer, csrf, 'This request was already decided, or it expired.');
    audit.write(approvalEvent(status, r.record, { by: viewer.subject, comment }));
    return seeOther(res, back);
  };
}

/** What the approver check needs of an identity (the sign-in cookie carries it). */
function asIdentity(a: Approver): Identity {
  return { subject: a.subject, method: a.method, issuer: a.issuer, groups: a.groups, scopes: [], claims: {} };
}
