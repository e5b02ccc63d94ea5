// tools/call arguments checked against the inputSchema pinned in the lock, with Ajv:
// JSON Schema 2020-12 (MCP's default dialect), or draft-07 for a schema that says so.
// Compiled once per lock; a schema that cannot be compiled makes calls to its tool fail
// closed (the reason is given) rather than pass unchecked.
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

export type ArgumentCheck = { ok: true } | { ok: false; path: string; keyword: string; message: string };
export type ArgumentValidator = (args: unknown) => ArgumentCheck;

// strict: false: upstream schemas use keywords and formats of their own; unknown ones are
// ignored, as MCP clients ignore them. Formats are not checked (no format vocabulary).
const OPTIONS = { strict: false, allErrors: false, validateFormats: false } as const;

const DRAFT_07 = /^https?:\/\/json-schema\.org\/draft-07\/schema#?$/;
const DRAFT_2020 = /^https?:\/\/json-schema\.org\/draft\/2020-12\/schema#?$/;

export type ArgumentCompiler = (schema: unknown) => ArgumentValidator | { error: string };

/**
 * A compiler for one lock's schemas. Its Ajv instances (and their caches) live as long as
 * the lock does, so a reloaded lock does not add to the old one's.
 */
export function argumentCompiler(): ArgumentCompiler {
  let ajv2020: Ajv2020 | undefined;
  let ajv07: Ajv | undefined;
  return (schema) => compileWith(schema, () => (ajv2020 ??= new Ajv2020(OPTIONS)), () => (ajv07 ??= new Ajv(OPTIONS)));
}

/** A validator for one tool's inputSchema, or why there cannot be one. */
function compileWith(schema: unknown, a2020: () => Ajv2020, a07: () => Ajv): ArgumentValidator | { error: string } {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return { error: 'its inputSchema is not an object' };
  const dialect = (schema as Record<string, unknown>).$schema;
  let validate: ValidateFunction;
  try {
    if (dialect === undefined || (typeof dialect === 'string' && DRAFT_2020.test(dialect))) validate = a2020().compile(withoutId(schema));
    else if (typeof dialect === 'string' && DRAFT_07.test(dialect)) validate = a07().compile(withoutId(schema));
    else return { error: `its inputSchema's $schema ${JSON.stringify(dialect)} is not a dialect the gateway validates (2020-12, draft-07)` };
  } catch (err) {
    return { error: `its inputSchema does not compile: ${(err as Error).message}` };
  }
  return (args) => {
    if (validate(args)) return { ok: true };
    const e = validate.errors?.[0];
    return { ok: false, path: e?.instancePath || '/', keyword: e?.keyword ?? 'schema', message: describe(e) };
  };
}

function describe(e: ErrorObject | undefined): string {
  if (!e) return 'does not match the schema';
  const extra = e.keyword === 'additionalProperties' ? ` (${JSON.stringify((e.params as { additionalProperty?: string }).additionalProperty)})` : e.keyword === 'enum' ? ` (${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)})` : '';
  return `${e.message ?? 'is invalid'}${extra}`;
}

/**
 * Ajv keeps every compiled schema by its $id and refuses a second one with the same id;
 * two tools (or two locks, after a reload) may well share one. The id is dropped: a
 * pinned schema is self-contained (a remote $ref is not fetched and fails to compile).
 */
function withoutId(schema: object): object {
  if (!('$id' in schema)) return schema;
  const { $id: _, ...rest } = schema as Record<string, unknown>;
  return rest;
}
