// The official MCP SDK client, authorizing itself with OAuth the way the SDK
// documents it, with the browser replaced by a redirect follower.
//
// The SDK does the protocol: on the MCP server's 401 it reads
// `WWW-Authenticate: Bearer resource_metadata="…"`, fetches the protected
// resource metadata (RFC 9728), then the authorization server metadata
// (RFC 8414, falling back to OpenID discovery), registers dynamically
// (RFC 7591), and sends the user to the authorization endpoint with PKCE (S256)
// and `resource` (RFC 8707). Here "the user" is `redirectToAuthorization`,
// which follows the redirects through the authorization server's automatic
// login and consent (see auth-server.ts) until it reaches the redirect URI,
// and keeps the code. Then, as documented: the first connect() throws
// UnauthorizedError, transport.finishAuth(code) exchanges the code, and a
// new connection carries the access token.
import { freePort } from './gateway.js';
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, type OAuthClientProvider, type OAuthDiscoveryState } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';

export interface ConnectWithOAuthOptions {
  /**
   * Put in the client metadata as `scope`. The SDK uses it only as the last
   * choice: a `scope` in the server's WWW-Authenticate, then the protected
   * resource metadata's `scopes_supported`, come first (SEP-835).
   */
  scope?: string;
  /** Used for every request the SDK makes (MCP and OAuth alike), e.g. to record them. The redirect follower uses plain fetch. */
  fetch?: FetchLike;
  /** Client name sent in registration and initialize; "oauth-test-client" when absent. */
  clientName?: string;
}

/** An in-memory OAuthClientProvider whose "browser" is a redirect-following fetch with a cookie jar. */
export class TestOAuthProvider implements OAuthClientProvider {
  readonly redirectUrl: string;
  readonly clientMetadata: OAuthClientMetadata;
  private _clientInformation: OAuthClientInformationMixed | undefined;
  private _tokens: OAuthTokens | undefined;
  private _codeVerifier: string | undefined;
  private _state: string | undefined;
  private _discovery: OAuthDiscoveryState | undefined;
  /** Every authorization URL the SDK sent the "user" to, as given. */
  readonly authorizationUrls: URL[] = [];
  /** Every URL the redirect follower requested, in order (authorization endpoint, interactions, resumes). */
  readonly visited: string[] = [];
  /** The code of the last completed authorization, until taken by connectWithOAuth. */
  authorizationCode: string | undefined;
  /** All parameters of the last redirect back to the redirect URI (code, state, iss). */
  callbackParams: URLSearchParams | undefined;

  constructor(opts: { redirectUrl: string; scope?: string; clientName?: string }) {
    this.redirectUrl = opts.redirectUrl;
    this.clientMetadata = {
      client_name: opts.clientName ?? 'oauth-test-client',
      redirect_uris: [opts.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...(opts.scope !== undefined ? { scope: opts.scope } : {}),
    };
  }

  state(): string {
    this._state = randomBytes(16).toString('base64url');
    return this._state;
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this._clientInformation;
  }

  saveClientInformation(info: OAuthClientInformationMixed): void {
    this._clientInformation = info;
  }

  tokens(): OAuthTokens | undefined {
    return this._tokens;
  }

  saveTokens(tokens: OAuthTokens): void {
    this._tokens = tokens;
  }

  saveCodeVerifier(v: string): void {
    this._codeVerifier = v;
  }

  codeVerifier(): string {
    if (this._codeVerifier === undefined) throw new Error('no PKCE code verifier saved');
    return this._codeVerifier;
  }

  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this._discovery = state;
  }

  discoveryState(): OAuthDiscoveryState | undefined {
    return this._discovery;
  }

  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    if (scope === 'all' || scope === 'client') this._clientInformation = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this._codeVerifier = undefined;
    if (scope === 'all' || scope === 'discovery') this._discovery = undefined;
  }

  /** The access token the SDK holds now (what it sends as `Authorization: Bearer`). */
  get accessToken(): string | undefined {
    return this._tokens?.access_token;
  }

  /**
   * Plays the user agent: GETs the authorization URL and every redirect after
   * it (carrying cookies), until a redirect points at the redirect URI. An
   * error sent back to the redirect URI, or a page that is not a redirect,
   * fails with what the server said.
   */
  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    this.authorizationUrls.push(new URL(authorizationUrl.href));
    const jar = new CookieJar();
    let url = new URL(authorizationUrl.href);
    for (let hop = 0; hop < 20; hop++) {
      this.visited.push(url.href);
      const cookie = jar.header(url);
      const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
      jar.store(url, res.headers.getSetCookie());
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) {
        const body = (await res.text()).replace(/\s+/g, ' ').slice(0, 500);
        throw new Error(`authorization stopped at ${url.origin}${url.pathname} with HTTP ${res.status}: ${body}`);
      }
      await res.body?.cancel();
      const next = new URL(location, url);
      if (isRedirectUri(next, this.redirectUrl)) {
        const params = next.searchParams;
        this.callbackParams = params;
        const error = params.get('error');
        if (error) throw new Error(`authorization server refused: ${error}${params.get('error_description') ? ` (${params.get('error_description')})` : ''}`);
        if (this._state !== undefined && params.get('state') !== this._state) throw new Error('state mismatch on the redirect back');
        const code = params.get('code');
        if (!code) throw new Error(`redirect back without a code: ${next.href}`);
        this.authorizationCode = code;
        return;
      }
      url = next;
    }
    throw new Error(`authorization did not come back to ${this.redirectUrl} within 20 redirects: ${this.visited.join(' -> ')}`);
  }
}

/**
 * Connects the SDK client to `mcpUrl` through the whole OAuth flow: first
 * connect (401 → discovery → registration → authorization, which throws
 * UnauthorizedError), finishAuth(code) (token request with code_verifier and
 * resource), then a new transport and client that send the access token.
 * A server that needs no authorization is simply connected to.
 */
export async function connectWithOAuth(mcpUrl: string, opts: ConnectWithOAuthOptions = {}): Promise<{ client: Client; provider: TestOAuthProvider }> {
  const name = opts.clientName ?? 'oauth-test-client';
  const provider = new TestOAuthProvider({ redirectUrl: `http://127.0.0.1:${await freePort()}/callback`, scope: opts.scope, clientName: name });
  const transportOpts = { authProvider: provider, ...(opts.fetch ? { fetch: opts.fetch } : {}) };

  const first = new Client({ name, version: '1.0.0' });
  const firstTransport = new StreamableHTTPClientTransport(new URL(mcpUrl), transportOpts);
  try {
    await first.connect(firstTransport);
    return { client: first, provider };
  } catch (e) {
    await first.close().catch(() => {});
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  const code = provider.authorizationCode;
  if (code === undefined) throw new Error('the SDK reported UnauthorizedError without completing an authorization');
  provider.authorizationCode = undefined;
  await firstTransport.finishAuth(code);

  const client = new Client({ name, version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), transportOpts));
  return { client, provider };
}

function isRedirectUri(candidate: URL, redirectUrl: string): boolean {
  const r = new URL(redirectUrl);
  return candidate.origin === r.origin && candidate.pathname === r.pathname;
}


/** Just enough of RFC 6265 for one host's redirect chain: name, value, path, expiry. */
class CookieJar {
  private readonly cookies = new Map<string, { name: string; value: string; host: string; path: string; expires: number }>();

  store(url: URL, setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = url.pathname.slice(0, url.pathname.lastIndexOf('/')) || '/';
      let expires = Infinity;
      for (const a of attrs) {
        const i = a.indexOf('=');
        const k = (i < 0 ? a : a.slice(0, i)).toLowerCase();
        const v = i < 0 ? '' : a.slice(i + 1);
        if (k === 'path' && v.startsWith('/')) path = v;
        else if (k === 'max-age') expires = Date.now() + Number(v) * 1000;
        else if (k === 'expires' && expires === Infinity) expires = Date.parse(v);
      }
      const key = `${url.host} ${path} ${name}`;
      if (expires <= Date.now() || Number.isNaN(expires)) this.cookies.delete(key);
      else this.cookies.set(key, { name, value, host: url.host, path, expires });
    }
  }

  header(url: URL): string {
    const now = Date.now();
    return [...this.cookies.values()]
      .filter((c) => c.host === url.host && c.expires > now && pathMatches(url.pathname, c.path))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}
