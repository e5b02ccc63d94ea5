// Hot reload of a policy bundle: watch the file (or directory), load a changed bundle
// completely off the request path, then swap one reference. A bundle that fails to
// load leaves the last good one in force, and onError says why.
//
// Change detection is fs.watch on the containing directory (an atomic rename replaces
// the file's inode, which a watch on the file itself would miss), debounced, plus a
// periodic stat of the bundle as a fallback for the filesystems and editors fs.watch
// misses. Loads are serialized: a change during a load triggers one more load after it.
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorText, loadPolicyBundle, PolicyLoadError, type PolicyBundle, type PolicyEngineOptions } from './engine.js';

export interface PolicyWatchOptions extends PolicyEngineOptions {
  /** Quiet time after the last change event before loading (default 100 ms). */
  debounceMs?: number;
  /** Fallback stat interval (default 2000 ms); 0 disables polling. */
  pollMs?: number;
}

export interface PolicyWatcher {
  /** The bundle in force. Cheap: one field read. */
  current(): PolicyBundle;
  /** Checks for a change now (as a poll tick would); resolves when any resulting load is done. */
  check(): Promise<void>;
  close(): void;
}

/**
 * Loads the bundle at `path` (failing if it cannot: there is nothing to fall back on
 * at start-up), calls onLoad with it, then watches for changes. onLoad is called for
 * every bundle put in force (a rebuilt bundle with the same revision is not swapped),
 * with `reload` false for the first; onError for every change that could not be loaded.
 */
export async function watchPolicyBundle(
  path: string,
  onLoad: (bundle: PolicyBundle, reload: boolean) => void,
  onError: (err: Error) => void,
  options: PolicyWatchOptions = {},
): Promise<PolicyWatcher> {
  const debounceMs = options.debounceMs ?? 100;
  const pollMs = options.pollMs ?? 2000;
  let lastSignature = await signature(path);
  let active = await loadPolicyBundle(path, options);
  let closed = false;
  let loading: Promise<void> | undefined;
  let again = false;
  let debounce: NodeJS.Timeout | undefined;

  const safely = (f: () => void) => {
    try {
      f();
    } catch {
      // A throwing callback must not stop the watcher.
    }
  };
  safely(() => onLoad(active, false));

  const attempt = async (): Promise<void> => {
    const sig = await signature(path);
    if (sig === lastSignature) return;
    let next: PolicyBundle;
    try {
      next = await loadPolicyBundle(path, options);
    } catch (e) {
      if (closed) return;
      // Remember the failed state: it is reported once, not on every poll.
      lastSignature = sig;
      const why = e instanceof PolicyLoadError ? e.message : `policy bundle ${path}: ${errorText(e)}`;
      safely(() => onError(new PolicyLoadError(`${why} (keeping revision ${active.revision})`)));
      return;
    }
    if (closed) return;
    lastSignature = sig;
    if (next.revision === active.revision) return;
    active = next;
    safely(() => onLoad(next, true));
  };

  const check = (): Promise<void> => {
    if (closed) return Promise.resolve();
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      try {
        do {
          again = false;
          await attempt();
        } while (again && !closed);
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  };

  const schedule = () => {
    if (closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => void check(), debounceMs);
    debounce.unref();
  };

  // A bundle file: watch its directory (any entry: with a Kubernetes ConfigMap the event is
  // for the "..data" symlink, not the file). A bundle directory: watch it. An unrelated
  // event costs one stat: the signature check finds nothing changed.
  const isDir = (await stat(path)).isDirectory();
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(isDir ? path : dirname(path), { persistent: false }, schedule);
    watcher.on('error', (e) => safely(() => onError(new PolicyLoadError(`policy bundle ${path}: watching stopped (${e.message}); polling continues`))));
  } catch (e) {
    safely(() => onError(new PolicyLoadError(`policy bundle ${path}: cannot watch (${errorText(e)}); relying on polling`)));
  }
  const poll = pollMs > 0 ? setInterval(() => void check(), pollMs) : undefined;
  poll?.unref();

  return {
    current: () => active,
    check,
    close() {
      closed = true;
      watcher?.close();
      clearTimeout(debounce);
      if (poll) clearInterval(poll);
    },
  };
}

/** What changes when the bundle is replaced: size, mtime and inode of each file that makes it up. */
async function signature(path: string): Promise<string> {
  const one = async (p: string) => {
    try {
      const s = await stat(p);
      return `${s.isDirectory() ? 'd' : 'f'}:${s.size}:${s.mtimeMs}:${s.ino}`;
    } catch {
      return '-';
    }
  };
  const top = await one(path);
  if (!top.startsWith('d:')) return top;
  const parts = await Promise.all(['policy.wasm', 'data.json', 'bundle.tar.gz'].map((f) => one(join(path, f))));
  return parts.join('|');
}
