// google.protobuf.Struct (as proto-loader decodes it) → plain JSON values.
import type { ProtoStruct, ProtoValue } from './messages.js';

export function structToJson(s: ProtoStruct | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) {
    Object.defineProperty(out, k, { value: valueToJson(v), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function valueToJson(v: ProtoValue): unknown {
  switch (v.kind) {
    case 'stringValue':
      return v.stringValue;
    case 'numberValue':
      return v.numberValue;
    case 'boolValue':
      return v.boolValue;
    case 'structValue':
      return structToJson(v.structValue);
    case 'listValue':
      return (v.listValue?.values ?? []).map(valueToJson);
    default:
      return null;
  }
}
