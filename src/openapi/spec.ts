// Reads an OpenAPI 3.0/3.1 document (YAML or JSON) with Swagger Parser: validated against
// the OpenAPI schema, every $ref (local and relative-file) resolved. References over
// HTTP are not followed: loading the config must not fetch from the network.
import SwaggerParser from '@apidevtools/swagger-parser';

export type OpenApiDocument = Record<string, unknown> & { openapi: string; paths?: Record<string, unknown> };

export class SpecError extends Error {
  override name = 'SpecError';
}

export async function loadSpec(file: string): Promise<OpenApiDocument> {
  let api: unknown;
  try {
    api = await SwaggerParser.validate(file, {
      resolve: { http: false },
      // A recursive schema cannot be written out as a tool's inputSchema without $refs.
      dereference: { circular: false },
    });
  } catch (err) {
    // The parser's message is a headline and one indented line per problem: the first few tell enough.
    const lines = (err as Error).message.split('\n').map((l) => l.trim()).filter(Boolean);
    throw new SpecError(`${file}: ${lines.slice(0, 4).join('; ')}${lines.length > 4 ? ` (and ${lines.length - 4} more)` : ''}`);
  }
  const version = (api as { openapi?: unknown }).openapi;
  if (typeof version !== 'string' || !/^3\.[01]\./.test(version)) throw new SpecError(`${file}: OpenAPI 3.0 or 3.1 expected (Swagger 2.0 is not supported; convert it first)`);
  return api as OpenApiDocument;
}
