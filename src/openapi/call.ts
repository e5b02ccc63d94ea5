// One tool call: the HTTP request to the API and its answer as a tool result. The API's
// JSON answer is the text content (and structuredContent when the operation declares an
// object schema); a non-2xx answer is a tool error carrying the status. Redirects are not
// followed (a credential must not travel to wherever a Location points).
import { ArgumentError, buildRequest } from './request.js';
import type { OperationTool } from './operations.js';

export interface CallResult {
  content: { type: 'text'; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  [key: string]: unknown;
}

export interface CallOptions {
  baseUrl: URL;
  timeoutMs: number;
  maxResponseBytes: number;
  /** The credential headers to send (what the gateway brokered); nothing else of the caller's. */
  credentials: Readonly<Record<string, string>>;
}

function errorResult(text: string, status?: number): CallResult {
  return { content: [{ type: 'text', text }], isError: true, ...(status !== undefined && { _meta: { 'io.github.mcp-gateway/http-status': status } }) };
}

async function readLimited(res: Response, max: number): Promise<Buffer | undefined> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > max) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body ?? []) {
    size += (c as Uint8Array).byteLength;
    if (size > max) return undefined;
    chunks.push(Buffer.from(c as Uint8Array));
  }
  return Buffer.concat(chunks);
}

export async function callOperation(tool: OperationTool, args: Record<string, unknown>, opts: CallOptions): Promise<CallResult> {
  let req;
  try {
    req = buildRequest(tool, args, opts.baseUrl);
  } catch (err) {
    if (err instanceof ArgumentError) return errorResult(`invalid arguments: ${err.message}`);
    throw err;
  }
  let res: Response;
  try {
    res = await fetch(req.url, {
      method: req.method,
      headers: { ...req.headers, ...opts.credentials },
      ...(req.body !== undefined && { body: req.body }),
      redirect: 'manual',
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
  } catch (err) {
    const e = err as Error;
    return errorResult(e.name === 'TimeoutError' ? `the API did not answer within ${opts.timeoutMs} ms` : `the API could not be reached: ${e.message}`);
  }
  const raw = await readLimited(res, opts.maxResponseBytes).catch(() => undefined);
  if (raw === undefined) {
    await res.body?.cancel().catch(() => undefined);
    return errorResult(`the API's answer (HTTP ${res.status}) is larger than ${opts.maxResponseBytes} bytes or was cut off`, res.status);
  }
  const bodyText = raw.toString('utf8');
  const ok = res.status >= 200 && res.status < 300;
  if (!ok) return errorResult(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${bodyText ? `: ${bodyText}` : ''}`, res.status);
  const type = (res.headers.get('content-type') ?? '').toLowerCase();
  let parsed: unknown;
  if (/^application\/([\w.-]+\+)?json\b/.test(type) && bodyText !== '') {
    try {
      parsed = JSON.parse(bodyText);
    } catch {
      return errorResult(`the API answered HTTP ${res.status} with invalid JSON`, res.status);
    }
  }
  const result: CallResult = { content: [{ type: 'text', text: bodyText === '' ? `HTTP ${res.status}` : bodyText }] };
  if (tool.outputSchema && parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) result.structuredContent = parsed as Record<string, unknown>;
  else if (tool.outputSchema) return errorResult(`the API answered HTTP ${res.status} without the JSON object its spec declares`, res.status);
  return result;
}
