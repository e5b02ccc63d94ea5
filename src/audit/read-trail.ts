// Reads a JSON-lines audit trail as a stream (files of any size, one line in memory at a
// time): what the usage report and the policy replay both walk.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** Yielded for a line that is not JSON (a torn last line, another log's output). */
export const NOT_JSON: unique symbol = Symbol('not JSON');

/** Each non-blank line of the trail, parsed. */
export async function* readAuditLines(path: string): AsyncGenerator<unknown> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    try {
      yield JSON.parse(line);
    } catch {
      yield NOT_JSON;
    }
  }
}
