// Watches the config file for changes: the directory (an editor's rename, Kubernetes'
// ConfigMap symlink swap) and a content check every few seconds as a fallback. Calls
// back only when the bytes changed, after the writes have settled.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { basename, dirname } from 'node:path';

export interface ConfigWatcher {
  close(): void;
}

const SETTLE_MS = 300;
const POLL_MS = 5000;

export async function watchConfigFile(file: string, onChange: () => void): Promise<ConfigWatcher> {
  const digest = async () => createHash('sha256').update(await readFile(file).catch(() => Buffer.alloc(0))).digest('hex');
  let last = await digest();
  let timer: NodeJS.Timeout | undefined;
  const check = async () => {
    const now = await digest();
    if (now === last) return;
    last = now;
    onChange();
  };
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void check(), SETTLE_MS);
  };
  const name = basename(file);
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), (_event, changed) => {
      if (changed === null || changed === name || changed === '..data') soon();
    });
    watcher.on('error', () => undefined);
  } catch {
    // No inotify here: the poll alone.
  }
  const poll = setInterval(() => void check(), POLL_MS);
  poll.unref();
  return {
    close() {
      watcher?.close();
      clearInterval(poll);
      clearTimeout(timer);
    },
  };
}
