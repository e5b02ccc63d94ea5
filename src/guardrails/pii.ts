// Personal data in tool results: e-mail addresses, card numbers (13–19 digits, spaces or
// dashes allowed, Luhn checksum), IBANs (ISO 13616 mod-97 checksum) and phone numbers
// (international +…, or 9–15 digits in groups). Names, postal addresses, national ids
// and numbers written without separators (other than +E.164) are not found.
import { regexScanner, type TextScanner } from './scanner.js';

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function ibanValid(candidate: string): boolean {
  const s = candidate.replace(/ /g, '');
  if (s.length < 15 || s.length > 34) return false;
  const moved = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const v = ch >= 'A' && ch <= 'Z' ? String(ch.charCodeAt(0) - 55) : ch;
    for (const d of v) rem = (rem * 10 + (d.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

const digitCount = (s: string) => s.replace(/\D/g, '').length;

/** The longest prefix of `m` ending before a separator (or at its end) that `valid` accepts; 0 if none. */
function longestValid(m: string, valid: (prefix: string) => boolean): number {
  for (let end = m.length; end > 0; end--) {
    if (end < m.length && !/[ -]/.test(m[end]!)) continue;
    if (valid(m.slice(0, end))) return end;
  }
  return 0;
}

const cardValid = (p: string) => {
  const d = p.replace(/\D/g, '');
  return d.length >= 13 && d.length <= 19 && luhnValid(d);
};

function localPhone(m: string): boolean {
  const groups = m.split(/[ .-]/);
  const n = digitCount(m);
  return n >= 9 && n <= 15 && (groups.at(-1)!.length === 4 || groups.length === 5);
}

export function piiScanner(): TextScanner {
  return regexScanner('pii', [
    { kind: 'email', pattern: "[A-Za-z0-9._%+'-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\\.[A-Za-z]{2,}" },
    // Printed in groups of four (the last shorter), or not grouped.
    { kind: 'iban', pattern: '\\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\\b', accept: (m) => longestValid(m, ibanValid) },
    // Not part of a longer number or a decimal ("1.4111…", "…1111.5").
    { kind: 'card_number', pattern: '(?<!\\d|\\d\\.)\\d(?:[ -]?\\d){12,18}(?!\\d|\\.\\d)', accept: (m) => longestValid(m, cardValid) },
    { kind: 'phone', pattern: '(?<![\\w+])\\+[1-9]\\d{0,2}(?:[ .-]?\\(?\\d{1,4}\\)?){2,5}(?![\\w])', accept: (m) => (digitCount(m) >= 8 && digitCount(m) <= 15 ? m.length : 0) },
    // Grouped local numbers ("(415) 555-2671", "06 12 34 56 78"), not "100 200 300": the last group has 4 digits, or there are 5 groups.
    { kind: 'phone', pattern: '(?<![\\w.+-]|\\d[ .-])\\(?\\d{2,4}\\)?(?:[ .-]\\d{2,4}){2,4}(?![\\w.-])', accept: (m) => (localPhone(m) ? m.length : 0) },
  ]);
}
