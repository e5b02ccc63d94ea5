// Envoy's readiness as `up` sees it: its admin `/ready` (200 LIVE once initialised;
// 503 while initialising, draining or after POST /healthcheck/fail), polled, and its
// exit. Each change is reported once.
export interface EnvoyWatch {
  stop(): void;
}

export function watchEnvoy(adminUrl: string, exited: Promise<number | null>, report: (reason: string | undefined) => void, intervalMs: number): EnvoyWatch {
  let stopped = false;
  let last: string | undefined | null = null;
  const emit = (reason: string | undefined) => {
    if (stopped || reason === last) return;
    last = reason;
    report(reason);
  };
  const probe = async () => {
    try {
      const res = await fetch(`${adminUrl}/ready`, { signal: AbortSignal.timeout(Math.max(1000, intervalMs)) });
      const body = (await res.text()).trim();
      emit(res.ok ? undefined : `admin /ready answered ${res.status} ${body}`.trim());
    } catch (err) {
      emit(`admin /ready unreachable: ${(err as Error).message}`);
    }
  };
  const timer = setInterval(() => void probe(), intervalMs);
  timer.unref();
  void probe();
  void exited.then((code) => {
    clearInterval(timer);
    emit(`exited (code ${code ?? 'none: killed by a signal'})`);
    stopped = true;
  });
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
