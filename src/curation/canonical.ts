// The canonical form of a name, for matching names that a lenient peer might treat
// as equal: NFKC (full-width and other compatibility forms fold to their plain
// letters), invisible characters removed, surrounding white space trimmed. Curation
// deny rules and audit redaction both match on it.

// Control characters, format characters (soft hyphen, zero-width space/joiners, bidi
// marks, embeddings and isolates, word joiner, BOM, tag characters), the combining
// grapheme joiner, variation selectors and the Hangul fillers: none of them is visible.
export const INVISIBLE = /[\p{Cc}\p{Cf}\u034f\u115f\u1160\u3164\uffa0\ufe00-\ufe0f\u{e0100}-\u{e01ef}]/gu;

export function canonicalName(name: string): string {
  return name.normalize('NFKC').replace(INVISIBLE, '').trim();
}
