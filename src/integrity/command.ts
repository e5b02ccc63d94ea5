// `mcp-gateway tools lock | diff | approve`: the lockfile workflow. lock writes what the
// upstreams list now; diff shows what changed since (exit 1 when anything did); approve
// takes the upstream's current definition of the named items into the lock.
import { access } from 'node:fs/promises';
import type { GatewayConfig, ServerConfig } from '../config/types.js';
import { PINNED_LISTS } from './definition.js';
import { diffServer, formatChanges } from './diff.js';
import { fetchDefinitions } from './fetch.js';
import { fetchAllReplicas, formatDisagreements, versionOf } from './replicas.js';
import { emptyServerLock, readLockfile, writeLockfile, type Lockfile, type ServerLock } from './lockfile.js';
import { DefinitionScreen } from './screen.js';
import type { PinnedKind } from './definition.js';

const NOUN: Record<PinnedKind, string> = { tool: 'tool', prompt: 'prompt', resourceTemplate: 'resource template', resource: 'resource' };

/** The scanners' signals in these items, for the reviewer (scan-definitions.ts says what each means). */
function scanReport(s: ServerConfig, items: Iterable<[PinnedKind, string, Record<string, unknown>]>): string {
  const screen = new DefinitionScreen('flag', s.url.hostname, s.integrity.allowedUrlHosts);
  let out = '';
  for (const [kind, name, def] of items) {
    for (const sig of screen.scan(def)) out += `  ! ${NOUN[kind]} ${JSON.stringify(name)}: ${sig.signal} at ${sig.at}: ${JSON.stringify(sig.detail)}\n`;
  }
  return out;
}

function* itemsOf(lock: ServerLock): Generator<[PinnedKind, string, Record<string, unknown>]> {
  for (const l of PINNED_LISTS) for (const [name, e] of lock[l.kind]) yield [l.kind, name, e.definition];
}

export interface ToolsOptions {
  /** --output / --lockfile: one lockfile for every server, instead of the config's. */
  lockfile: string | undefined;
  /** --server: only these servers (default: all). */
  servers: readonly string[] | undefined;
  /** approve: the items to take into the lock. */
  names: readonly string[];
  out: (text: string) => void;
}

export class ToolsUsageError extends Error {}

/** Servers grouped by the lockfile they are pinned in. */
function byLockfile(config: GatewayConfig, o: ToolsOptions): Map<string, ServerConfig[]> {
  const wanted = o.servers?.length ? new Set(o.servers) : undefined;
  for (const n of wanted ?? []) if (!config.servers.some((s) => s.name === n)) throw new ToolsUsageError(`no server "${n}" in ${config.source}`);
  const groups = new Map<string, ServerConfig[]>();
  for (const s of config.servers) {
    if (wanted && !wanted.has(s.name)) continue;
    const file = o.lockfile ?? s.integrity.lockfile;
    if (file === undefined) throw new ToolsUsageError(`server "${s.name}" has no lockfile: set lockfile (top level or servers[].lockfile) in the config, or pass --output FILE`);
    groups.set(file, [...(groups.get(file) ?? []), s]);
  }
  return groups;
}

async function existing(file: string): Promise<Lockfile> {
  const there = await access(file).then(
    () => true,
    () => false,
  );
  return there ? readLockfile(file) : { servers: new Map() };
}

const count = (l: ServerLock) => PINNED_LISTS.map((k) => `${l[k.kind].size} ${k.resultKey}`).join(', ');

/** Exit status 1 when some server's replicas list different definitions (the lock is written all the same). */
export async function toolsLock(config: GatewayConfig, o: ToolsOptions): Promise<number> {
  let disagree = false;
  for (const [file, servers] of byLockfile(config, o)) {
    // Servers not locked this time keep their entries.
    const lock = await existing(file);
    for (const s of servers) {
      const all = await fetchAllReplicas(s);
      const live = all.first;
      lock.servers.set(s.name, live);
      const n = s.replicas.length;
      o.out(`${s.name}: locked ${count(live)} from ${s.url.href}${n > 1 ? ` (${n} replicas read)` : ''}\n`);
      if (all.disagreements.length) {
        disagree = true;
        o.out(formatDisagreements(s, all));
      }
      const signals = scanReport(s, itemsOf(live));
      if (signals) o.out(`${s.name}: review these before you commit the lock:\n${signals}`);
    }
    await writeLockfile(file, lock);
    o.out(`wrote ${file}\n`);
  }
  return disagree ? 1 : 0;
}

export async function toolsDiff(config: GatewayConfig, o: ToolsOptions): Promise<number> {
  let changed = false;
  for (const [file, servers] of byLockfile(config, o)) {
    const lock = await readLockfile(file);
    for (const s of servers) {
      const locked = lock.servers.get(s.name) ?? emptyServerLock();
      const changes = diffServer(locked, await fetchDefinitions(s));
      if (changes.length) changed = true;
      o.out(formatChanges(s.name, changes));
      // Every other replica (of every version) against the lock too, named when it differs.
      for (const url of s.replicas.slice(1)) {
        const theirs = diffServer(locked, await fetchDefinitions(s, url));
        if (!theirs.length) continue;
        changed = true;
        const v = versionOf(s, url);
        o.out(formatChanges(`${s.name} at ${url.href}${v === undefined ? '' : ` (version ${v})`}`, theirs));
      }
      const signals = scanReport(s, changes.filter((c) => c.after).map((c) => [c.kind, c.name, c.after!.definition] as [PinnedKind, string, Record<string, unknown>]));
      if (signals) o.out(`${s.name}: the new definitions have these signals:\n${signals}`);
    }
  }
  return changed ? 1 : 0;
}

export async function toolsApprove(config: GatewayConfig, o: ToolsOptions): Promise<number> {
  if (o.names.length === 0) throw new ToolsUsageError('tools approve needs the names of the tools, prompts or resource templates to approve');
  const pending = new Set(o.names);
  for (const [file, servers] of byLockfile(config, o)) {
    const lock = await readLockfile(file);
    let wrote = false;
    for (const s of servers) {
      const locked = lock.servers.get(s.name) ?? emptyServerLock();
      const changes = diffServer(locked, await fetchDefinitions(s)).filter((c) => o.names.includes(c.name));
      for (const c of changes) {
        if (c.change === 'removed') locked[c.kind].delete(c.name);
        else locked[c.kind].set(c.name, c.after!);
        pending.delete(c.name);
        o.out(`${s.name}: approved ${c.change} ${c.kind} ${JSON.stringify(c.name)}${c.fields.length ? ` (${c.fields.join(', ')})` : ''}\n`);
      }
      // A name that did not change is already approved.
      for (const n of o.names) if (PINNED_LISTS.some((l) => locked[l.kind].has(n)) && !changes.some((c) => c.name === n)) pending.delete(n);
      if (changes.length) {
        lock.servers.set(s.name, locked);
        wrote = true;
      }
    }
    if (wrote) {
      await writeLockfile(file, lock);
      o.out(`wrote ${file}\n`);
    }
  }
  if (pending.size) {
    o.out(`not found upstream or in the lock: ${[...pending].map((n) => JSON.stringify(n)).join(', ')}\n`);
    return 1;
  }
  return 0;
}
