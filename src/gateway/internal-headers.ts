/**
 * Headers no caller may send: the gateway owns this prefix. Any incoming header with it
 * is stripped before the request goes upstream, and policies never see one.
 */
export const INTERNAL_HEADER_PREFIX = 'x-mcp-gateway-';
