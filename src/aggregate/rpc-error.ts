// A JSON-RPC error a handler of the aggregate throws: the SDK's server answers with its code,
// message and data as they are (an McpError's message would carry its "MCP error <code>: "
// prefix into the answer, and the client would add its own).
export class AggregateRpcError extends Error {
  override name = 'AggregateRpcError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}
