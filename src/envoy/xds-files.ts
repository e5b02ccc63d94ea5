// Envoy's configuration split for live reload: the listener, its filters and the
// gateway's own clusters stay in the bootstrap; the routes (RDS) and the upstream clusters
// (CDS) come from files Envoy watches. A reload rewrites those files atomically (write,
// then rename into the watched directory): new requests take the new routes, open streams
// carry on over the connections they have (Envoy drains replaced clusters' pools).
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';

type Json = Record<string, any>;

const ROUTE_TYPE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const CDS_FILE = 'cds.yaml';
export const RDS_FILE = 'rds.yaml';
/** What a reload can change: the clusters of servers and plain HTTP routes. */
const isDynamicCluster = (name: string) => name.startsWith('mcp_upstream_') || name.startsWith('http_route_');

export interface XdsLayout {
  /** The bootstrap, pointing at the files in the directory. */
  bootstrap: Json;
  clusters: Json[];
  routes: Json;
}

function fileSource(dir: string, file: string): Json {
  return { path_config_source: { path: join(dir, file), watched_directory: { path: dir } }, resource_api_version: 'V3' };
}

/** Splits a static bootstrap (envoyBootstrap) into the bootstrap for files in `dir` and the resources of those files. */
export function splitBootstrap(staticBootstrap: Json, dir: string): XdsLayout {
  const bootstrap = structuredClone(staticBootstrap);
  const sr = bootstrap.static_resources;
  const clusters = (sr.clusters as Json[]).filter((c) => isDynamicCluster(c.name));
  sr.clusters = (sr.clusters as Json[]).filter((c) => !isDynamicCluster(c.name));
  let routes: Json | undefined;
  for (const l of sr.listeners as Json[])
    for (const chain of l.filter_chains as Json[])
      for (const f of chain.filters as Json[]) {
        const hcm = f.typed_config;
        if (!hcm?.route_config) continue;
        if (routes) throw new Error('one route configuration expected');
        routes = hcm.route_config;
        delete hcm.route_config;
        hcm.rds = { route_config_name: routes!.name, config_source: fileSource(dir, RDS_FILE) };
      }
  if (!routes) throw new Error('no route configuration in the bootstrap');
  bootstrap.dynamic_resources = { cds_config: fileSource(dir, CDS_FILE) };
  return { bootstrap, clusters, routes };
}

/** The key path of the first difference between two JSON values (undefined: equal). */
export function firstDifference(a: unknown, b: unknown, path = ''): string | undefined {
  if (a === b) return undefined;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return path || '(top level)';
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const d = firstDifference((a as Json)[k], (b as Json)[k], Array.isArray(a) ? `${path}[${k}]` : path ? `${path}.${k}` : k);
    if (d !== undefined) return d;
  }
  return undefined;
}

async function writeAtomically(dir: string, file: string, text: string): Promise<void> {
  const tmp = join(dir, `.${file}.${process.pid}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, join(dir, file));
}

export function writeClusters(dir: string, clusters: readonly Json[], version: number): Promise<void> {
  return writeAtomically(dir, CDS_FILE, stringify({ version_info: String(version), resources: clusters.map((c) => ({ '@type': CLUSTER_TYPE, ...c })) }, { lineWidth: 0 }));
}

export function writeRoutes(dir: string, routes: Json, version: number): Promise<void> {
  return writeAtomically(dir, RDS_FILE, stringify({ version_info: String(version), resources: [{ '@type': ROUTE_TYPE, ...routes }] }, { lineWidth: 0 }));
}
