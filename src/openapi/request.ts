// A tool call's arguments as the HTTP request the operation describes. Path parameters
// are percent-encoded as one segment each ("/", "?", "#", "%" included) and a value of
// "." or ".." is refused: URL parsers fold those (and "%2e%2e") into the parent path,
// which would let an argument leave its template segment.
import { BODY_ARGUMENT, type OperationTool } from './operations.js';

export interface ApiRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | undefined;
}

export class ArgumentError extends Error {
  override name = 'ArgumentError';
}

/** A path, query or header value as text: strings as they are, everything else as JSON. */
function text(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}

export function encodePathSegment(name: string, v: unknown): string {
  const s = text(v);
  if (s === '') throw new ArgumentError(`path parameter "${name}" is empty`);
  if (/^\.{1,2}$/.test(s)) throw new ArgumentError(`path parameter "${name}" may not be "${s}"`);
  return encodeURIComponent(s);
}

export function buildRequest(tool: OperationTool, args: Record<string, unknown>, baseUrl: URL): ApiRequest {
  let path = tool.path;
  const query = new URLSearchParams();
  const headers: Record<string, string> = {};
  for (const p of tool.params) {
    const v = args[p.name];
    if (v === undefined || v === null) {
      if (p.required) throw new ArgumentError(`missing required ${p.in} parameter "${p.name}"`);
      continue;
    }
    if (p.in === 'path') path = path.split(`{${p.name}}`).join(encodePathSegment(p.name, v));
    else if (p.in === 'query') {
      if (Array.isArray(v)) {
        if (p.explode) for (const x of v) query.append(p.name, text(x));
        else query.append(p.name, v.map(text).join(','));
      } else query.append(p.name, text(v));
    } else {
      const h = text(v);
      if (/[\r\n\0]/.test(h)) throw new ArgumentError(`header parameter "${p.name}" contains a line break`);
      headers[p.name.toLowerCase()] = h;
    }
  }
  let body: string | undefined;
  const b = args[BODY_ARGUMENT];
  if (tool.body && b !== undefined) {
    if (tool.body.encoding === 'json') body = JSON.stringify(b);
    else {
      if (b === null || typeof b !== 'object' || Array.isArray(b)) throw new ArgumentError(`"${BODY_ARGUMENT}" must be an object (sent as a form)`);
      body = new URLSearchParams(Object.entries(b as Record<string, unknown>).map(([k, x]) => [k, text(x)])).toString();
    }
    headers['content-type'] = tool.body.contentType;
  } else if (tool.body?.required) throw new ArgumentError(`missing the request body ("${BODY_ARGUMENT}")`);
  // The base URL's own path is a prefix; the operation's path is appended, never resolved against it.
  const url = new URL(baseUrl.href);
  url.pathname = `${baseUrl.pathname.replace(/\/+$/, '')}${path}`;
  url.search = query.toString();
  url.hash = '';
  headers.accept = 'application/json, */*;q=0.5';
  return { method: tool.method.toUpperCase(), url, headers, body };
}
