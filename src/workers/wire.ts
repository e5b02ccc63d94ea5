// The config as it crosses to a worker process: JSON, with the URL objects it holds
// tagged (structured clone would turn a URL into an empty object).
import type { GatewayConfig } from '../config/types.js';

const URL_TAG = '$url';

export function encodeConfig(c: GatewayConfig): string {
  return JSON.stringify(c, function (this: Record<string, unknown>, key, value: unknown) {
    // `this[key]` is the value before URL#toJSON turned it into a string.
    const original = this[key];
    return original instanceof URL ? { [URL_TAG]: original.href } : value;
  });
}

export function decodeConfig(text: string): GatewayConfig {
  return JSON.parse(text, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const v = value as Record<string, unknown>;
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === URL_TAG && typeof v[URL_TAG] === 'string') return new URL(v[URL_TAG]);
    }
    return value;
  }) as GatewayConfig;
}
