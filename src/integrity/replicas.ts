// `tools lock` reads every replica of a server, of every version (servers[].url lists,
// servers[].versions), not only the first: the lock is written from the first replica,
// and any replica that lists something else is reported, item by item. Replicas that
// disagree mean a rollout under way, a canary with other tools, or a replica that was
// tampered with; at run time, in enforce, what differs from the lock is hidden there.
import type { ServerConfig } from '../config/types.js';
import { diffServer, type ItemChange } from './diff.js';
import { fetchDefinitions } from './fetch.js';
import type { ServerLock } from './lockfile.js';
import type { PinnedKind } from './definition.js';

const NOUN: Record<PinnedKind, string> = { tool: 'tool', prompt: 'prompt', resourceTemplate: 'resource template', resource: 'resource' };

export interface ReplicaDisagreement {
  url: URL;
  version: string | undefined;
  /** What this replica lists against the first one's. */
  changes: ItemChange[];
}

export interface ReplicaDefinitions {
  /** The first replica's definitions (the ones locked). */
  first: ServerLock;
  firstUrl: URL;
  disagreements: ReplicaDisagreement[];
}

export const versionOf = (s: ServerConfig, url: URL): string | undefined => s.versions.find((v) => v.replicas.some((r) => r.href === url.href))?.name;

/** Every replica's definitions, compared with the first replica's. */
export async function fetchAllReplicas(s: ServerConfig, fetch: (s: ServerConfig, url: URL) => Promise<ServerLock> = fetchDefinitions): Promise<ReplicaDefinitions> {
  const urls = s.replicas.length ? s.replicas : [s.url];
  const first = await fetch(s, urls[0]!);
  const disagreements: ReplicaDisagreement[] = [];
  for (const url of urls.slice(1)) {
    const changes = diffServer(first, await fetch(s, url));
    if (changes.length) disagreements.push({ url, version: versionOf(s, url), changes });
  }
  return { first, firstUrl: urls[0]!, disagreements };
}

/** The report of replicas that list something other than the first one. */
export function formatDisagreements(s: ServerConfig, r: ReplicaDefinitions): string {
  if (!r.disagreements.length) return '';
  const label = (url: URL, v: string | undefined) => `${url.href}${v === undefined ? '' : ` (version ${v})`}`;
  let out = `${s.name}: replicas disagree; locked what ${label(r.firstUrl, versionOf(s, r.firstUrl))} lists:\n`;
  for (const d of r.disagreements) {
    out += `  ${label(d.url, d.version)}:\n`;
    for (const c of d.changes) {
      const what = `${NOUN[c.kind]} ${JSON.stringify(c.name)}`;
      out += c.change === 'added' ? `    + ${what}: listed only here\n` : c.change === 'removed' ? `    - ${what}: not listed here\n` : `    ~ ${what}: ${c.fields.join(', ')} changed\n`;
    }
  }
  return out;
}
