// JSON-RPC error codes used by the gateway, mirroring the JSON-RPC 2.0 and MCP specs.
export const JsonRpcErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Gateway-defined (server error range): no valid credentials. */
  Unauthorized: -32001,
  /** Gateway-defined (server error range): authenticated, but the policy denies. */
  Forbidden: -32003,
  /** Gateway-defined (server error range): over a rate limit, quota or concurrency cap (HTTP 429; data `{ limit, retry_after_ms }`). */
  RateLimited: -32029,
  /** MCP 2026-07-28: Mcp-* request headers missing or disagreeing with the body. */
  HeaderMismatch: -32020,
  /** MCP 2026-07-28: the request's protocol version is not one the server supports (HTTP 400; data `{ supported, requested }`). */
  UnsupportedProtocolVersion: -32022,
  /** MCP 2025-11-25: the request needs URL-mode elicitation first (data `{ elicitations: [{ mode: "url", elicitationId, url, message }] }`). */
  UrlElicitationRequired: -32042,
} as const;
export type JsonRpcErrorCode = (typeof JsonRpcErrorCode)[keyof typeof JsonRpcErrorCode];
