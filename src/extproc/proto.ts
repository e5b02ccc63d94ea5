// Loads the ext_proc service definition once, from proto/ at the package root.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The proto/ folder at the package root (also read by src/limits for the rate-limit service). */
export function protoRoot(): string {
  // Works from src/ (tsx) and from dist/src/ (compiled).
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'proto', 'envoy'))) return join(dir, 'proto');
    dir = dirname(dir);
  }
  throw new Error('cannot find the proto/ folder of mcp-gateway');
}

let cached: grpc.ServiceDefinition | undefined;

export function externalProcessorService(): grpc.ServiceDefinition {
  if (cached) return cached;
  const def = protoLoader.loadSync('envoy/service/ext_proc/v3/external_processor.proto', {
    includeDirs: [protoRoot()],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    envoy: { service: { ext_proc: { v3: { ExternalProcessor: { service: grpc.ServiceDefinition } } } } };
  };
  cached = pkg.envoy.service.ext_proc.v3.ExternalProcessor.service;
  return cached;
}
