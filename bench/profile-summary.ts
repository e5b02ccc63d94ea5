// Summarizes a V8 .cpuprofile (node --cpu-prof): where the CPU went, by self
// time per function, by area (src/<folder>, node_modules/<package>, node
// internals, GC), and the inclusive time of the project's own functions.
//
//   node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top 30]
//
// `npm run bench -- --profile` writes the profiles and these summaries.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { projectRoot } from '../src/envoy/binary.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const ROOT_URL = `file://${projectRoot()}/`;

/** Project-relative; the benchmark's compiled copy (bench/.build/src/x.js) is shown as src/x.js. */
function relative(url: string): string {
  const rel = url.startsWith(ROOT_URL) ? url.slice(ROOT_URL.length) : url.replace(/^file:\/\//, '');
  return rel.replace(/^(bench\/\.build|dist)\/src\//, 'src/');
}

function where(cf: CallFrame): string {
  const url = relative(cf.url);
  return url ? `${url.replace(/^.*node_modules\//, '')}:${cf.lineNumber + 1}` : '';
}

/** src/<folder>, node_modules/<package>, node:<internal>, or a V8 pseudo-frame. */
function area(cf: CallFrame): string {
  const url = cf.url;
  if (!url) return cf.functionName.startsWith('(') ? cf.functionName : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `node_modules/${nm[1]}`;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const rel = relative(url);
  const m = /^src\/([^/]+)/.exec(rel);
  if (m) return /\.[cm]?[jt]s$/.test(m[1]!) ? `src/${m[1]}` : `src/${m[1]}/`;
  return rel.split('/').slice(0, 2).join('/');
}

const name = (cf: CallFrame) => cf.functionName || '(anonymous)';

/**
 * What a sample was spent on, by the deepest frame on its stack that belongs to a
 * concern: HMAC inside src/sessions counts as session binding, protobuf encoding called
 * from src/extproc as gRPC. A heuristic keyed on folder and package names.
 */
const CONCERNS: [RegExp, string][] = [
  [/\/src\/sessions\//, 'sessions: binding ids (HMAC)'],
  [/node_modules\/jose\//, 'identity: JWT verification (jose)'],
  [/\/src\/identity\//, 'identity (src/identity)'],
  [/\/src\/audit\/|node_modules\/pino\/|node_modules\/sonic-boom\//, 'audit trail (src/audit, pino)'],
  [/\/src\/policy\/|^wasm:/, 'policy: input and WASM evaluation'],
  [/\/src\/curation\/|\/src\/gateway\/response-filter/, 'list parsing and filtering'],
  [/\/src\/mcp\//, 'MCP parsing (src/mcp)'],
  [/\/src\/gateway\//, 'gateway decisions (src/gateway)'],
  [/node_modules\/@grpc\/|node_modules\/protobufjs\/|node_modules\/@protobufjs\/|^node:internal\/http2\//, 'gRPC, HTTP/2, protobuf'],
  [/\/src\/extproc\//, 'ext_proc adapter (src/extproc)'],
];
const ERROR_FRAMES = new Set(['NodeError', 'defaultPrepareStackTrace', 'ErrorPrepareStackTrace', 'prepareStackTraceCallback', 'captureLargerStackTrace']);

function concernOf(stack: CallFrame[]): string {
  const leaf = stack[0]!;
  if (leaf.functionName === '(garbage collector)') return 'garbage collection';
  if (leaf.functionName === '(program)') return '(program): V8 and native code outside JS frames';
  if (ERROR_FRAMES.has(leaf.functionName) || stack.slice(0, 4).some((f) => ERROR_FRAMES.has(f.functionName))) {
    if (stack.some((f) => f.url.startsWith('node:internal/http2') && (f.functionName === '_destroy' || f.functionName === 'onStreamClose'))) {
      return 'HTTP/2 stream reset by the peer: Error object and stack trace';
    }
    return 'building Error objects and stack traces';
  }
  for (const f of stack) for (const [re, label] of CONCERNS) if (re.test(f.url)) return label;
  return 'other (node internals, event loop)';
}

export interface SummaryOptions {
  top?: number;
  /** Only samples taken at or after this time (µs, the profile's monotonic clock). */
  sinceUs?: number;
  title?: string;
}

export function summarizeProfile(profile: CpuProfile, o: SummaryOptions = {}): string {
  const top = o.top ?? 30;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Each sample's duration: the delta to the next sample (the last one gets the mean).
  const t: number[] = [];
  let clock = profile.startTime;
  for (const d of profile.timeDeltas) t.push((clock += d));
  const dur = (i: number) => (i + 1 < t.length ? t[i + 1]! - t[i]! : (profile.endTime - profile.startTime) / Math.max(1, t.length));
  let from = 0;
  let windowNote = 'the whole profile';
  if (o.sinceUs !== undefined) {
    const i = t.findIndex((x) => x >= o.sinceUs!);
    if (i > 0 && i < t.length - 10) {
      from = i;
      windowNote = `the last ${((t[t.length - 1]! - t[i]!) / 1e6).toFixed(1)} s (start-up and warm-up left out)`;
    }
  }
  const self = new Map<string, { us: number; cf: CallFrame }>();
  const areas = new Map<string, number>();
  const inclusive = new Map<string, { us: number; cf: CallFrame }>();
  const concerns = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = from; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    const us = dur(i);
    const cf = node.callFrame;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const key = `${name(cf)}\u0000${where(cf)}`;
    const s = self.get(key) ?? { us: 0, cf };
    s.us += us;
    self.set(key, s);
    areas.set(area(cf), (areas.get(area(cf)) ?? 0) + us);
    const stack: CallFrame[] = [];
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) stack.push(byId.get(id)!.callFrame);
    const c = concernOf(stack);
    concerns.set(c, (concerns.get(c) ?? 0) + us);
    // Inclusive: each distinct project function on the stack, once.
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (!area(f).startsWith('src/')) continue;
      const k = `${name(f)}\u0000${where(f)}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const e = inclusive.get(k) ?? { us: 0, cf: f };
      e.us += us;
      inclusive.set(k, e);
    }
  }
  const pct = (us: number) => `${((100 * us) / Math.max(1, total)).toFixed(1)} %`;
  const msOf = (us: number) => (us / 1000).toFixed(0);
  const lines = [
    `### ${o.title ?? 'CPU profile'}`,
    '',
    `On-CPU time ${msOf(total)} ms (idle ${msOf(idle)} ms) over ${windowNote}.`,
    '',
    'By concern (each sample counted once, under the deepest frame on its stack that belongs to a concern):',
    '',
    '| concern | share of on-CPU time |',
    '| --- | ---: |',
    ...[...concerns]
      .sort((a, b) => b[1] - a[1])
      .map(([c, us]) => `| ${c} | ${pct(us)} |`),
    '',
    'Top functions by self time (the function itself, not what it calls):',
    '',
    '| # | self | function | where | area |',
    '| ---: | ---: | --- | --- | --- |',
    ...[...self.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((s, i) => `| ${i + 1} | ${pct(s.us)} | \`${name(s.cf)}\` | ${where(s.cf) || '–'} | ${area(s.cf)} |`),
    '',
    '| area | self time |',
    '| --- | ---: |',
    ...[...areas]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 20)
      .map(([a, us]) => `| ${a} | ${pct(us)} |`),
    '',
    "The project's own functions by inclusive time (themselves and everything they call):",
    '',
    '| inclusive | function | where |',
    '| ---: | --- | --- |',
    ...[...inclusive.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, 20)
      .map((s) => `| ${pct(s.us)} | \`${name(s.cf)}\` | ${where(s.cf)} |`),
  ];
  return lines.join('\n');
}

export async function summarizeProfileFile(file: string, o: SummaryOptions = {}): Promise<string> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  return summarizeProfile(profile, { title: file, ...o });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string' } }, allowPositionals: true });
  if (!positionals.length) {
    process.stderr.write('usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  for (const f of positionals) process.stdout.write(`${await summarizeProfileFile(f, { top: Number(values.top ?? 30) })}\n\n`);
}
