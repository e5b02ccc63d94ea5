// The sidecar's call to Envoy's global rate-limit service (envoyproxy/ratelimit):
// envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit, one call per request with
// one descriptor per counter, so the answer can become a proper JSON-RPC refusal.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoRoot } from '../extproc/proto.js';
import type { RateLimitServiceConfig } from '../config/types.js';
import { UNIT_MS, type LimitHit, type RateCounter } from './types.js';
import { msUntilReset } from './window.js';

/** The descriptor entry naming which configured limit a descriptor counts for. */
export const LIMIT_ENTRY = 'limit';
/** The descriptor entry of a policy-named limit (its rate travels as the descriptor's limit override). */
export const POLICY_ENTRY = 'policy';

interface Entry {
  key: string;
  value: string;
}
interface Descriptor {
  entries: Entry[];
  limit?: { requests_per_unit: number; unit: string };
}
interface DescriptorStatus {
  code?: string;
  duration_until_reset?: { seconds?: string; nanos?: number };
}
interface RateLimitResponse {
  overall_code?: string;
  statuses?: DescriptorStatus[];
}
type Client = grpc.Client & {
  ShouldRateLimit(req: { domain: string; descriptors: Descriptor[]; hits_addend: number }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: RateLimitResponse) => void): void;
};

let ctor: (new (address: string, creds: grpc.ChannelCredentials) => Client) | undefined;
function clientClass(): new (address: string, creds: grpc.ChannelCredentials) => Client {
  if (ctor) return ctor;
  const def = protoLoader.loadSync('envoy/service/ratelimit/v3/rls.proto', { includeDirs: [protoRoot()], keepCase: true, longs: String, enums: String, defaults: false });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { envoy: { service: { ratelimit: { v3: { RateLimitService: new (a: string, c: grpc.ChannelCredentials) => Client } } } } };
  return (ctor = pkg.envoy.service.ratelimit.v3.RateLimitService);
}

/**
 * A descriptor value as the service keys it: envoyproxy/ratelimit joins entries with "_"
 * into its Redis key, so "_" (and "%") are escaped: ("a_b", "c") and ("a", "b_c") stay apart.
 */
export function descriptorValue(v: string): string {
  return v.replace(/%/g, '%25').replace(/_/g, '%5F');
}

export function descriptorOf(c: RateCounter): Descriptor {
  if (c.source === 'policy') {
    return { entries: [{ key: POLICY_ENTRY, value: descriptorValue(c.values[0] ?? '') }], limit: { requests_per_unit: c.requestsPerUnit, unit: c.unit.toUpperCase() } };
  }
  const entries: Entry[] = [{ key: LIMIT_ENTRY, value: c.limit }];
  c.dimensions.forEach((d, i) => entries.push({ key: d, value: descriptorValue(c.values[i] ?? '') }));
  return { entries };
}

export class RateLimitServiceClient {
  private readonly client: Client;

  constructor(private readonly cfg: RateLimitServiceConfig, private readonly now: () => number = Date.now) {
    const Ctor = clientClass();
    const host = cfg.address.host.includes(':') ? `[${cfg.address.host}]` : cfg.address.host;
    this.client = new Ctor(`${host}:${cfg.address.port}`, grpc.credentials.createInsecure());
  }

  /** Counts the request against `counters`; rejects when the service does not answer in time. */
  take(counters: readonly RateCounter[]): Promise<{ hit: LimitHit | undefined; shadowed: LimitHit[] }> {
    const descriptors = counters.map(descriptorOf);
    return new Promise((resolve, reject) => {
      this.client.ShouldRateLimit({ domain: this.cfg.domain, descriptors, hits_addend: 1 }, { deadline: Date.now() + this.cfg.timeoutMs }, (err, res) => {
        if (err || !res) return reject(new Error(`rate-limit service ${this.cfg.address.host}:${this.cfg.address.port}: ${err?.details || err?.message || 'no answer'}`));
        if (res.overall_code !== 'OK' && res.overall_code !== 'OVER_LIMIT') return reject(new Error(`rate-limit service answered ${res.overall_code ?? 'UNKNOWN'} (is domain "${this.cfg.domain}" in its config?)`));
        const shadowed: LimitHit[] = [];
        let hit: LimitHit | undefined;
        const now = this.now();
        counters.forEach((c, i) => {
          const s = res.statuses?.[i];
          if (s?.code !== 'OVER_LIMIT') return;
          const reset = s.duration_until_reset;
          const ms = reset ? Number(reset.seconds ?? 0) * 1000 + Math.ceil((reset.nanos ?? 0) / 1e6) : msUntilReset(now, UNIT_MS[c.unit]);
          const h: LimitHit = { limit: c.limit, source: c.source, kind: 'rate', shadow: c.shadow, retryAfterMs: Math.max(1, ms) };
          if (c.shadow) shadowed.push(h);
          else hit ??= h;
        });
        resolve({ hit, shadowed });
      });
    });
  }

  close(): void {
    this.client.close();
  }
}
