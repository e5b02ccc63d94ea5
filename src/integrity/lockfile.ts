// The lockfile: per virtual server, per tool, prompt and resource template, the digest
// of its pinned definition and the definition itself (for review). YAML, meant to be
// committed and reviewed like a package lock; many replicas read the same file (a
// ConfigMap), so nothing is shared at run time.
import { readFile, writeFile, rename } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { PINNED_LISTS, canonicalJson, digestOf, type PinnedKind } from './definition.js';

export const LOCKFILE_VERSION = 1;

export interface LockEntry {
  digest: string;
  definition: Record<string, unknown>;
}

/** One server's pinned items, by kind, by name (tools, prompts) or URI template. */
export type ServerLock = Record<PinnedKind, Map<string, LockEntry>>;

export interface Lockfile {
  servers: Map<string, ServerLock>;
}

export const emptyServerLock = (): ServerLock => ({ tool: new Map(), prompt: new Map(), resourceTemplate: new Map(), resource: new Map() });

const entry = z.object({ digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 hex digits>'), definition: z.record(z.string(), z.unknown()) }).strict();
const KIND_KEYS = new Set(['tools', 'prompts', 'resourceTemplates', 'resources']);

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export class LockfileError extends Error {
  override name = 'LockfileError';
}

/** Parses and checks a lockfile: every digest must be the digest of the definition beside it (a hand edit of one without the other is an error). */
export function parseLockfile(text: string, source: string): Lockfile {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new LockfileError(`${source}: not YAML: ${(err as Error).message}`);
  }
  // Walked by hand rather than with z.record, which drops a key named "__proto__" (a name an upstream may give a tool).
  const bad = (where: string, message: string) => new LockfileError(`${source}: ${where}: ${message}`);
  if (!isMap(raw)) throw bad('(top level)', 'expected a mapping');
  for (const k of Object.keys(raw)) if (k !== 'version' && k !== 'servers') throw bad(k, 'unknown key');
  if (raw.version !== LOCKFILE_VERSION) throw bad('version', `expected ${LOCKFILE_VERSION} (this gateway's lockfile version)`);
  if (!isMap(raw.servers)) throw bad('servers', 'expected a mapping of server names');
  const servers = new Map<string, ServerLock>();
  for (const name of Object.keys(raw.servers)) {
    const s = raw.servers[name];
    if (!isMap(s)) throw bad(`servers.${name}`, 'expected a mapping of tools, prompts, resourceTemplates, resources');
    for (const k of Object.keys(s)) if (!KIND_KEYS.has(k)) throw bad(`servers.${name}.${k}`, 'unknown key (expected tools, prompts, resourceTemplates or resources)');
    const lock = emptyServerLock();
    for (const list of PINNED_LISTS) {
      const items = s[list.resultKey];
      if (items === undefined || items === null) continue;
      if (!isMap(items)) throw bad(`servers.${name}.${list.resultKey}`, 'expected a mapping of names');
      for (const item of Object.keys(items)) {
        const r = entry.safeParse(items[item]);
        if (!r.success) throw bad(`servers.${name}.${list.resultKey}.${item}`, r.error.issues.map((i) => `${i.path.join('.') || 'entry'}: ${i.message}`).join('; '));
        const e = r.data;
        const actual = digestOf(e.definition);
        if (actual !== e.digest) throw new LockfileError(`${source}: servers.${name}.${list.resultKey}.${item}: the digest does not match the definition (edited by hand? run mcp-gateway tools approve)`);
        lock[list.kind].set(item, { digest: e.digest, definition: e.definition });
      }
    }
    servers.set(name, lock);
  }
  return { servers };
}

export async function readLockfile(file: string): Promise<Lockfile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new LockfileError(`cannot read the lockfile ${file}: ${(err as Error).message} (create it with mcp-gateway tools lock)`);
  }
  return parseLockfile(text, file);
}

const HEADER = `# mcp-gateway tool lockfile: the reviewed definitions of each server's tools, prompts and
# resource templates. Written by \`mcp-gateway tools lock\`, updated by \`tools approve\`; review
# changes to it like code. Each digest is sha256 of the RFC 8785 canonical JSON of its definition.
`;

/** The lockfile's text: servers, kinds and names in sorted order, definitions with sorted keys, so diffs are small. */
export function serializeLockfile(lock: Lockfile): string {
  const servers: Record<string, Record<string, Record<string, unknown>>> = Object.create(null);
  for (const name of [...lock.servers.keys()].sort()) {
    const s = lock.servers.get(name)!;
    const out: Record<string, Record<string, unknown>> = {};
    for (const list of PINNED_LISTS) {
      const m = s[list.kind];
      if (m.size === 0) continue;
      // A null prototype: an upstream may name a tool "__proto__".
      const kind: Record<string, unknown> = Object.create(null);
      for (const item of [...m.keys()].sort()) {
        const e = m.get(item)!;
        kind[item] = { digest: e.digest, definition: JSON.parse(canonicalJson(e.definition)) };
      }
      out[list.resultKey] = kind;
    }
    servers[name] = out;
  }
  return HEADER + stringify({ version: LOCKFILE_VERSION, servers }, { lineWidth: 0 });
}

/** Written to a temporary file and renamed: a reader never sees half a lockfile. */
export async function writeLockfile(file: string, lock: Lockfile): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, serializeLockfile(lock));
  await rename(tmp, file);
}

export function lockEntry(definition: Record<string, unknown>): LockEntry {
  return { digest: digestOf(definition), definition };
}
