// An OpenAPI document's operations as MCP tools: one tool per operation, named from
// its operationId (or method and path), its parameters and JSON request body as the
// properties of one object inputSchema, its 2xx JSON response as the outputSchema.
// Everything that would make two tools ambiguous is refused here, at load.
import { compileGlobs } from '../curation/glob.js';
import { toJsonSchema } from './json-schema.js';
import type { OpenApiDocument } from './spec.js';

type Json = Record<string, unknown>;
export type ParamLocation = 'path' | 'query' | 'header';

export interface OperationParam {
  name: string;
  in: ParamLocation;
  required: boolean;
  /** Query arrays: repeated keys (`explode`, the default) or one comma-joined value. */
  explode: boolean;
}

export interface OperationTool {
  /** The MCP tool name. */
  name: string;
  operationId: string | undefined;
  method: string;
  /** The path template, e.g. `/pets/{petId}`. */
  path: string;
  tags: readonly string[];
  title: string | undefined;
  description: string | undefined;
  inputSchema: Json;
  outputSchema: Json | undefined;
  params: readonly OperationParam[];
  /** The request body, sent as JSON or as a form; undefined: none. */
  body: { encoding: 'json' | 'form'; contentType: string; required: boolean } | undefined;
  annotations: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean };
}

export interface Selection {
  include: { tags: readonly string[] | undefined; operations: readonly string[] | undefined };
  exclude: { tags: readonly string[]; operations: readonly string[] };
}

export class MappingError extends Error {
  override name = 'MappingError';
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
/** The argument that carries the request body. */
export const BODY_ARGUMENT = 'body';
/** MCP tool names: 1-128 of A-Z a-z 0-9 _ - . (the 2025-11-25 revision's rule). */
const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
// OpenAPI ignores header parameters named Accept, Content-Type or Authorization
// (3.0.3/3.1.0 §4.8.12.1); the others here are the HTTP framing's or credentials, which only the gateway sets.
const RESERVED_HEADERS = new Set(['accept', 'content-type', 'authorization', 'cookie', 'host', 'content-length', 'connection', 'transfer-encoding', 'te', 'upgrade', 'trailer', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'expect', 'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']);

/** MCP's tool-name alphabet: anything else becomes `_`, runs of `_` fold, at most 128 characters. */
export function sanitizeToolName(raw: string): string {
  return raw.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/_+/g, '_').replace(/^_+|_+$/g, '').slice(0, 128);
}

/** `get /pets/{petId}` → `get_pets_petId`. */
export function fallbackToolName(method: string, path: string): string {
  return sanitizeToolName(`${method}_${path.replace(/[{}]/g, '')}`);
}

/**
 * The tools of `doc`, in document order. `reservedHeaders`: header names the bridge sets
 * itself (the brokered credential's), never taken from a caller's arguments.
 */
export function operationsToTools(doc: OpenApiDocument, selection: Selection, reservedHeaders: readonly string[] = []): OperationTool[] {
  const legacy = doc.openapi.startsWith('3.0.');
  const reserved = new Set([...RESERVED_HEADERS, ...reservedHeaders.map((h) => h.toLowerCase())]);
  const includeOps = selection.include.operations && compileGlobs(selection.include.operations);
  const excludeOps = compileGlobs(selection.exclude.operations);
  const tools: OperationTool[] = [];
  const byName = new Map<string, string>();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    if (!item || typeof item !== 'object') continue;
    const pathItem = item as Json;
    for (const method of METHODS) {
      const op = pathItem[method] as Json | undefined;
      if (!op || typeof op !== 'object') continue;
      const where = `${method.toUpperCase()} ${path}`;
      const operationId = typeof op.operationId === 'string' ? op.operationId : undefined;
      const name = operationId !== undefined ? sanitizeToolName(operationId) : fallbackToolName(method, path);
      if (!TOOL_NAME.test(name)) throw new MappingError(`${where}: no usable tool name (operationId ${JSON.stringify(operationId)})`);
      const tags = Array.isArray(op.tags) ? op.tags.filter((t): t is string => typeof t === 'string') : [];
      const ids = [name, ...(operationId === undefined ? [] : [operationId])];
      const included =
        (selection.include.tags === undefined && includeOps === undefined) ||
        (selection.include.tags?.some((t) => tags.includes(t)) ?? false) ||
        (includeOps !== undefined && ids.some((id) => includeOps.test(id)));
      const excluded = selection.exclude.tags.some((t) => tags.includes(t)) || ids.some((id) => excludeOps.test(id));
      if (!included || excluded) continue;
      const other = byName.get(name);
      if (other !== undefined) throw new MappingError(`${where} and ${other} both become the tool "${name}": give them distinct operationIds, or exclude one`);
      byName.set(name, where);
      tools.push(toolOf(name, operationId, method, path, tags, op, pathItem, legacy, reserved, where));
    }
  }
  return tools;
}

function toolOf(name: string, operationId: string | undefined, method: string, path: string, tags: string[], op: Json, pathItem: Json, legacy: boolean, reserved: Set<string>, where: string): OperationTool {
  const properties: Record<string, Json> = {};
  const required: string[] = [];
  const params: OperationParam[] = [];
  for (const p of mergedParameters(pathItem.parameters, op.parameters)) {
    const loc = p.in;
    if (loc === 'cookie') continue; // cookies are credentials here: the bridge never sends a caller's
    if (loc !== 'path' && loc !== 'query' && loc !== 'header') continue;
    const pname = p.name as string;
    if (loc === 'header' && reserved.has(pname.toLowerCase())) continue;
    if (pname === BODY_ARGUMENT && op.requestBody !== undefined) throw new MappingError(`${where}: a parameter is named "${BODY_ARGUMENT}", the argument that carries the request body`);
    if (properties[pname] !== undefined) throw new MappingError(`${where}: two parameters are named "${pname}" (in ${params.find((x) => x.name === pname)?.in} and in ${loc}); the tool's arguments would be ambiguous`);
    const schema = toJsonSchema(parameterSchema(p), legacy);
    if (typeof p.description === 'string' && schema.description === undefined) schema.description = p.description;
    properties[pname] = schema;
    const isRequired = loc === 'path' || p.required === true;
    if (isRequired) required.push(pname);
    params.push({ name: pname, in: loc, required: isRequired, explode: p.explode !== false });
  }
  for (const m of path.matchAll(/\{([^}]+)\}/g)) {
    if (!params.some((p) => p.in === 'path' && p.name === m[1])) throw new MappingError(`${where}: the path names {${m[1]}} but no path parameter declares it`);
  }
  const body = bodyOf(op.requestBody, legacy);
  if (body === 'unsupported') throw new MappingError(`${where}: the request body is required and has no JSON or form media type; exclude this operation`);
  if (body) {
    properties[BODY_ARGUMENT] = body.schema;
    if (body.required) required.push(BODY_ARGUMENT);
  }
  const summary = typeof op.summary === 'string' ? op.summary : undefined;
  const detail = typeof op.description === 'string' ? op.description : undefined;
  const inputSchema: Json = { type: 'object', properties, ...(required.length && { required }), additionalProperties: false };
  return {
    name,
    operationId,
    method,
    path,
    tags,
    title: summary,
    description: [summary, detail].filter(Boolean).join('\n\n') || undefined,
    inputSchema,
    outputSchema: outputSchemaOf(op.responses, legacy),
    params,
    body: body && { encoding: body.encoding, contentType: body.contentType, required: body.required },
    annotations: method === 'get' || method === 'head' ? { readOnlyHint: true } : method === 'delete' ? { destructiveHint: true, idempotentHint: true } : method === 'put' ? { idempotentHint: true } : {},
  };
}

/** Path-item parameters, overridden by the operation's of the same name and location. */
function mergedParameters(shared: unknown, own: unknown): Json[] {
  const list = (v: unknown) => (Array.isArray(v) ? v.filter((p): p is Json => p !== null && typeof p === 'object' && typeof (p as Json).name === 'string') : []);
  const out = new Map<string, Json>();
  for (const p of [...list(shared), ...list(own)]) out.set(`${String(p.in)}:${String(p.name)}`, p);
  return [...out.values()];
}

function parameterSchema(p: Json): unknown {
  if (p.schema !== undefined) return p.schema;
  // `content` instead of `schema`: one media type, its schema.
  const content = p.content as Record<string, Json> | undefined;
  return content ? Object.values(content)[0]?.schema : undefined;
}

function isJson(mediaType: string): boolean {
  const m = mediaType.split(';')[0]!.trim().toLowerCase();
  return m === 'application/json' || m.endsWith('+json');
}

function bodyOf(rb: unknown, legacy: boolean): { schema: Json; encoding: 'json' | 'form'; contentType: string; required: boolean } | 'unsupported' | undefined {
  if (!rb || typeof rb !== 'object') return undefined;
  const r = rb as Json;
  const content = (r.content ?? {}) as Record<string, Json>;
  const required = r.required === true;
  const json = Object.keys(content).find(isJson);
  const form = Object.keys(content).find((m) => m.split(';')[0]!.trim().toLowerCase() === 'application/x-www-form-urlencoded');
  const chosen = json ?? form;
  if (chosen === undefined) return required ? 'unsupported' : undefined;
  const schema = toJsonSchema(content[chosen]?.schema, legacy);
  if (typeof r.description === 'string' && schema.description === undefined) schema.description = r.description;
  return { schema, encoding: json !== undefined ? 'json' : 'form', contentType: chosen.split(';')[0]!.trim(), required };
}

/** The first 2xx response's JSON schema, when it describes an object (MCP's outputSchema must). */
function outputSchemaOf(responses: unknown, legacy: boolean): Json | undefined {
  if (!responses || typeof responses !== 'object') return undefined;
  const codes = Object.keys(responses).filter((c) => /^2(\d\d|XX)$/i.test(c)).sort();
  for (const code of codes) {
    const content = ((responses as Record<string, Json>)[code]?.content ?? {}) as Record<string, Json>;
    const json = Object.keys(content).find(isJson);
    if (json === undefined) continue;
    const schema = toJsonSchema(content[json]?.schema, legacy);
    if (schema.type === 'object') return schema;
    // An allOf of objects (a common way to extend a schema) is an object too.
    const parts = schema.allOf;
    if (schema.type === undefined && Array.isArray(parts) && parts.length > 0 && parts.every((p) => (p as Json).type === 'object')) return { type: 'object', ...schema };
    return undefined;
  }
  return undefined;
}
