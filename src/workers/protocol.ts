// What the primary tells a worker when it starts it.
export interface WorkerInit {
  /** 0…workers-1: which address it serves (addresses.ts). */
  index: number;
  /** The config, encoded (wire.ts). */
  config: string;
  /** The process session key (base64), the same in every worker: a session sealed by one opens in all. */
  sessionKey: string;
  /** Whether the primary serves /metrics: then the worker feeds its metrics. */
  metrics: boolean;
  readinessIntervalMs: number | undefined;
}
