// Envoy must not outlive the process that started it: an Envoy orphaned by a
// `kill -9` of `mcp-gateway up` keeps the ports (its listeners even use
// SO_REUSEPORT, so a second Envoy could share them) and fails closed forever
// without its sidecar.
//
// Mechanism: Linux's parent-death signal, set by util-linux `setpriv
// --pdeathsig KILL` (util-linux is Essential on Debian 12+ and in the usual base
// images). prctl(PR_SET_PDEATHSIG) survives execve and fires when the *thread*
// that forked the child exits. libuv forks in the thread that calls spawn(),
// and startEnvoy() is only called on Node's main thread, which lives exactly
// as long as the process (never call it from a worker_thread: Envoy would die
// with the worker).
//
// setpriv sets the flag after the fork, so a parent killed in between would
// leave Envoy running: a one-line sh guard closes that window by checking that
// its parent is still the pid that spawned it before exec'ing Envoy. Every
// step is an exec, so the spawned pid is Envoy's own pid (signals reach it
// directly).
//
// Without setpriv (macOS, minimal images) Envoy is spawned as before and the
// caller is told, so it can warn: a SIGKILLed parent then leaves Envoy behind.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export type ParentDeath = 'pdeathsig' | 'none';

export interface GuardedCommand {
  command: string;
  args: string[];
  /** How Envoy is tied to this process's life. */
  parentDeath: ParentDeath;
}

/** Exits (125) unless the parent is still the pid in $1; then becomes the command in $2…. */
const PARENT_GUARD = '[ "$PPID" = "$1" ] || exit 125; shift; exec "$@"';

let setprivPath: string | null | undefined;

/** `setpriv` if it exists and knows --pdeathsig (util-linux ≥ 2.33); checked once. */
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform !== 'linux' || !existsSync('/bin/sh')) return setprivPath;
  for (const candidate of ['setpriv', '/usr/bin/setpriv', '/bin/setpriv']) {
    const r = spawnSync(candidate, ['--help'], { encoding: 'utf8', timeout: 5000 });
    if (r.status === 0 && r.stdout.includes('--pdeathsig')) return (setprivPath = candidate);
  }
  return setprivPath;
}

/** The command line that runs `bin args…` so that it is SIGKILLed when this process dies. */
export function dieWithParent(bin: string, args: readonly string[]): GuardedCommand {
  const setpriv = findSetpriv();
  if (!setpriv) return { command: bin, args: [...args], parentDeath: 'none' };
  return {
    command: setpriv,
    args: ['--pdeathsig', 'KILL', '--', '/bin/sh', '-c', PARENT_GUARD, 'mcp-gateway-envoy', String(process.pid), bin, ...args],
    parentDeath: 'pdeathsig',
  };
}
