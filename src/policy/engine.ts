// Loads a compiled policy bundle (`opa build -t wasm`) and evaluates it in-process
// with @open-policy-agent/opa-wasm.
//
// Everything expensive happens once, in loadPolicyBundle: reading and unpacking the
// bundle, compiling and instantiating the WASM, checking entry points and builtins,
// loading data. A loaded PolicyBundle is immutable; evaluation reuses its one
// instance (the WASM heap is reset by every evaluation). Evaluation is synchronous
// and never throws: failures, timeouts and malformed results deny (fail closed).
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { createGatewayBuiltins, SDK_BUILTINS } from './builtins.js';
import { failedDecision, parseDecision, parseVisible, parseVisibleNames, type Decision } from './decision.js';
import type { ListItem, PolicyInput } from './input.js';
import { isGzip, readTarball, TarError } from './tar.js';

/** The entry points the gateway evaluates (`opa build -e …`). visible_names is optional. */
export const ENTRYPOINTS = {
  decision: 'mcp/authz/decision',
  visible: 'mcp/authz/visible',
  visibleNames: 'mcp/authz/visible_names',
} as const;

export interface PolicyEngineOptions {
  /**
   * Evaluation budget in ms (default 100, under Envoy's 200 ms ext_proc message_timeout).
   * WASM runs synchronously and cannot be interrupted in-process, so an evaluation
   * that overruns is denied when it returns and its result discarded.
   */
  timeoutMs?: number;
  /** Cap on the policy's WASM memory, in 64 KiB pages (default 1024 = 64 MiB); growth past it aborts the evaluation (deny). */
  maxMemoryPages?: number;
  /** Wall clock for time.now_ns(), ms since the epoch (default Date.now). */
  clockMs?: () => number;
  /**
   * Told about every failed or malformed `visible` / `visible_names` evaluation (those
   * answer with a plain "not visible"). decide() reports its failures in Decision.error.
   */
  onEvalError?: (entrypoint: string, message: string) => void;
  /** Told how long each decide() and visibleSet() took (for metrics); absent: nothing is timed. */
  observer?: PolicyObserver;
}

export interface PolicyObserver {
  /** `decision` outcomes: allow, deny, error (failed, fails closed); `visible` (a list or resource): ok, error. */
  evaluated(entrypoint: 'decision' | 'visible', outcome: 'allow' | 'deny' | 'error' | 'ok', seconds: number): void;
}

export const DEFAULT_TIMEOUT_MS = 100;
export const DEFAULT_MAX_MEMORY_PAGES = 1024;

export interface PolicyBundle {
  /** sha256 of the WASM module and data, first 12 hex digits. */
  readonly revision: string;
  /** Where it was loaded from, for messages. */
  readonly source: string;
  /** True when the bundle has the `visible_names` entry point (one evaluation per list). */
  readonly hasVisibleNames: boolean;
  /** Builtins the policy imports from the host (supplied by opa-wasm or src/policy/builtins.ts), sorted. */
  readonly hostBuiltins: readonly string[];
  /** The decision on one message. Never throws; fails closed. */
  decide(input: PolicyInput): Decision;
  /** May `input.list_item` be seen? Never throws; false on any failure. */
  visible(input: PolicyInput): boolean;
  /**
   * Names of `items` that may be seen, for one request's `input` (its list_item /
   * list_items are ignored). One evaluation of `visible_names` when the bundle has it,
   * otherwise one `visible` per item. Never throws; empty on failure (fail closed).
   */
  visibleSet(input: PolicyInput, items: readonly ListItem[]): Set<string>;
  /** Visibility evaluations that failed so far (a failed visibleSet() answers an empty set). */
  readonly visibilityFailures: number;
}

export class PolicyLoadError extends Error {
  override name = 'PolicyLoadError';
}

export interface BundleFiles {
  wasm: Uint8Array;
  /** data.json bytes; undefined means `{}`. */
  data: Uint8Array | undefined;
}

const encoder = new TextEncoder();

/**
 * Loads a bundle from `path`: the `bundle.tar.gz` that `opa build` writes, or a
 * directory holding `policy.wasm` (+ optional `data.json`) as extracted from one, or a
 * directory holding a `bundle.tar.gz`.
 */
export async function loadPolicyBundle(path: string, options: PolicyEngineOptions = {}): Promise<PolicyBundle> {
  const files = await readBundleFiles(path);
  return loadPolicyBundleFiles(files, path, options);
}

export async function readBundleFiles(path: string): Promise<BundleFiles> {
  const info = await stat(path).catch((e: NodeJS.ErrnoException) => {
    throw new PolicyLoadError(`policy bundle ${path}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`);
  });
  if (info.isDirectory()) {
    const wasm = await readOptional(join(path, 'policy.wasm'));
    if (wasm) return { wasm, data: await readOptional(join(path, 'data.json')) };
    const tarball = await readOptional(join(path, 'bundle.tar.gz'));
    if (tarball) return filesFromTarball(tarball, join(path, 'bundle.tar.gz'));
    throw new PolicyLoadError(`policy bundle ${path}: the directory holds neither policy.wasm nor bundle.tar.gz (build one with \`mcp-gateway policy build\`)`);
  }
  return filesFromTarball(await readFile(path), path);
}

async function readOptional(p: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PolicyLoadError(`policy bundle: cannot read ${p}: ${(e as Error).message}`);
  }
}

function filesFromTarball(bytes: Uint8Array, source: string): BundleFiles {
  let files;
  try {
    files = readTarball(bytes);
  } catch (e) {
    const why = e instanceof TarError ? e.message : String(e);
    throw new PolicyLoadError(`policy bundle ${source}: ${isGzip(bytes) ? '' : 'not a gzipped tarball; '}${why}`);
  }
  let modules = ['policy.wasm'];
  const manifest = files.get('.manifest');
  if (manifest) {
    let m: unknown;
    try {
      m = JSON.parse(new TextDecoder().decode(manifest));
    } catch (e) {
      throw new PolicyLoadError(`policy bundle ${source}: .manifest is not JSON: ${(e as Error).message}`);
    }
    const wasm = (m as { wasm?: unknown } | null)?.wasm;
    if (Array.isArray(wasm)) {
      const listed = new Set(wasm.map((w: unknown) => String((w as { module?: unknown } | null)?.module ?? '').replace(/^\/+/, '')));
      if (listed.size > 1) throw new PolicyLoadError(`policy bundle ${source}: holds ${listed.size} WASM modules (${[...listed].join(', ')}); the gateway evaluates one`);
      if (listed.size === 1) modules = [...listed];
    }
  }
  const wasm = files.get(modules[0]!);
  if (!wasm) {
    throw new PolicyLoadError(`policy bundle ${source}: no ${modules[0]} inside (was it built with \`opa build -t wasm\`?)`);
  }
  for (const p of files.keys()) {
    if (p !== 'data.json' && /(^|\/)data\.(json|ya?ml)$/.test(p)) {
      throw new PolicyLoadError(`policy bundle ${source}: nested data file ${p} is not supported (opa build merges data into /data.json)`);
    }
  }
  return { wasm, data: files.get('data.json') };
}

/** Loads a bundle from its files (already read). */
export async function loadPolicyBundleFiles(files: BundleFiles, source: string, options: PolicyEngineOptions = {}): Promise<PolicyBundle> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxPages = options.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES;
  if (!(timeoutMs > 0)) throw new PolicyLoadError(`policy timeoutMs must be > 0, got ${timeoutMs}`);
  if (!Number.isInteger(maxPages) || maxPages < 5) throw new PolicyLoadError(`policy maxMemoryPages must be an integer >= 5, got ${maxPages}`);
  const fail = (why: string) => new PolicyLoadError(`policy bundle ${source}: ${why}`);

  let module: WebAssembly.Module;
  try {
    // Bytes from readFile or gunzip: always backed by an ArrayBuffer, never a SharedArrayBuffer.
    module = await WebAssembly.compile(files.wasm as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw fail(`policy.wasm is not a valid WebAssembly module: ${errorText(e)}`);
  }
  let dataText = '{}';
  if (files.data) {
    try {
      dataText = new TextDecoder('utf-8', { fatal: true }).decode(files.data);
      const data: unknown = JSON.parse(dataText);
      if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new Error('the top level must be an object');
    } catch (e) {
      throw fail(`data.json is not a JSON object: ${errorText(e)}`);
    }
  }

  const builtins = createGatewayBuiltins(options.clockMs);
  let policy: LoadedPolicy;
  try {
    policy = await loadPolicy(module, { initial: 5, maximum: maxPages }, builtins.impls);
  } catch (e) {
    throw fail(`the WASM module could not be instantiated (not built by \`opa build -t wasm\`?): ${errorText(e)}`);
  }

  const hostBuiltins = requiredBuiltins(policy).sort();
  const missing = hostBuiltins.filter((b) => !SDK_BUILTINS.has(b) && !(b in builtins.impls));
  if (missing.length > 0) {
    throw fail(
      `the policy uses builtins the gateway cannot evaluate in WASM: ${missing.join(', ')}. ` +
        'Compute such facts in the gateway and pass them in the input, or use builtins OPA compiles into WASM.',
    );
  }
  const entries = policy.entrypoints as Record<string, number>;
  const decisionId = entries[ENTRYPOINTS.decision];
  const visibleId = entries[ENTRYPOINTS.visible];
  const namesId = entries[ENTRYPOINTS.visibleNames];
  for (const [name, id] of [[ENTRYPOINTS.decision, decisionId], [ENTRYPOINTS.visible, visibleId]] as const) {
    if (id === undefined) throw fail(`no entry point ${name} (has: ${Object.keys(entries).join(', ') || 'none'}); build with \`mcp-gateway policy build\``);
  }
  try {
    policy.setData(encoder.encode(dataText).buffer);
  } catch (e) {
    throw fail(`data.json could not be loaded into the policy: ${errorText(e)}`);
  }

  const hash = createHash('sha256');
  hash.update(`${files.wasm.length}:`).update(files.wasm).update(dataText);
  const revision = hash.digest('hex').slice(0, 12);
  const ids = { decision: decisionId!, visible: visibleId!, visibleNames: namesId };
  return new WasmPolicyBundle(policy, builtins.beginEvaluation, ids, revision, source, hostBuiltins, timeoutMs, options.onEvalError, options.observer);
}

class EvaluationError extends Error {}

const WASM_PAGE = 65536;
const decoder = new TextDecoder();

/** opa_eval(reserved, entrypoint, data, input, input_len, heap_ptr, format) → result address (ABI 1.2+). */
interface OpaEvalAbi {
  opa_eval(reserved: number, entrypoint: number, data: number, input: number, inputLen: number, heapPtr: number, format: number): number;
}

function evalAbiOf(policy: LoadedPolicy): OpaEvalAbi | undefined {
  const exports = (policy.wasmInstance as WebAssembly.Instance).exports as Partial<OpaEvalAbi>;
  return Number(policy.minorVersion) >= 2 && typeof exports.opa_eval === 'function' ? (exports as OpaEvalAbi) : undefined;
}

class WasmPolicyBundle implements PolicyBundle {
  readonly hasVisibleNames: boolean;
  private readonly abi: OpaEvalAbi | undefined;

  constructor(
    private readonly policy: LoadedPolicy,
    private readonly beginEvaluation: () => void,
    private readonly ids: { decision: number; visible: number; visibleNames: number | undefined },
    readonly revision: string,
    readonly source: string,
    readonly hostBuiltins: readonly string[],
    private readonly timeoutMs: number,
    private readonly onEvalError: ((entrypoint: string, message: string) => void) | undefined,
    private readonly observer: PolicyObserver | undefined,
  ) {
    this.hasVisibleNames = ids.visibleNames !== undefined;
    this.abi = evalAbiOf(policy);
  }

  decide(input: PolicyInput): Decision {
    const obs = this.observer;
    if (!obs) return this.decideOnce(input);
    const started = performance.now();
    const d = this.decideOnce(input);
    obs.evaluated('decision', d.error !== undefined ? 'error' : d.allowed ? 'allow' : 'deny', (performance.now() - started) / 1000);
    return d;
  }

  private decideOnce(input: PolicyInput): Decision {
    const json = serialize(input);
    if (json === undefined) return failedDecision('policy input could not be serialized to JSON');
    let rs: unknown;
    try {
      rs = this.run(this.ids.decision, json);
    } catch (e) {
      return failedDecision(`policy evaluation failed: ${errorText(e)}`);
    }
    return parseDecision(rs);
  }

  visible(input: PolicyInput): boolean {
    const json = serialize(input);
    return json === undefined ? this.report(ENTRYPOINTS.visible, 'policy input could not be serialized to JSON', false) : this.visibleJson(json);
  }

  visibleSet(input: PolicyInput, items: readonly ListItem[]): Set<string> {
    const obs = this.observer;
    if (!obs) return this.visibleSetOnce(input, items);
    const failures = this.failures;
    const started = performance.now();
    const names = this.visibleSetOnce(input, items);
    obs.evaluated('visible', this.failures === failures ? 'ok' : 'error', (performance.now() - started) / 1000);
    return names;
  }

  /** Failed visibility evaluations so far (report() counts them), for the observer's outcome. */
  private failures = 0;

  get visibilityFailures(): number {
    return this.failures;
  }

  private visibleSetOnce(input: PolicyInput, items: readonly ListItem[]): Set<string> {
    const names = new Set<string>();
    if (items.length === 0) return names;
    const { list_item: _one, list_items: _many, ...rest } = input;
    // The request's input is serialized once; each evaluation splices the list in front.
    const base = serialize(rest);
    if (base === undefined) return this.report(ENTRYPOINTS.visibleNames, 'policy input could not be serialized to JSON', names);
    const tail = base === '{}' ? '}' : `,${base.slice(1)}`;

    if (this.ids.visibleNames === undefined) {
      // One evaluation per item; the budget covers the whole list.
      const started = performance.now();
      for (const item of items) {
        const one = serialize(item);
        if (one === undefined) return this.report(ENTRYPOINTS.visible, 'a list item could not be serialized to JSON', new Set<string>());
        if (this.visibleJson(`{"list_item":${one}${tail}`)) names.add(item.name);
        if (performance.now() - started > this.timeoutMs) {
          return this.report(ENTRYPOINTS.visible, `timed out: filtering ${items.length} items took over the ${this.timeoutMs} ms budget`, new Set<string>());
        }
      }
      return names;
    }

    const itemsJson = serialize(items);
    if (itemsJson === undefined) return this.report(ENTRYPOINTS.visibleNames, 'policy input could not be serialized to JSON', names);
    let rs: unknown;
    try {
      rs = this.run(this.ids.visibleNames, `{"list_items":${itemsJson}${tail}`);
    } catch (e) {
      return this.report(ENTRYPOINTS.visibleNames, `policy evaluation failed: ${errorText(e)}`, names);
    }
    const parsed = parseVisibleNames(rs);
    if ('error' in parsed) return this.report(ENTRYPOINTS.visibleNames, parsed.error, names);
    // Only names from this list: whatever else the policy returns means nothing here.
    for (const item of items) if (parsed.names.has(item.name)) names.add(item.name);
    return names;
  }

  private visibleJson(json: string): boolean {
    let rs: unknown;
    try {
      rs = this.run(this.ids.visible, json);
    } catch (e) {
      return this.report(ENTRYPOINTS.visible, `policy evaluation failed: ${errorText(e)}`, false);
    }
    const v = parseVisible(rs);
    return v.error === undefined ? v.visible : this.report(ENTRYPOINTS.visible, v.error, false);
  }

  /** One evaluation; throws on failure or an overrun budget. */
  private run(entrypoint: number, json: string): unknown {
    this.beginEvaluation();
    const started = performance.now();
    const rs = this.abi ? this.evalAbi(this.abi, entrypoint, json) : this.policy.evaluate(encoder.encode(json).buffer, entrypoint);
    const elapsed = performance.now() - started;
    if (elapsed > this.timeoutMs) throw new EvaluationError(`timed out: evaluation took ${elapsed.toFixed(1)} ms, over the ${this.timeoutMs} ms budget`);
    return rs;
  }

  /**
   * OPA's WASM ABI 1.2 one-call evaluation (what LoadedPolicy.evaluate does), with the
   * JSON encoded straight into the WASM heap and the encoder, decoder and memory view
   * reused rather than created per call.
   */
  private evalAbi(abi: OpaEvalAbi, entrypoint: number, json: string): unknown {
    const mem = this.policy.mem;
    const inputAddr: number = this.policy.dataHeapPtr;
    const len = Buffer.byteLength(json, 'utf8');
    const missing = inputAddr + len - mem.buffer.byteLength;
    if (missing > 0) mem.grow(Math.ceil(missing / WASM_PAGE)); // past maxMemoryPages: RangeError, a denial
    encoder.encodeInto(json, this.heap().subarray(inputAddr, inputAddr + len));
    const resultAddr = abi.opa_eval(0, entrypoint, this.policy.dataAddr, inputAddr, len, inputAddr + len, 0);
    const heap = this.heap(); // evaluation may have grown the memory
    const end = heap.indexOf(0, resultAddr);
    return JSON.parse(decoder.decode(heap.subarray(resultAddr, end)));
  }

  private view: Uint8Array | undefined;

  private heap(): Uint8Array {
    const buffer = this.policy.mem.buffer;
    if (this.view?.buffer !== buffer) this.view = new Uint8Array(buffer); // a grown memory has a new buffer
    return this.view;
  }

  private report<T>(entrypoint: string, message: string, answer: T): T {
    this.failures++;
    try {
      this.onEvalError?.(entrypoint, message);
    } catch {
      // A reporting hook must not change the answer.
    }
    return answer;
  }
}

function serialize(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    return undefined; // BigInt, cycles
  }
}

/** opa-wasm throws Errors, strings (opa_abort) and `{ message }` objects. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  if (e !== null && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
  return String(e);
}

/** Builtins the module imports from its host (its `builtins()` export, an OPA WASM ABI function). */
function requiredBuiltins(policy: LoadedPolicy): string[] {
  const exports = (policy.wasmInstance as WebAssembly.Instance).exports as unknown as { builtins(): number; opa_json_dump(addr: number): number };
  const addr = exports.opa_json_dump(exports.builtins());
  const mem = new Uint8Array(policy.mem.buffer);
  let end = addr;
  while (mem[end] !== 0) end++;
  const map = JSON.parse(new TextDecoder().decode(mem.subarray(addr, end))) as Record<string, number>;
  return Object.keys(map);
}
