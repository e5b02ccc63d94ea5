// An OpenAPI Schema Object as plain JSON Schema, the dialect MCP tool schemas use.
// 3.1 schemas are JSON Schema 2020-12 already; 3.0 ones differ: `nullable: true` is
// a type union with "null", `example` is `examples`, and a few keywords are OpenAPI's
// own (discriminator, xml, externalDocs) and say nothing to a validator.
type Json = Record<string, unknown>;

const OPENAPI_ONLY = new Set(['discriminator', 'xml', 'externalDocs', 'nullable', 'example']);
const SUBSCHEMA_MAPS = ['properties', 'patternProperties', 'definitions', '$defs', 'dependentSchemas'];
const SUBSCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const SUBSCHEMA_ONE = ['items', 'additionalProperties', 'not', 'contains', 'if', 'then', 'else', 'propertyNames', 'unevaluatedProperties', 'unevaluatedItems'];

/** A copy of `schema` in JSON Schema; `legacy`: an OpenAPI 3.0 document. Never mutates (dereferenced schemas are shared). */
export function toJsonSchema(schema: unknown, legacy: boolean): Json {
  if (schema === true || schema === undefined) return {};
  if (schema === false) return { not: {} };
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return {};
  const s = schema as Json;
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith('x-')) continue;
    if (legacy && OPENAPI_ONLY.has(k)) continue;
    if (SUBSCHEMA_MAPS.includes(k) && v && typeof v === 'object') out[k] = Object.fromEntries(Object.entries(v as Json).map(([n, sub]) => [n, toJsonSchema(sub, legacy)]));
    else if (SUBSCHEMA_LISTS.includes(k) && Array.isArray(v)) out[k] = v.map((sub) => toJsonSchema(sub, legacy));
    else if (SUBSCHEMA_ONE.includes(k) && typeof v === 'object' && v !== null) out[k] = Array.isArray(v) ? v.map((sub) => toJsonSchema(sub, legacy)) : toJsonSchema(v, legacy);
    else out[k] = v;
  }
  if (legacy && s.example !== undefined && out.examples === undefined) out.examples = [s.example];
  if (legacy && s.nullable === true) return nullable(out);
  return out;
}

/** 3.0's `nullable: true`: null is allowed besides what the schema says. */
function nullable(s: Json): Json {
  if (typeof s.type === 'string') return { ...s, type: [s.type, 'null'], ...(Array.isArray(s.enum) && !s.enum.includes(null) && { enum: [...s.enum, null] }) };
  if (Array.isArray(s.type)) return s.type.includes('null') ? s : { ...s, type: [...s.type, 'null'] };
  // No type (e.g. only allOf/oneOf): null or the schema.
  return { anyOf: [{ type: 'null' }, s] };
}
