// The one interface every result scanner implements, built-in or external: given a
// string, where in it something sensitive is, and of which kind. Scanners never return
// the values: callers redact the spans and count the kinds.

export interface Detection {
  /** A short stable name ("jwt", "email", …): an audit count key and a metric label. */
  kind: string;
  /** UTF-16 offsets into the scanned string, end exclusive. */
  start: number;
  end: number;
}

export interface TextScanner {
  readonly name: string;
  /** Every kind it can report (bounds the metric label). */
  readonly kinds: readonly string[];
  scan(text: string): Detection[];
}

/** Rules as one alternation with one named group per kind: one pass over the text for all of them. */
export function regexScanner(name: string, rules: readonly { kind: string; pattern: string; accept?: (match: string) => boolean }[]): TextScanner {
  const source = rules.map((r, i) => `(?<k${i}>${r.pattern})`).join('|');
  const re = new RegExp(source, 'g');
  return {
    name,
    kinds: [...new Set(rules.map((r) => r.kind))],
    scan(text) {
      const out: Detection[] = [];
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        if (m[0] === '') {
          re.lastIndex++;
          continue;
        }
        const groups = m.groups!;
        for (let i = 0; i < rules.length; i++) {
          if (groups[`k${i}`] === undefined) continue;
          const rule = rules[i]!;
          if (!rule.accept || rule.accept(m[0])) out.push({ kind: rule.kind, start: m.index, end: m.index + m[0].length });
          break;
        }
      }
      return out;
    },
  };
}
