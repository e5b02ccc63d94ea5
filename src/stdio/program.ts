// One running stdio MCP program: newline-delimited JSON-RPC on stdin/stdout (the MCP
// stdio transport), stderr lines to the log, and an orderly stop (close stdin, then
// SIGTERM, then SIGKILL, as the stdio transport's shutdown section describes).
// The program dies with the gateway: spawned through the same parent-death guard as Envoy.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { dieWithParent } from '../envoy/parent-death.js';
import type { Logger } from '../telemetry/log.js';
import type { StdioServerConfig } from './config.js';

export type JsonRpcMessage = Record<string, unknown>;

export interface ProgramExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why, in one line, for the error a caller gets (includes the last stderr line, if any). */
  reason: string;
  /** Stopped by the gateway (stop()), not a crash. */
  stopped: boolean;
}

/** What the bridge and the pool need of a process (a fake in unit tests). */
export interface Program {
  readonly pid: number | undefined;
  send(message: JsonRpcMessage): void;
  onMessage: ((message: JsonRpcMessage) => void) | undefined;
  readonly exited: Promise<ProgramExit>;
  stop(): Promise<void>;
}

/** The program cannot be started at all (not found, not executable). */
export class ProgramStartError extends Error {
  override name = 'ProgramStartError';
}

/** A line longer than this on stdout is not a message we will hold in memory. */
const MAX_LINE_BYTES = 64 * 1024 * 1024;
const STDERR_TAIL = 20;
const MAX_STDERR_LINE = 2000;
const STOP_GRACE_MS = 2000;

/** `command` resolved on the program's PATH (or against cwd when it names a path), as execvp would. */
export function resolveProgram(command: string, cwd: string, path: string | undefined): string {
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (command.includes('/')) {
    const p = isAbsolute(command) ? command : resolve(cwd, command);
    if (!executable(p)) throw new ProgramStartError(`cannot start "${command}": ${p} is not an executable file`);
    return p;
  }
  for (const dir of (path ?? '').split(delimiter).filter(Boolean)) {
    const p = join(isAbsolute(dir) ? dir : resolve(cwd, dir), command);
    if (executable(p)) return p;
  }
  throw new ProgramStartError(`cannot start "${command}": not found on PATH (${path ?? 'unset'})`);
}

/** Starts the program; throws ProgramStartError when it cannot be found. */
export function startProgram(server: string, cfg: StdioServerConfig, log: Logger): Program {
  const env = { ...getDefaultEnvironment(), ...cfg.env };
  const bin = resolveProgram(cfg.command[0]!, cfg.cwd, env.PATH);
  const guarded = dieWithParent(bin, cfg.command.slice(1));
  const child = spawn(guarded.command, guarded.args, { cwd: cfg.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  return new ChildProgram(server, child, log);
}

class ChildProgram implements Program {
  onMessage: ((message: JsonRpcMessage) => void) | undefined;
  readonly exited: Promise<ProgramExit>;
  private readonly stderrTail: string[] = [];
  private stopping = false;
  private spawnError: Error | undefined;

  constructor(
    private readonly server: string,
    private readonly child: ChildProcess,
    private readonly log: Logger,
  ) {
    this.exited = new Promise((done) => {
      child.once('error', (err) => {
        // Spawning itself failed (ENOENT of the guard, EACCES…): 'exit' may never come.
        this.spawnError = err;
        if (child.exitCode === null && child.signalCode === null && child.pid === undefined) done(this.exitOf(null, null));
      });
      child.once('exit', (code, signal) => done(this.exitOf(code, signal)));
    });
    void this.exited.then((e) => (e.stopped ? log.debug : log.warn).call(log, { server, pid: child.pid, code: e.code, signal: e.signal }, e.stopped ? 'stdio server stopped' : `stdio server exited: ${e.reason}`));
    child.stdin!.on('error', () => undefined); // EPIPE after the program exits: seen through 'exit'
    lines(child.stdout!, MAX_LINE_BYTES, (line) => this.onLine(line), () => {
      log.error({ server, pid: child.pid }, `stdio server wrote a line over ${MAX_LINE_BYTES} bytes to stdout; stopping it`);
      void this.stop();
    });
    lines(child.stderr!, MAX_LINE_BYTES, (line) => {
      const text = line.length > MAX_STDERR_LINE ? `${line.slice(0, MAX_STDERR_LINE)}…` : line;
      this.stderrTail.push(text);
      if (this.stderrTail.length > STDERR_TAIL) this.stderrTail.shift();
      log.info({ server, pid: child.pid, stderr: text }, 'stdio server stderr');
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  send(message: JsonRpcMessage): void {
    if (this.child.stdin!.writable) this.child.stdin!.write(`${JSON.stringify(message)}\n`);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
    c.stdin!.end();
    const gone = (ms: number) => Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => setTimeout(r, ms, false).unref())]);
    if (await gone(STOP_GRACE_MS)) return;
    c.kill('SIGTERM');
    if (await gone(STOP_GRACE_MS)) return;
    c.kill('SIGKILL');
    await this.exited;
  }

  private onLine(line: string): void {
    if (!line.trim()) return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.log.warn({ server: this.server, pid: this.child.pid, line: line.slice(0, MAX_STDERR_LINE) }, 'stdio server wrote a line that is not JSON to stdout; dropped');
      return;
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg) || (msg as JsonRpcMessage).jsonrpc !== '2.0') {
      this.log.warn({ server: this.server, pid: this.child.pid }, 'stdio server wrote something other than one JSON-RPC message; dropped');
      return;
    }
    this.onMessage?.(msg as JsonRpcMessage);
  }

  private exitOf(code: number | null, signal: NodeJS.Signals | null): ProgramExit {
    const last = this.stderrTail.at(-1);
    const how = this.spawnError ? `could not be spawned (${this.spawnError.message})` : code === 125 ? 'lost its parent before it started' : signal ? `was killed by ${signal}` : `exited with code ${code}`;
    return { code, signal, stopped: this.stopping, reason: `the stdio program ${how}${last ? `; its last stderr line: ${last}` : ''}` };
  }
}

/** Calls `onLine` for each newline-terminated line of `stream` (utf-8), `onOverflow` once when a line grows past `max` bytes. */
function lines(stream: NodeJS.ReadableStream, max: number, onLine: (line: string) => void, onOverflow?: () => void): void {
  let pending: Buffer[] = [];
  let size = 0;
  let overflowed = false;
  stream.on('data', (chunk: Buffer) => {
    if (overflowed) return;
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      pending.push(chunk.subarray(start, nl));
      onLine(Buffer.concat(pending).toString('utf8').replace(/\r$/, ''));
      pending = [];
      size = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start));
      size += chunk.length - start;
      if (size > max) {
        overflowed = true;
        pending = [];
        onOverflow?.();
      }
    }
  });
}
