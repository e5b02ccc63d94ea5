// Child process: the load generator, driven by the orchestrator over IPC so it
// never shares an event loop with anything it measures.
import { prepare, runPoint, smoke } from './loadgen.js';
import type { GenRequest, GenResponse } from './types.js';

async function handle(m: GenRequest): Promise<unknown> {
  switch (m.op) {
    case 'prepare':
      return prepare(m.target, m.poolSize);
    case 'run':
      return runPoint(m);
    case 'smoke':
      return smoke(m.target);
  }
}

process.on('message', (m: GenRequest) => {
  handle(m).then(
    (result) => process.send!({ id: m.id, ok: true, result } satisfies GenResponse),
    (err: unknown) => process.send!({ id: m.id, ok: false, error: (err as Error).stack ?? String(err) } satisfies GenResponse),
  );
});
process.on('disconnect', () => process.exit(0));
process.send!({ id: 0, ok: true, result: 'ready' } satisfies GenResponse);
