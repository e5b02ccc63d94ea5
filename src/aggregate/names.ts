// Names and cursors of an aggregate: `<member><separator><name>` for tools and prompts, and
// one list cursor that carries every member's own (so pages of all members merge).
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { AggregateRpcError } from './rpc-error.js';

export interface Prefixed {
  member: string;
  name: string;
}

/** `<member><sep><name>`. */
export function prefixed(member: string, sep: string, name: string): string {
  return `${member}${sep}${name}`;
}

/**
 * The member and its own name, or undefined when the name starts with no member's prefix.
 * Member names never contain the separator (checked by the config), so the first one splits.
 */
export function splitName(full: string, sep: string, members: ReadonlySet<string>): Prefixed | undefined {
  const i = full.indexOf(sep);
  if (i <= 0) return undefined;
  const member = full.slice(0, i);
  const name = full.slice(i + sep.length);
  return members.has(member) && name !== '' ? { member, name } : undefined;
}

/** Which members still have pages, and each one's own cursor (undefined: its first page). */
export type MemberCursors = readonly (readonly [member: string, cursor: string | undefined])[];

const MAX_CURSOR_CHARS = 16 * 1024;

export function encodeCursor(pending: MemberCursors): string | undefined {
  if (pending.length === 0) return undefined;
  return Buffer.from(JSON.stringify({ v: 1, p: pending.map(([m, c]) => (c === undefined ? [m] : [m, c])) }), 'utf8').toString('base64url');
}

/** The members a cursor names (each known, once), or -32602. */
export function decodeCursor(cursor: string, members: ReadonlySet<string>): MemberCursors {
  const bad = () => new AggregateRpcError(ErrorCode.InvalidParams, 'Invalid cursor: not one this aggregate gave out');
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  const d = doc as { v?: unknown; p?: unknown };
  if (typeof doc !== 'object' || doc === null || d.v !== 1 || !Array.isArray(d.p) || d.p.length === 0) throw bad();
  const seen = new Set<string>();
  return d.p.map((e: unknown) => {
    if (!Array.isArray(e) || e.length < 1 || e.length > 2) throw bad();
    const [m, c] = e as unknown[];
    if (typeof m !== 'string' || !members.has(m) || seen.has(m)) throw bad();
    if (e.length === 2 && (typeof c !== 'string' || c === '')) throw bad();
    seen.add(m);
    return [m, c as string | undefined] as const;
  });
}
