// The CRD schema conversion behind deploy/schemas/crds (scripts/vendor-schemas.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crdSchemaToJsonSchema } from '../../scripts/schemas/openapi-to-jsonschema.js';

const cases: Array<{ name: string; input: Record<string, unknown>; expected: Record<string, unknown> }> = [
  {
    name: 'objects with properties accept no others; the root stays open',
    input: { type: 'object', properties: { spec: { type: 'object', properties: { a: { type: 'string' } } } } },
    expected: { type: 'object', properties: { spec: { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false } } },
  },
  {
    name: 'an explicit additionalProperties is kept',
    input: { properties: { labels: { type: 'object', properties: {}, additionalProperties: { type: 'string' } } } },
    expected: { properties: { labels: { type: 'object', properties: {}, additionalProperties: { type: 'string' } } } },
  },
  {
    name: 'x-kubernetes-preserve-unknown-fields keeps an object open',
    input: { properties: { config: { type: 'object', properties: { known: { type: 'string' } }, 'x-kubernetes-preserve-unknown-fields': true } } },
    expected: { properties: { config: { type: 'object', properties: { known: { type: 'string' } }, 'x-kubernetes-preserve-unknown-fields': true } } },
  },
  {
    name: 'int-or-string becomes a oneOf of the two',
    input: { properties: { port: { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true, description: 'd' } } },
    expected: { properties: { port: { oneOf: [{ type: 'string' }, { type: 'integer' }], 'x-kubernetes-int-or-string': true, description: 'd' } } },
  },
  {
    name: 'nullable adds null to the type',
    input: { properties: { n: { type: 'integer', nullable: true } } },
    expected: { properties: { n: { type: ['integer', 'null'], nullable: true } } },
  },
  {
    name: 'items of arrays are converted too',
    input: { properties: { list: { type: 'array', items: { type: 'object', properties: { x: { type: 'string' } } } } } },
    expected: { properties: { list: { type: 'array', items: { type: 'object', properties: { x: { type: 'string' } }, additionalProperties: false } } } },
  },
];

for (const c of cases) {
  test(`openapi → JSON schema: ${c.name}`, () => assert.deepEqual(crdSchemaToJsonSchema(c.input), c.expected));
}
