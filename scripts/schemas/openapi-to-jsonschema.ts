// A CRD's openAPIV3Schema as a JSON schema that kubeconform can check strictly, doing
// what kubeconform's openapi2jsonschema.py does: objects that list their properties
// accept no others (what the API server's pruning would silently drop is an error
// here), int-or-string becomes a oneOf, and nullable adds "null" to the type. Objects
// marked x-kubernetes-preserve-unknown-fields keep accepting anything.

type Schema = { [key: string]: unknown };

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

export function crdSchemaToJsonSchema(openApi: Schema): Schema {
  // The root is left open as the script does (apiVersion/kind/metadata are checked by their own rules).
  return convert(openApi, true);
}

function convert(node: Schema, root = false): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties' || key === 'patternProperties' || key === 'definitions') {
      out[key] = Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, isObject(v) ? convert(v) : v]));
    } else if (isObject(value)) {
      out[key] = convert(value);
    } else if (Array.isArray(value)) {
      out[key] = value.map((v) => (isObject(v) ? convert(v) : v));
    } else {
      out[key] = value;
    }
  }
  if (node['x-kubernetes-int-or-string'] === true || node.format === 'int-or-string') {
    // Keep the rest (description, pattern for strings, …) beside the alternatives.
    delete out.anyOf;
    delete out.type;
    delete out.format;
    out.oneOf = [{ type: 'string' }, { type: 'integer' }];
  }
  if (node.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  const open = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (!root && !open && isObject(node.properties) && !('additionalProperties' in node)) out.additionalProperties = false;
  return out;
}
