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

/** A scanner reached asynchronously (an external guardrail): many strings per call, one list of detections per string. */
export interface AsyncTextScanner {
  readonly name: string;
  scanMany(texts: readonly string[]): Promise<Detection[][]>;
}

/** Rules as one alternation with one named group per kind: one pass over the text for all of them. */
export interface Rule {
  kind: string;
  pattern: string;
  /**
   * A check of the match (a checksum): the length of the part of it that is a detection
   * (the whole match, or a prefix of it: a greedy pattern may take a group too many), or
   * 0 when none is.
   */
  accept?: (match: string) => number;
}

export function regexScanner(name: string, rules: readonly Rule[]): TextScanner {
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
          const len = rule.accept ? rule.accept(m[0]) : m[0].length;
          if (len > 0) {
            out.push({ kind: rule.kind, start: m.index, end: m.index + len });
            re.lastIndex = m.index + len;
          } else re.lastIndex = m.index + 1; // Refused (a failed checksum): the rest is looked at again.
          break;
        }
      }
      return out;
    },
  };
}
