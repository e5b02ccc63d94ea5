/**
 * Pure comparison of two conformance runs (direct vs. through the gateway),
 * and of a run against the recorded baseline. No I/O here.
 *
 * A regression is anything that passes directly but not through the gateway:
 * - a scenario that passes directly and fails (or is missing) via the gateway;
 * - a check that is SUCCESS directly and anything else (or missing) via the
 *   gateway, whether or not its scenario passes directly.
 * INFO checks (the suite's trace of requests and events) are not compared.
 */
import type { ScenarioCheck, ScenarioResult } from './suite.js';

export type Results = ReadonlyMap<string, ScenarioResult>;

export type RegressionKind = 'scenario-failed' | 'scenario-missing' | 'check-regressed';

export interface Regression {
  scenario: string;
  kind: RegressionKind;
  /** For `check-regressed`: the check id, `#<n>` appended for the n-th (n ≥ 2) check with the same id. */
  checkId?: string;
  /** `pass` for scenarios, the check status (`SUCCESS`) for checks. */
  direct: string;
  /** `fail` or `missing` for scenarios; the check status or `missing` for checks. */
  viaGateway: string;
  message?: string;
}

export type Outcome = 'pass' | 'fail' | 'missing' | 'not measured';

export interface ComparisonRow {
  scenario: string;
  direct: Outcome;
  viaGateway: Outcome;
  notes: string;
}

export interface Comparison {
  regressions: Regression[];
  rows: ComparisonRow[];
  markdown: string;
}

/** Checks keyed by id; repeated ids get `#2`, `#3`, … in order of appearance. */
export function keyChecks(checks: readonly ScenarioCheck[]): Map<string, ScenarioCheck> {
  const seen = new Map<string, number>();
  const keyed = new Map<string, ScenarioCheck>();
  for (const check of checks) {
    const n = (seen.get(check.id) ?? 0) + 1;
    seen.set(check.id, n);
    keyed.set(n === 1 ? check.id : `${check.id}#${n}`, check);
  }
  return keyed;
}

function failingChecks(result: ScenarioResult): ScenarioCheck[] {
  return result.checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
}

function describeFailures(result: ScenarioResult, limit = 2): string {
  const failing = failingChecks(result);
  if (failing.length === 0) return result.checks.length === 0 ? 'no checks reported' : '';
  const shown = failing.slice(0, limit).map((c) => `${c.id} ${c.status}${c.message ? `: ${truncate(c.message, 120)}` : ''}`);
  if (failing.length > limit) shown.push(`… ${failing.length - limit} more`);
  return shown.join('; ');
}

function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}

export function escapeCell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

function outcome(result: ScenarioResult | undefined): Outcome {
  if (!result) return 'missing';
  return result.passed ? 'pass' : 'fail';
}

/**
 * Compares a direct run with a run through the gateway. `viaGateway`
 * undefined means the gateway was not measured: no regressions, and the table
 * says so.
 */
export function compareRuns(direct: Results, viaGateway: Results | undefined): Comparison {
  const regressions: Regression[] = [];
  const rows: ComparisonRow[] = [];
  const scenarios = [...direct.keys()];
  if (viaGateway) for (const s of viaGateway.keys()) if (!direct.has(s)) scenarios.push(s);

  for (const scenario of scenarios) {
    const d = direct.get(scenario);
    const g = viaGateway?.get(scenario);
    const notes: string[] = [];
    const rowRegressions: Regression[] = [];

    if (!d) {
      notes.push('only run through the gateway');
    } else if (viaGateway) {
      if (!g) {
        if (d.passed) {
          rowRegressions.push({ scenario, kind: 'scenario-missing', direct: 'pass', viaGateway: 'missing' });
        }
      } else {
        if (d.passed && !g.passed) {
          const message = describeFailures(g);
          rowRegressions.push({
            scenario,
            kind: 'scenario-failed',
            direct: 'pass',
            viaGateway: 'fail',
            ...(message ? { message } : {}),
          });
        }
        const gChecks = keyChecks(g.checks);
        for (const [key, check] of keyChecks(d.checks)) {
          if (check.status !== 'SUCCESS') continue;
          const gc = gChecks.get(key);
          if (gc?.status === 'SUCCESS') continue;
          rowRegressions.push({
            scenario,
            kind: 'check-regressed',
            checkId: key,
            direct: 'SUCCESS',
            viaGateway: gc?.status ?? 'missing',
            ...(gc?.message ? { message: gc.message } : {}),
          });
        }
      }
    }

    if (rowRegressions.length > 0) {
      const parts = rowRegressions.map((r) =>
        r.kind === 'check-regressed'
          ? `${r.checkId} ${r.direct}→${r.viaGateway}${r.message ? ` (${truncate(r.message, 120)})` : ''}`
          : r.kind === 'scenario-missing'
            ? 'not run through the gateway'
            : `fails through the gateway${r.message ? `: ${r.message}` : ''}`,
      );
      notes.push(`**REGRESSION**: ${parts.join('; ')}`);
    }
    if (d && !d.passed) notes.push(`direct: ${describeFailures(d)}`);
    else if (g && !g.passed && rowRegressions.length === 0) notes.push(`gateway: ${describeFailures(g)}`);

    regressions.push(...rowRegressions);
    rows.push({
      scenario,
      direct: outcome(d),
      viaGateway: viaGateway ? outcome(g) : 'not measured',
      notes: notes.join(' · '),
    });
  }

  return { regressions, rows, markdown: renderMarkdown(rows, direct, viaGateway, regressions.length) };
}

function count(results: Results): string {
  const passed = [...results.values()].filter((r) => r.passed).length;
  return `${passed}/${results.size}`;
}

function renderMarkdown(rows: readonly ComparisonRow[], direct: Results, viaGateway: Results | undefined, regressions: number): string {
  const lines = ['| Scenario | Direct | Via gateway | Notes |', '| --- | --- | --- | --- |'];
  for (const row of rows) {
    lines.push(`| ${escapeCell(row.scenario)} | ${row.direct} | ${row.viaGateway} | ${escapeCell(row.notes)} |`);
  }
  lines.push('');
  lines.push(
    viaGateway
      ? `Direct: ${count(direct)} scenarios pass · via gateway: ${count(viaGateway)} · regressions: ${regressions}`
      : `Direct: ${count(direct)} scenarios pass · via gateway: not measured`,
  );
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// Baseline
// ---------------------------------------------------------------------------

export interface BaselineEntry {
  direct: boolean;
  /** null: not measured yet. */
  gateway: boolean | null;
}

export interface Baseline {
  description?: string;
  suite: string;
  conformanceVersion: string;
  /** The version of the SDK the leg's server is built on (`@modelcontextprotocol/sdk` for the stable leg, `@modelcontextprotocol/server` for the revision legs). */
  sdkVersion: string;
  recordedAt: string;
  /** The `--spec-version` the run used (conformance-next legs); absent for the stable suite. */
  specVersion?: string;
  /** Why a scenario's entry is what it is (e.g. a failure that is the reference server's, not the gateway's). Kept across rewrites. */
  notes?: Record<string, string>;
  scenarios: Record<string, BaselineEntry>;
}

export type BaselineFindingKind = 'direct-worse' | 'direct-missing' | 'gateway-worse' | 'stale' | 'new' | 'not-run';

export interface BaselineFinding {
  scenario: string;
  kind: BaselineFindingKind;
  /** Fatal findings fail the run; the others are notices. */
  fatal: boolean;
  detail: string;
}

/**
 * Checks a run against the baseline. Fatal: a scenario the baseline records as
 * passing (directly, or through the gateway when that was measured) that now
 * fails, or — when the run used the baseline's suite — is missing. Notices:
 * scenarios that now pass but are recorded as failing (stale baseline), and
 * scenarios the baseline does not know.
 */
export function checkBaseline(
  baseline: Baseline,
  direct: Results,
  viaGateway: Results | undefined,
  opts: { sameSuite: boolean },
): BaselineFinding[] {
  const findings: BaselineFinding[] = [];
  for (const [scenario, entry] of Object.entries(baseline.scenarios)) {
    const d = direct.get(scenario);
    if (!d) {
      if (opts.sameSuite && entry.direct) {
        findings.push({ scenario, kind: 'direct-missing', fatal: true, detail: 'passes in the baseline but was not run' });
      } else {
        findings.push({ scenario, kind: 'not-run', fatal: false, detail: 'in the baseline but not run' });
      }
      continue;
    }
    if (entry.direct && !d.passed) {
      findings.push({ scenario, kind: 'direct-worse', fatal: true, detail: `passes directly in the baseline, fails now: ${describeFailures(d)}` });
    } else if (!entry.direct && d.passed) {
      findings.push({ scenario, kind: 'stale', fatal: false, detail: 'now passes directly; the baseline records a failure (run with --update-baseline)' });
    }
    if (viaGateway && entry.gateway !== null) {
      const g = viaGateway.get(scenario);
      if (entry.gateway && (!g || !g.passed)) {
        findings.push({
          scenario,
          kind: 'gateway-worse',
          fatal: true,
          detail: g ? `passes through the gateway in the baseline, fails now: ${describeFailures(g)}` : 'passes through the gateway in the baseline but was not run',
        });
      } else if (!entry.gateway && g?.passed) {
        findings.push({ scenario, kind: 'stale', fatal: false, detail: 'now passes through the gateway; the baseline records a failure (run with --update-baseline)' });
      }
    }
  }
  for (const scenario of direct.keys()) {
    if (!(scenario in baseline.scenarios)) {
      findings.push({ scenario, kind: 'new', fatal: false, detail: 'not in the baseline (run with --update-baseline)' });
    }
  }
  return findings;
}

/**
 * The baseline to record for a run. Without a gateway run the gateway column
 * keeps the previous baseline's value for the scenario (null if none).
 */
export function buildBaseline(
  previous: Baseline | undefined,
  direct: Results,
  viaGateway: Results | undefined,
  meta: Omit<Baseline, 'scenarios'>,
): Baseline {
  const scenarios: Record<string, BaselineEntry> = {};
  for (const [scenario, result] of direct) {
    const gateway = viaGateway ? (viaGateway.get(scenario)?.passed ?? false) : (previous?.scenarios[scenario]?.gateway ?? null);
    scenarios[scenario] = { direct: result.passed, gateway };
  }
  return { ...meta, ...(previous?.notes && { notes: previous.notes }), scenarios };
}

/** Validates parsed JSON as a {@link Baseline}; throws with the offending path. */
export function parseBaseline(data: unknown, source: string): Baseline {
  const fail = (what: string): never => {
    throw new Error(`${source}: ${what}`);
  };
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return fail('not an object');
  const b = data as Record<string, unknown>;
  for (const key of ['suite', 'conformanceVersion', 'sdkVersion', 'recordedAt'] as const) {
    if (typeof b[key] !== 'string') fail(`"${key}" must be a string`);
  }
  if (b['specVersion'] !== undefined && typeof b['specVersion'] !== 'string') fail('"specVersion" must be a string');
  const notes = b['notes'];
  if (notes !== undefined) {
    if (typeof notes !== 'object' || notes === null || Array.isArray(notes)) fail('"notes" must be an object');
    else for (const [name, n] of Object.entries(notes)) if (typeof n !== 'string') fail(`notes.${name} must be a string`);
  }
  const scenarios = b['scenarios'];
  if (typeof scenarios !== 'object' || scenarios === null || Array.isArray(scenarios)) return fail('"scenarios" must be an object');
  for (const [name, entry] of Object.entries(scenarios)) {
    const e = entry as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null) fail(`scenarios.${name} must be an object`);
    else {
      if (typeof e['direct'] !== 'boolean') fail(`scenarios.${name}.direct must be a boolean`);
      if (typeof e['gateway'] !== 'boolean' && e['gateway'] !== null) fail(`scenarios.${name}.gateway must be a boolean or null`);
    }
  }
  return data as Baseline;
}
