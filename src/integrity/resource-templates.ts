// Which pinned resource templates a URI matches (RFC 6570). Matched with the MCP SDK's own
// UriTemplate, the one SDK servers route resources/read with, so the gateway and such an
// upstream agree on what a URI is an instance of. Templates come from the reviewed lock
// and are parsed once; the URI is the caller's, already in canonical form
// (src/mcp/resource-uri.ts) and bounded by the request size.
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';

export interface TemplateMatcher {
  /** The templates `uri` is an instance of, in lock order. */
  matching(uri: string): Generator<string>;
  /** Templates that could not be parsed: they match nothing (fail closed). */
  readonly invalid: { template: string; error: string }[];
}

export function compileTemplates(templates: Iterable<string>): TemplateMatcher {
  const compiled: [string, UriTemplate][] = [];
  const invalid: { template: string; error: string }[] = [];
  for (const t of templates) {
    try {
      compiled.push([t, new UriTemplate(t)]);
    } catch (err) {
      invalid.push({ template: t, error: (err as Error).message });
    }
  }
  return {
    invalid,
    *matching(uri: string) {
      for (const [t, m] of compiled) {
        let hit: unknown;
        try {
          hit = m.match(uri);
        } catch {
          hit = null; // Over the SDK's length limits: not an instance.
        }
        if (hit !== null) yield t;
      }
    },
  };
}
