// Splits bytes at the given offsets (taken modulo length + 1, deduplicated, sorted), the
// way a network may deliver them: for tests that feed a stream in arbitrary chunks.
export function splitAt(b: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(b.subarray(prev, c));
    prev = c;
  }
  out.push(b.subarray(prev));
  return out;
}
