// Compiles name globs once, at config load, into one anchored RegExp.
// `*` matches any run of characters (including "/", so URI globs read naturally),
// `?` matches one character; everything else is literal.

export interface GlobSet {
  test(value: string): boolean;
  readonly patterns: readonly string[];
}

const NOTHING: GlobSet = { test: () => false, patterns: [] };

export function compileGlobs(patterns: readonly string[], opts: { caseInsensitive?: boolean } = {}): GlobSet {
  if (patterns.length === 0) return NOTHING;
  if (patterns.includes('*')) return { test: () => true, patterns };
  const body = patterns.map(globToRegExpSource).join('|');
  const re = new RegExp(`^(?:${body})$`, opts.caseInsensitive ? 'iu' : 'u');
  return { test: (v) => re.test(v), patterns };
}

function globToRegExpSource(glob: string): string {
  let out = '';
  for (const ch of glob) {
    if (ch === '*') out += '[\\s\\S]*';
    else if (ch === '?') out += '[\\s\\S]';
    else out += ch.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return out;
}
