// A real OAuth 2.1 authorization server for the tests: oidc-provider on a
// loopback port, configured the way an MCP deployment needs it.
//
//  - discovery at /.well-known/oauth-authorization-server and
//    /.well-known/openid-configuration (both served by oidc-provider);
//  - open dynamic client registration (RFC 7591) at /reg;
//  - authorization code with PKCE, S256 only, required for every client;
//  - resource indicators (RFC 8707): each configured resource gets JWT access
//    tokens (RS256, verifiable with this server's JWKS) whose `aud` is the
//    resource, carrying the caller's `groups`;
//  - token exchange (RFC 8693) at the token endpoint for a pre-registered
//    confidential client (the gateway), issuing a JWT for another resource
//    with the same `sub` and an `act` claim naming that client;
//  - no browser: the interaction (login + consent) completes itself as
//    `autoLogin.sub`, granting whatever was asked for;
//  - nothing persisted (oidc-provider's in-memory adapter), keys generated per start.
//
// An http issuer on loopback needs no switch in oidc-provider v9: it accepts
// any issuer URL, treats the connection as insecure (ctx.secure is false, so
// cookies are not marked Secure) and accepts http redirect_uris for web
// clients. What has to be turned off is what would otherwise answer for a
// real deployment: devInteractions (its login form) and the default TTL/CORS
// helpers that print "you SHOULD change" notices.
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import Provider, { errors, type Configuration, type KoaContextWithOIDC, type AccessToken, type ClientCredentials, type JWK, type ResourceServer, type Adapter, type AdapterPayload } from 'oidc-provider';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** Lifetime of access tokens (authorization code, refresh, token exchange, mintAccessToken) unless a call says otherwise. */
export const ACCESS_TOKEN_TTL_S = 3600;

export interface AuthServerResource {
  /** The resource indicator (RFC 8707), e.g. the gateway's `http://127.0.0.1:<port>/mcp/<server>`. */
  uri: string;
  /** Scopes this resource accepts; they are also registered as the server's `scopes_supported`. */
  scopes: string[];
  /** The `aud` of tokens for this resource; the `uri` when absent. Token exchange accepts it as `audience`. */
  audience?: string;
}

export interface AuthServerOptions {
  resources: AuthServerResource[];
  /** Groups per subject, put in every access token for that subject as `groups` (an unknown subject gets `[]`). */
  users?: Record<string, { groups: string[] }>;
  /** 0 or absent: a free port. */
  port?: number;
}

/** One request the server answered: what tests assert on (e.g. how many token exchanges the gateway made). */
export interface AuthServerRequest {
  method: string;
  /** Path and query. */
  url: string;
  status: number;
  /** For the token endpoint: the grant_type asked for. */
  grantType?: string;
  /** For the token endpoint: the authenticated client. */
  clientId?: string;
}

export interface AuthServer {
  /** `http://127.0.0.1:<port>` (no trailing slash): the `iss` of every token. */
  issuer: string;
  jwksUri: string;
  close(): Promise<void>;
  /**
   * An access token exactly as the server issues it (oidc-provider's own JWT
   * access-token format, signed with its key) without the browser flow.
   * `resource` must be one of the configured resources. `expiresInS` may be 0
   * or negative for an already expired token. `groups` overrides the user table.
   * `client_id` is the internal client "test-minter".
   */
  mintAccessToken(opts: { sub: string; resource: string; scope: string; groups?: string[]; expiresInS?: number }): Promise<string>;
  /** A pre-registered confidential client allowed only the token-exchange grant; it authenticates with client_secret_basic. */
  tokenExchangeClient: { clientId: string; clientSecret: string };
  /** Who the interaction logs in as. Tests change `sub` between flows. */
  autoLogin: { sub: string };
  /** Every request answered, in order (interaction steps included). */
  requests: AuthServerRequest[];
}

const MINTER_CLIENT_ID = 'test-minter';

/** Exchanged / minted tokens get their claims from here instead of the user table. */
const extraClaims = new WeakMap<object, Record<string, unknown>>();

export async function startAuthServer(opts: AuthServerOptions): Promise<AuthServer> {
  if (opts.resources.length === 0) throw new Error('startAuthServer: at least one resource is needed');
  const resources = new Map(opts.resources.map((r) => [r.uri, r]));
  const users = opts.users ?? {};
  const autoLogin = { sub: 'alice' };
  const requests: AuthServerRequest[] = [];

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const signingJwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), kid, alg: 'RS256', use: 'sig' };
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = signingJwk;
  const localJwks = createLocalJWKSet({ keys: [publicJwk as JsonWebKeyLike] });

  const tokenExchangeClient = { clientId: 'mcp-gateway', clientSecret: randomBytes(24).toString('base64url') };

  // The issuer must name the port, so listen first and attach the handler afterwards.
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server: Server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;

  const resourceServerInfo = (r: AuthServerResource): ResourceServer => ({
    scope: r.scopes.join(' '),
    audience: r.audience ?? r.uri,
    accessTokenTTL: ACCESS_TOKEN_TTL_S,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  });

  const staticScopes = new Set(['openid', 'offline_access', ...opts.resources.flatMap((r) => r.scopes)]);

  const configuration: Configuration = {
    adapter: memoryAdapter(),
    // OAuth 2.1: the code flow only (no implicit / hybrid response types).
    responseTypes: ['code'],
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    clients: [
      {
        client_id: tokenExchangeClient.clientId,
        client_secret: tokenExchangeClient.clientSecret,
        client_name: 'mcp-gateway (token exchange)',
        grant_types: [TOKEN_EXCHANGE_GRANT],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: MINTER_CLIENT_ID,
        client_name: 'tests (mintAccessToken)',
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'none',
      },
    ],
    scopes: [...staticScopes],
    // Any subject may log in; the account exists for as long as a token names it.
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub, groups: users[sub]?.groups ?? [] }) }),
    extraTokenClaims: (_ctx: KoaContextWithOIDC, token: AccessToken | ClientCredentials) => {
      const extra = extraClaims.get(token);
      if (extra) return extra;
      if (token.kind === 'AccessToken') return { groups: users[token.accountId]?.groups ?? [] };
      return undefined;
    },
    pkce: { required: () => true },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // Public clients that registered refresh_token get refresh tokens (no offline_access dance).
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    clientBasedCORS: () => true,
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ACCESS_TOKEN_TTL_S,
      AuthorizationCode: 60,
      ClientCredentials: ACCESS_TOKEN_TTL_S,
      Grant: 14 * 24 * 3600,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
    },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true, initialAccessToken: false },
      clientCredentials: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // No resource parameter: the one granted (token endpoint), else the first configured resource.
        defaultResource: (_ctx, _client, oneOf) => oneOf ?? opts.resources[0]!.uri,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          const r = resources.get(indicator);
          if (!r) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
          return resourceServerInfo(r);
        },
      },
    },
  };

  const provider = new Provider(issuer, configuration);

  // ---- RFC 8693 token exchange ------------------------------------------------------------
  provider.registerGrantType(
    TOKEN_EXCHANGE_GRANT,
    async (ctx) => {
      const params = ctx.oidc.params as Record<string, string | string[] | undefined>;
      const one = (name: string): string | undefined => {
        const v = params[name];
        if (Array.isArray(v)) throw new errors.InvalidRequest(`${name} must be given once`);
        return v;
      };
      const subjectToken = one('subject_token');
      const subjectTokenType = one('subject_token_type');
      if (!subjectToken) throw new errors.InvalidRequest('missing required parameter subject_token');
      if (!subjectTokenType) throw new errors.InvalidRequest('missing required parameter subject_token_type');
      if (subjectTokenType !== ACCESS_TOKEN_TYPE && subjectTokenType !== JWT_TOKEN_TYPE) {
        throw new errors.InvalidRequest(`unsupported subject_token_type ${subjectTokenType}`);
      }
      const requested = one('requested_token_type');
      if (requested !== undefined && requested !== ACCESS_TOKEN_TYPE && requested !== JWT_TOKEN_TYPE) {
        throw new errors.InvalidRequest(`unsupported requested_token_type ${requested}`);
      }
      if (params.actor_token !== undefined) throw new errors.InvalidRequest('actor_token is not supported: the authenticated client is the actor');

      // The target: resource and/or audience values, all naming the same configured resource.
      const targets = new Set<AuthServerResource>();
      for (const uri of [params.resource ?? []].flat()) {
        const r = resources.get(uri);
        if (!r) throw new errors.InvalidTarget(`unknown resource ${uri}`);
        targets.add(r);
      }
      for (const aud of [params.audience ?? []].flat()) {
        const r = opts.resources.find((x) => (x.audience ?? x.uri) === aud || x.uri === aud);
        if (!r) throw new errors.InvalidTarget(`unknown audience ${aud}`);
        targets.add(r);
      }
      if (targets.size === 0) throw new errors.InvalidTarget('a resource or audience naming the target service is required');
      if (targets.size > 1) throw new errors.InvalidTarget('only one target service per exchange');
      const [target] = [...targets] as [AuthServerResource];

      let subject: JWTPayload;
      try {
        ({ payload: subject } = await jwtVerify(subjectToken, localJwks, { issuer, typ: 'at+jwt', algorithms: ['RS256'] }));
      } catch (e) {
        throw new errors.InvalidGrant(`subject_token is invalid: ${(e as Error).message}`);
      }
      if (typeof subject.sub !== 'string' || typeof subject.exp !== 'number') throw new errors.InvalidGrant('subject_token has no sub or exp');

      const offered = new Set(target.scopes);
      const scope = one('scope');
      const scopes = scope === undefined ? target.scopes : [...new Set(scope.split(' ').filter(Boolean))];
      const unsupported = scopes.filter((s) => !offered.has(s));
      if (unsupported.length) throw new errors.InvalidScope(`scope not available for ${target.uri}`, unsupported.join(' '));

      const client = ctx.oidc.client;
      const now = Math.floor(Date.now() / 1000);
      // Never outlive the token it was exchanged for.
      const expiresIn = Math.min(ACCESS_TOKEN_TTL_S, subject.exp - now);
      if (expiresIn <= 0) throw new errors.InvalidGrant('subject_token is expired');
      const { value, expiresIn: issuedFor } = await issueAccessToken({
        gty: TOKEN_EXCHANGE_GRANT,
        client,
        sub: subject.sub,
        resource: target,
        scope: scopes.join(' '),
        expiresIn,
        claims: {
          groups: Array.isArray(subject.groups) ? subject.groups : (users[subject.sub]?.groups ?? []),
          act: subject.act === undefined ? { sub: client.clientId } : { sub: client.clientId, act: subject.act },
        },
      });
      ctx.body = {
        access_token: value,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer',
        expires_in: issuedFor,
        scope: scopes.join(' ') || undefined,
      };
    },
    ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'resource', 'audience', 'scope'],
    ['resource', 'audience'],
  );

  /** An access token in oidc-provider's own format, with its own Grant record. */
  async function issueAccessToken(o: {
    gty: string;
    client: InstanceType<typeof provider.Client>;
    sub: string;
    resource: AuthServerResource;
    scope: string;
    expiresIn: number;
    claims: Record<string, unknown>;
  }): Promise<{ value: string; expiresIn: number }> {
    const grant = new provider.Grant({ accountId: o.sub, clientId: o.client.clientId });
    if (o.scope) grant.addResourceScope(o.resource.uri, o.scope);
    const grantId = await grant.save();
    const token = new provider.AccessToken({
      client: o.client,
      accountId: o.sub,
      grantId,
      gty: o.gty,
      scope: o.scope || undefined,
      resourceServer: new provider.ResourceServer(o.resource.uri, resourceServerInfo(o.resource)),
    });
    // exp set directly: a positive expiresIn would also do, but 0 and negative values (expired tokens) must work too.
    const now = Math.floor(Date.now() / 1000);
    token.iat = now;
    token.exp = now + o.expiresIn;
    extraClaims.set(token, o.claims);
    return { value: await token.save(), expiresIn: o.expiresIn };
  }

  // ---- request log ------------------------------------------------------------------------
  provider.use(async (ctx, next) => {
    await next();
    const oidc = (ctx as unknown as KoaContextWithOIDC).oidc as KoaContextWithOIDC['oidc'] | undefined;
    const entry: AuthServerRequest = { method: ctx.method, url: ctx.originalUrl, status: ctx.status };
    if (oidc?.route === 'token') {
      const gt = oidc.params?.grant_type;
      if (typeof gt === 'string') entry.grantType = gt;
      if (oidc.client) entry.clientId = oidc.client.clientId;
    }
    requests.push(entry);
  });

  // ---- the interaction, completed without a browser --------------------------------------
  async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const details = await provider.interactionDetails(req, res);
      const { prompt, params } = details;
      if (prompt.name === 'login') {
        await provider.interactionFinished(req, res, { login: { accountId: autoLogin.sub } }, { mergeWithLastSubmission: false });
      } else if (prompt.name === 'consent') {
        const accountId = details.session?.accountId;
        if (!accountId) throw new Error('consent without a logged-in session');
        const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ?? new provider.Grant({ accountId, clientId: String(params.client_id) });
        const d = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
        if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
        if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
        for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
        const grantId = await grant.save();
        await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      } else {
        throw new Error(`unexpected prompt "${prompt.name}"`);
      }
    } catch (e) {
      if (!res.headersSent) {
        res.statusCode = 400;
        res.setHeader('content-type', 'text/plain');
      }
      res.end(`interaction failed: ${(e as Error).message}`);
    }
  }

  const callback = provider.callback();
  handler = (req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      res.on('finish', () => requests.push({ method: req.method ?? 'GET', url: req.url ?? '', status: res.statusCode }));
      void interaction(req, res);
    } else {
      callback(req, res);
    }
  };

  const minter = await provider.Client.find(MINTER_CLIENT_ID);
  if (!minter) throw new Error('the internal test-minter client is missing');

  return {
    issuer,
    jwksUri: new URL('/jwks', issuer).href,
    tokenExchangeClient,
    autoLogin,
    requests,
    async mintAccessToken({ sub, resource, scope, groups, expiresInS = ACCESS_TOKEN_TTL_S }) {
      const r = resources.get(resource);
      if (!r) throw new Error(`mintAccessToken: unknown resource ${resource}; configured: ${[...resources.keys()].join(', ')}`);
      const { value } = await issueAccessToken({
        gty: 'test_mint',
        client: minter,
        sub,
        resource: r,
        scope,
        expiresIn: expiresInS,
        claims: { groups: groups ?? users[sub]?.groups ?? [] },
      });
      return value;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * oidc-provider's state (interactions, sessions, codes, grants, registered
 * clients) in a Map owned by one server, gone with it. (The built-in
 * development adapter would do the same but shares one module-global store
 * and prints a warning on every start.)
 */
function memoryAdapter(): (model: string) => Adapter {
  const store = new Map<string, { payload: AdapterPayload; expiresAt: number }>();
  const index = new Map<string, string>(); // "uid:<uid>" / "userCode:<code>" -> key
  const grants = new Map<string, Set<string>>(); // grantId -> keys
  const live = (key: string | undefined) => {
    if (key === undefined) return undefined;
    const e = store.get(key);
    if (e && e.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return e?.payload;
  };
  return (model) => {
    const key = (id: string) => `${model}:${id}`;
    return {
      async upsert(id, payload, expiresIn) {
        store.set(key(id), { payload, expiresAt: expiresIn === undefined ? Infinity : Date.now() + expiresIn * 1000 });
        if (model === 'Session' && typeof payload.uid === 'string') index.set(`uid:${payload.uid}`, key(id));
        if (typeof payload.userCode === 'string') index.set(`userCode:${payload.userCode}`, key(id));
        if (typeof payload.grantId === 'string') {
          const members = grants.get(payload.grantId) ?? new Set<string>();
          members.add(key(id));
          grants.set(payload.grantId, members);
        }
      },
      async find(id) {
        return live(key(id));
      },
      async findByUid(uid) {
        return live(index.get(`uid:${uid}`));
      },
      async findByUserCode(userCode) {
        return live(index.get(`userCode:${userCode}`));
      },
      async consume(id) {
        const p = live(key(id));
        if (p) p.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        store.delete(key(id));
      },
      async revokeByGrantId(grantId) {
        for (const k of grants.get(grantId) ?? []) store.delete(k);
        grants.delete(grantId);
      },
    };
  };
}

type JsonWebKeyLike = Parameters<typeof createLocalJWKSet>[0]['keys'][number];
