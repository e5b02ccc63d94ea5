// An external guardrail over HTTP: every string of the results in one body (or SSE event)
// in one POST, `{"texts": [...]}`, answered with `{"results": [[{kind, start, end}], ...]}`
// (one list per text, UTF-16 offsets). Its kinds are whatever it reports (bounded in
// metrics by `kinds` of the config). Used through ResultGuard.prefetch; a failure there
// fails closed.
import type { AsyncTextScanner, Detection } from './scanner.js';

export interface HttpScannerConfig {
  url: string;
  timeoutMs: number;
}

export function httpScanner(cfg: HttpScannerConfig): AsyncTextScanner {
  return {
    name: `external ${cfg.url}`,
    async scanMany(texts) {
      const res = await fetch(cfg.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts }), signal: AbortSignal.timeout(cfg.timeoutMs) });
      if (res.status !== 200) throw new Error(`the guardrail answered HTTP ${res.status}`);
      const body = (await res.json()) as { results?: unknown };
      const results = body.results;
      if (!Array.isArray(results) || results.length !== texts.length) throw new Error('the guardrail answered without one result list per text');
      return results.map((list, i) => {
        if (!Array.isArray(list)) throw new Error('a result is not a list');
        const len = texts[i]!.length;
        return list.map((d: unknown): Detection => {
          const x = d as Partial<Detection>;
          if (typeof x.kind !== 'string' || !/^[a-z0-9_]{1,40}$/.test(x.kind) || !Number.isInteger(x.start) || !Number.isInteger(x.end) || x.start! < 0 || x.end! > len || x.start! >= x.end!) throw new Error('a detection is malformed');
          return { kind: x.kind, start: x.start!, end: x.end! };
        });
      });
    },
  };
}
