// Prompt-injection heuristics on results: the hidden-instruction patterns of definition
// scanning (src/integrity/scan-definitions.ts). A tool result quoting a web page or an
// e-mail can carry text addressed to the model; this only flags it (never redacts or
// blocks: the heuristics are too coarse to take a result away on).
import { INSTRUCTIONS } from '../integrity/scan-definitions.js';
import type { Detection, TextScanner } from './scanner.js';

export function injectionScanner(): TextScanner {
  return {
    name: 'prompt_injection',
    kinds: ['prompt_injection'],
    scan(text) {
      const out: Detection[] = [];
      for (const re of INSTRUCTIONS) {
        const m = re.exec(text);
        if (m) out.push({ kind: 'prompt_injection', start: m.index, end: m.index + m[0].length });
      }
      return out;
    },
  };
}
