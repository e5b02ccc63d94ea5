// Heuristics over a tool's, prompt's or resource template's definition (every string in
// it, keys included: a property name or an enum value reaches the model too) for what a
// poisoned definition looks like. They flag for review; they do not prove anything:
//
// - hidden_instructions: text addressed to the model rather than describing the tool
//   ("ignore previous instructions", "<IMPORTANT>", "do not tell the user", "before
//   using this tool, read …", secrets on disk such as ~/.ssh or .env);
// - invisible_unicode: format and control characters (zero-width, bidi embeddings and
//   isolates, tag characters, variation selectors) that hide text from a reviewer;
// - long_base64: a run of 80+ base64 characters (an encoded payload or instructions);
// - unknown_url_host: an http(s) URL whose host is not the upstream's nor in
//   allowed_url_hosts.
import type { GlobSet } from '../curation/glob.js';

export type ScanSignal = 'hidden_instructions' | 'invisible_unicode' | 'long_base64' | 'unknown_url_host';

export interface DefinitionSignal {
  signal: ScanSignal;
  /** Where in the definition: `description`, `inputSchema.properties.city.description`, … */
  at: string;
  /** What matched (short; invisible characters as U+XXXX). */
  detail: string;
}

/** Text addressed to a model (also what result scanning flags as prompt_injection). */
export const INSTRUCTIONS: readonly RegExp[] = [
  /\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:previous|prior|above|earlier|all|any|other)\b.{0,20}\b(?:instructions?|prompts?|rules|directions|messages)\b/i,
  /<\s*\/?\s*(?:important|system|instructions?|secret|hidden|admin)\b[^>]*>/i,
  /\b(?:do\s+not|don'?t|never)\s+(?:tell|inform|mention|reveal|show|notify|alert)\b.{0,20}\b(?:the\s+)?(?:user|human|operator)\b/i,
  /\b(?:before|after|when)\s+(?:using|calling|running|invoking)\s+(?:this|any|the|other)\b.{0,20}\btools?\b.{0,40}\b(?:read|send|call|pass|include|fetch|upload)\b/i,
  /\b(?:you\s+are\s+now|act\s+as|pretend\s+to\s+be|new\s+instructions|system\s+prompt)\b/i,
  /(?:~\/\.ssh|\bid_rsa\b|\bid_ed25519\b|\/etc\/passwd|\.aws\/credentials|(?:^|[\s/'"])\.env\b|\.npmrc|\.netrc)/i,
];
// Control and format characters other than tab, LF and CR; variation selectors; tag characters (in \p{Cf}).
const INVISIBLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\p{Cf}\u034f\u115f\u1160\u3164\uffa0\ufe00-\ufe0f\u{e0100}-\u{e01ef}]/u;
const BASE64 = /[A-Za-z0-9+/_-]{80,}={0,2}/;
const URLS = /\bhttps?:\/\/[^\s"'<>`)\]}]+/gi;

export interface ScanOptions {
  /** Hosts URLs may name (globs, case-insensitive); the upstream's own host is always allowed. */
  allowedHosts: GlobSet;
  upstreamHost: string;
}

/** Every signal in one definition (at most one per signal and place). */
export function scanDefinition(definition: unknown, opts: ScanOptions): DefinitionSignal[] {
  const out: DefinitionSignal[] = [];
  const visit = (v: unknown, at: string, depth: number): void => {
    if (depth > 32) return;
    if (typeof v === 'string') return scanString(v, at, opts, out);
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach((x, i) => visit(x, `${at}[${i}]`, depth + 1));
    for (const [k, x] of Object.entries(v)) {
      const path = at ? `${at}.${k}` : k;
      scanString(k, `${path} (key)`, opts, out);
      visit(x, path, depth + 1);
    }
  };
  visit(definition, '', 0);
  return out;
}

function scanString(s: string, at: string, opts: ScanOptions, out: DefinitionSignal[]): void {
  const inv = INVISIBLE.exec(s);
  if (inv) out.push({ signal: 'invisible_unicode', at, detail: `U+${inv[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}` });
  // Instructions are looked for with the invisible characters removed (they are used to split words).
  const visible = inv ? s.replace(new RegExp(INVISIBLE.source, 'gu'), '') : s;
  for (const re of INSTRUCTIONS) {
    const m = re.exec(visible);
    if (m) {
      out.push({ signal: 'hidden_instructions', at, detail: clip(m[0]) });
      break;
    }
  }
  const b = BASE64.exec(s);
  if (b && /[0-9]/.test(b[0]) && /[A-Z]/.test(b[0]) && /[a-z]/.test(b[0])) out.push({ signal: 'long_base64', at, detail: `${b[0].length} characters` });
  for (const m of s.matchAll(URLS)) {
    let host: string;
    try {
      host = new URL(m[0]).hostname.toLowerCase();
    } catch {
      continue;
    }
    if (host === opts.upstreamHost || opts.allowedHosts.test(host)) continue;
    out.push({ signal: 'unknown_url_host', at, detail: host });
    break;
  }
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
