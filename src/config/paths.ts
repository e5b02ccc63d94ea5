// Path-prefix matching as Envoy's path_separated_prefix does it, shared by the config
// checks and the sidecar so both agree on which requests a prefix covers.

/** `path` is `prefix` or below it (path segments: /api/x covers /api/x/y, not /api/xy). */
export function underPrefix(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix + '/');
}
