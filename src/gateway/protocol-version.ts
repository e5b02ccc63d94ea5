// Which protocol revision a request speaks, and the refusals that follow from it: an
// unsupported version (2026-07-28 UnsupportedProtocolVersionError, −32022, HTTP 400), an
// `MCP-Protocol-Version` header disagreeing with the `_meta` version (−32020), and a method
// the request's revision removed (−32601, HTTP 404). Pure functions of the header and the
// parsed message, so they are tested as tables (test/unit/protocol-version.test.ts).
import type { JsonRpcId, JsonRpcMessage } from '../mcp/jsonrpc.js';
import { JsonRpcErrorCode } from '../mcp/errors.js';
import {
  META_PROTOCOL_VERSION,
  STATELESS_PROTOCOL_VERSIONS,
  SUPPORTED_PROTOCOL_VERSIONS,
  isRemovedMethod,
  isSupportedProtocolVersion,
  metaProtocolVersion,
} from '../mcp/protocol.js';
import type { Refusal } from './refusal.js';

/** Longest requested version echoed back (in `message`; `data.requested` echoes it whole, as the spec says). */
const MAX_QUOTED = 64;

/**
 * The UnsupportedProtocolVersionError for `requested`: HTTP 400, −32022, `data: { supported,
 * requested }`. `supported` lists what the client can retry this same request with: the
 * stateless revisions for a request that carried a `_meta` version, every supported revision
 * otherwise (a 2025-era client renegotiates through `initialize`).
 */
export function unsupportedVersionRefusal(requested: string, rpcId: JsonRpcId | null, stateless: boolean): Refusal {
  const supported = stateless ? STATELESS_PROTOCOL_VERSIONS : SUPPORTED_PROTOCOL_VERSIONS;
  const shown = requested.length > MAX_QUOTED ? `${requested.slice(0, MAX_QUOTED)}…` : requested;
  return {
    reason: 'unsupported_protocol_version',
    httpStatus: 400,
    rpcCode: JsonRpcErrorCode.UnsupportedProtocolVersion,
    rpcId,
    message: `Unsupported protocol version ${JSON.stringify(shown)} (supported: ${supported.join(', ')})`,
    data: { supported: [...supported], requested },
  };
}

/**
 * Header phase, for requests without a JSON-RPC body (GET, DELETE, …): an unsupported
 * `MCP-Protocol-Version` is refused from the header alone (id null). POSTs are decided in the
 * body phase by {@link messageVersion}, where the request's id is known.
 */
export function headerVersionRefusal(headerVersion: string | undefined): Refusal | undefined {
  if (headerVersion === undefined || isSupportedProtocolVersion(headerVersion)) return undefined;
  return unsupportedVersionRefusal(headerVersion, null, false);
}

export type MessageVersion = { ok: true; version: string | undefined } | { ok: false; refusal: Refusal };

/**
 * Body phase: the revision the message speaks, from the `MCP-Protocol-Version` header and the
 * request's `_meta` version (2026-07-28 carries both and they must agree), or the refusal.
 * In order:
 * 1. a `_meta` version that is not a string: −32602 Invalid params (400);
 * 2. a `_meta` version with the header missing or different: −32020 HeaderMismatch (400);
 * 3. a version (header or `_meta`) the gateway does not support: −32022 (400), with the id.
 * Responses (the client answering a server request) carry no `_meta` version of their own:
 * only the header is checked for them.
 */
export function messageVersion(headerVersion: string | undefined, msg: JsonRpcMessage): MessageVersion {
  const rpcId = msg.kind === 'request' ? msg.id : null;
  const meta = msg.kind === 'response' ? undefined : metaProtocolVersion(msg.params);
  if (meta === null) {
    return refused({ reason: 'invalid_params', httpStatus: 400, rpcCode: JsonRpcErrorCode.InvalidParams, rpcId, message: `params._meta["${META_PROTOCOL_VERSION}"] must be a string` });
  }
  if (meta !== undefined && headerVersion !== meta) {
    const message =
      headerVersion === undefined
        ? `Missing MCP-Protocol-Version header (params._meta["${META_PROTOCOL_VERSION}"] is ${quote(meta)})`
        : `MCP-Protocol-Version header ${quote(headerVersion)} does not match params._meta["${META_PROTOCOL_VERSION}"] ${quote(meta)}`;
    return refused({ reason: 'header_mismatch', httpStatus: 400, rpcCode: JsonRpcErrorCode.HeaderMismatch, rpcId, message });
  }
  const version = meta ?? headerVersion;
  if (version !== undefined && !isSupportedProtocolVersion(version)) {
    return refused(unsupportedVersionRefusal(version, rpcId, meta !== undefined));
  }
  return { ok: true, version };
}

/**
 * A request for a method its revision removed (2026-07-28: initialize, ping, logging/setLevel,
 * resources/subscribe, resources/unsubscribe): 404 and −32601, before any parameter is looked
 * at, and never forwarded. Earlier revisions are unaffected.
 */
export function removedMethodRefusal(version: string | undefined, msg: JsonRpcMessage): Refusal | undefined {
  if (msg.kind !== 'request' || !isRemovedMethod(version, msg.method)) return undefined;
  return {
    reason: 'method_removed',
    httpStatus: 404,
    rpcCode: JsonRpcErrorCode.MethodNotFound,
    rpcId: msg.id,
    message: `Method not found: "${msg.method}" does not exist in protocol ${version}`,
  };
}

function refused(refusal: Refusal): MessageVersion {
  return { ok: false, refusal };
}

function quote(v: string): string {
  return JSON.stringify(v.length > MAX_QUOTED ? `${v.slice(0, MAX_QUOTED)}…` : v);
}
