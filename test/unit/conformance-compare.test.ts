// Unit tests for the conformance comparison (test/conformance/compare.ts) and
// for the pure parts of reading the conformance CLI's output (suite.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildBaseline,
  checkBaseline,
  compareRuns,
  escapeCell,
  keyChecks,
  parseBaseline,
  type Baseline,
  type BaselineFindingKind,
  type RegressionKind,
  type Results,
} from '../conformance/compare.js';
import {
  assembleResults,
  ConformanceOutputError,
  parseChecksJson,
  parseCliStdout,
  scenarioPassed,
  type ScenarioCheck,
  type ScenarioResult,
} from '../conformance/suite.js';

type CheckSpec = [id: string, status: string, message?: string];

function scenario(name: string, ...specs: CheckSpec[]): ScenarioResult {
  const checks: ScenarioCheck[] = specs.map(([id, status, message]) => (message === undefined ? { id, status } : { id, status, message }));
  return { scenario: name, passed: scenarioPassed(checks), checks };
}

function run(...results: ScenarioResult[]): Results {
  return new Map(results.map((r) => [r.scenario, r]));
}

const ok = (name: string): ScenarioResult => scenario(name, ['trace', 'INFO'], [name, 'SUCCESS']);

describe('scenarioPassed', () => {
  const cases: { name: string; statuses: string[]; passed: boolean }[] = [
    { name: 'all SUCCESS', statuses: ['SUCCESS', 'SUCCESS'], passed: true },
    { name: 'SUCCESS and INFO', statuses: ['INFO', 'SUCCESS', 'INFO'], passed: true },
    { name: 'only INFO', statuses: ['INFO'], passed: true },
    { name: 'a FAILURE', statuses: ['SUCCESS', 'FAILURE'], passed: false },
    { name: 'a WARNING (the suite baseline counts it as failing)', statuses: ['SUCCESS', 'WARNING'], passed: false },
    { name: 'no checks at all', statuses: [], passed: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(scenarioPassed(c.statuses.map((status, i) => ({ id: `c${i}`, status }))), c.passed);
    });
  }
});

describe('keyChecks', () => {
  it('numbers repeated ids from the second occurrence on', () => {
    const keys = [...keyChecks([
      { id: 'a', status: 'INFO' },
      { id: 'b', status: 'SUCCESS' },
      { id: 'a', status: 'SUCCESS' },
      { id: 'a', status: 'FAILURE' },
    ]).keys()];
    assert.deepEqual(keys, ['a', 'b', 'a#2', 'a#3']);
  });
});

describe('compareRuns', () => {
  interface Case {
    name: string;
    direct: Results;
    gateway: Results | undefined;
    regressions: { scenario: string; kind: RegressionKind; checkId?: string; viaGateway: string }[];
    rows?: { scenario: string; direct: string; viaGateway: string }[];
  }
  const cases: Case[] = [
    {
      name: 'identical passing runs: no regression',
      direct: run(ok('ping'), ok('tools-list')),
      gateway: run(ok('ping'), ok('tools-list')),
      regressions: [],
      rows: [
        { scenario: 'ping', direct: 'pass', viaGateway: 'pass' },
        { scenario: 'tools-list', direct: 'pass', viaGateway: 'pass' },
      ],
    },
    {
      name: 'passes directly, a check fails through the gateway',
      direct: run(ok('ping')),
      gateway: run(scenario('ping', ['trace', 'INFO'], ['ping', 'FAILURE', 'HTTP 502'])),
      regressions: [
        { scenario: 'ping', kind: 'scenario-failed', viaGateway: 'fail' },
        { scenario: 'ping', kind: 'check-regressed', checkId: 'ping', viaGateway: 'FAILURE' },
      ],
      rows: [{ scenario: 'ping', direct: 'pass', viaGateway: 'fail' }],
    },
    {
      name: 'SUCCESS becomes WARNING through the gateway',
      direct: run(scenario('sse', ['priming', 'SUCCESS'])),
      gateway: run(scenario('sse', ['priming', 'WARNING'])),
      regressions: [
        { scenario: 'sse', kind: 'scenario-failed', viaGateway: 'fail' },
        { scenario: 'sse', kind: 'check-regressed', checkId: 'priming', viaGateway: 'WARNING' },
      ],
    },
    {
      name: 'fails both ways in the same check: no regression',
      direct: run(scenario('x', ['x', 'FAILURE'])),
      gateway: run(scenario('x', ['x', 'FAILURE'])),
      regressions: [],
      rows: [{ scenario: 'x', direct: 'fail', viaGateway: 'fail' }],
    },
    {
      name: 'fails directly, passes through the gateway: an improvement, not a regression',
      direct: run(scenario('dns', ['rejected', 'FAILURE'])),
      gateway: run(scenario('dns', ['rejected', 'SUCCESS'])),
      regressions: [],
      rows: [{ scenario: 'dns', direct: 'fail', viaGateway: 'pass' }],
    },
    {
      name: 'a passing scenario missing through the gateway',
      direct: run(ok('ping'), ok('tools-list')),
      gateway: run(ok('ping')),
      regressions: [{ scenario: 'tools-list', kind: 'scenario-missing', viaGateway: 'missing' }],
      rows: [
        { scenario: 'ping', direct: 'pass', viaGateway: 'pass' },
        { scenario: 'tools-list', direct: 'pass', viaGateway: 'missing' },
      ],
    },
    {
      name: 'a failing scenario missing through the gateway: no regression',
      direct: run(scenario('x', ['x', 'FAILURE'])),
      gateway: run(),
      regressions: [],
    },
    {
      name: 'a check regresses inside a scenario that fails directly anyway',
      direct: run(scenario('poll', ['priming', 'WARNING'], ['resume', 'SUCCESS'])),
      gateway: run(scenario('poll', ['priming', 'WARNING'], ['resume', 'INFO'])),
      regressions: [{ scenario: 'poll', kind: 'check-regressed', checkId: 'resume', viaGateway: 'INFO' }],
    },
    {
      name: 'a SUCCESS check missing through the gateway (replaced by an error check)',
      direct: run(scenario('s', ['a', 'SUCCESS'], ['b', 'SUCCESS'])),
      gateway: run(scenario('s', ['a', 'SUCCESS'], ['s-error', 'FAILURE', 'boom'])),
      regressions: [
        { scenario: 's', kind: 'scenario-failed', viaGateway: 'fail' },
        { scenario: 's', kind: 'check-regressed', checkId: 'b', viaGateway: 'missing' },
      ],
    },
    {
      name: 'repeated check ids are compared occurrence by occurrence',
      direct: run(scenario('s', ['ev', 'SUCCESS'], ['ev', 'SUCCESS'])),
      gateway: run(scenario('s', ['ev', 'SUCCESS'], ['ev', 'FAILURE'])),
      regressions: [
        { scenario: 's', kind: 'scenario-failed', viaGateway: 'fail' },
        { scenario: 's', kind: 'check-regressed', checkId: 'ev#2', viaGateway: 'FAILURE' },
      ],
    },
    {
      name: 'INFO checks are not compared',
      direct: run(scenario('s', ['trace', 'INFO'], ['trace', 'INFO'], ['s', 'SUCCESS'])),
      gateway: run(scenario('s', ['s', 'SUCCESS'])),
      regressions: [],
    },
    {
      name: 'a scenario only run through the gateway is listed, not a regression',
      direct: run(ok('ping')),
      gateway: run(ok('ping'), scenario('extra', ['extra', 'FAILURE'])),
      regressions: [],
      rows: [
        { scenario: 'ping', direct: 'pass', viaGateway: 'pass' },
        { scenario: 'extra', direct: 'missing', viaGateway: 'fail' },
      ],
    },
    {
      name: 'gateway not measured: no regressions, column says so',
      direct: run(ok('ping'), scenario('x', ['x', 'FAILURE'])),
      gateway: undefined,
      regressions: [],
      rows: [
        { scenario: 'ping', direct: 'pass', viaGateway: 'not measured' },
        { scenario: 'x', direct: 'fail', viaGateway: 'not measured' },
      ],
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const result = compareRuns(c.direct, c.gateway);
      assert.deepEqual(
        result.regressions.map((r) => ({
          scenario: r.scenario,
          kind: r.kind,
          ...(r.checkId !== undefined ? { checkId: r.checkId } : {}),
          viaGateway: r.viaGateway,
        })),
        c.regressions,
      );
      if (c.rows) {
        assert.deepEqual(
          result.rows.map((r) => ({ scenario: r.scenario, direct: r.direct, viaGateway: r.viaGateway })),
          c.rows,
        );
      }
      // Every row is in the Markdown table.
      for (const row of result.rows) assert.match(result.markdown, new RegExp(`^\\| ${row.scenario} \\| ${row.direct} \\| ${row.viaGateway} \\|`, 'm'));
    });
  }

  it('renders a Markdown table with a summary line and the regression detail', () => {
    const { markdown } = compareRuns(
      run(ok('ping'), ok('tools-list')),
      run(ok('ping'), scenario('tools-list', ['tools-list', 'FAILURE', 'Failed: HTTP 403 | forbidden'])),
    );
    const lines = markdown.split('\n');
    assert.equal(lines[0], '| Scenario | Direct | Via gateway | Notes |');
    assert.equal(lines[1], '| --- | --- | --- | --- |');
    assert.equal(lines[2], '| ping | pass | pass |  |');
    assert.match(lines[3] ?? '', /^\| tools-list \| pass \| fail \| \*\*REGRESSION\*\*: .*HTTP 403 \\\| forbidden/);
    assert.equal(lines.at(-1), 'Direct: 2/2 scenarios pass · via gateway: 1/2 · regressions: 2');
  });

  it('escapes table cells', () => {
    assert.equal(escapeCell('a | b\nc'), 'a \\| b c');
  });
});

describe('checkBaseline', () => {
  const baseline = (scenarios: Baseline['scenarios']): Baseline => ({
    suite: 'active',
    conformanceVersion: '0.1.16',
    sdkVersion: '1.32.2',
    recordedAt: '2026-01-01T00:00:00.000Z',
    scenarios,
  });
  const fail = (name: string): ScenarioResult => scenario(name, [name, 'FAILURE']);

  interface Case {
    name: string;
    baseline: Baseline;
    direct: Results;
    gateway?: Results;
    sameSuite?: boolean;
    findings: { scenario: string; kind: BaselineFindingKind; fatal: boolean }[];
  }
  const cases: Case[] = [
    {
      name: 'matches the baseline',
      baseline: baseline({ ping: { direct: true, gateway: null }, x: { direct: false, gateway: null } }),
      direct: run(ok('ping'), fail('x')),
      findings: [],
    },
    {
      name: 'direct run worse than the baseline is fatal',
      baseline: baseline({ ping: { direct: true, gateway: null } }),
      direct: run(fail('ping')),
      findings: [{ scenario: 'ping', kind: 'direct-worse', fatal: true }],
    },
    {
      name: 'a baseline-passing scenario missing from a run of the same suite is fatal',
      baseline: baseline({ ping: { direct: true, gateway: null } }),
      direct: run(),
      findings: [{ scenario: 'ping', kind: 'direct-missing', fatal: true }],
    },
    {
      name: 'scenarios missing from a run of another suite are a notice',
      baseline: baseline({ ping: { direct: true, gateway: null } }),
      direct: run(),
      sameSuite: false,
      findings: [{ scenario: 'ping', kind: 'not-run', fatal: false }],
    },
    {
      name: 'better than the baseline: stale notice',
      baseline: baseline({ x: { direct: false, gateway: false } }),
      direct: run(ok('x')),
      gateway: run(ok('x')),
      findings: [
        { scenario: 'x', kind: 'stale', fatal: false },
        { scenario: 'x', kind: 'stale', fatal: false },
      ],
    },
    {
      name: 'gateway worse than a measured baseline is fatal',
      baseline: baseline({ dns: { direct: false, gateway: true } }),
      direct: run(fail('dns')),
      gateway: run(fail('dns')),
      findings: [{ scenario: 'dns', kind: 'gateway-worse', fatal: true }],
    },
    {
      name: 'gateway column not measured in the baseline: not checked',
      baseline: baseline({ ping: { direct: true, gateway: null } }),
      direct: run(ok('ping')),
      gateway: run(fail('ping')),
      findings: [],
    },
    {
      name: 'a scenario unknown to the baseline is a notice',
      baseline: baseline({}),
      direct: run(ok('new-one')),
      findings: [{ scenario: 'new-one', kind: 'new', fatal: false }],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const findings = checkBaseline(c.baseline, c.direct, c.gateway, { sameSuite: c.sameSuite ?? true });
      assert.deepEqual(
        findings.map((f) => ({ scenario: f.scenario, kind: f.kind, fatal: f.fatal })),
        c.findings,
      );
    });
  }
});

describe('buildBaseline / parseBaseline', () => {
  const meta = { suite: 'active', conformanceVersion: '0.1.16', sdkVersion: '1.32.2', recordedAt: 'now' };

  it('records direct and gateway outcomes', () => {
    const b = buildBaseline(undefined, run(ok('ping'), scenario('x', ['x', 'FAILURE'])), run(ok('ping')), meta);
    assert.deepEqual(b.scenarios, { ping: { direct: true, gateway: true }, x: { direct: false, gateway: false } });
  });

  it('without a gateway run keeps the previous gateway column (null when unknown)', () => {
    const previous = buildBaseline(undefined, run(ok('ping')), run(ok('ping')), meta);
    const b = buildBaseline(previous, run(ok('ping'), ok('new')), undefined, meta);
    assert.deepEqual(b.scenarios, { ping: { direct: true, gateway: true }, new: { direct: true, gateway: null } });
  });

  it('round-trips through JSON', () => {
    const b = buildBaseline(undefined, run(ok('ping')), undefined, meta);
    assert.deepEqual(parseBaseline(JSON.parse(JSON.stringify(b)), 'b.json'), b);
  });

  it('keeps the previous notes and records the spec version', () => {
    const previous = { ...buildBaseline(undefined, run(ok('ping')), run(ok('ping')), meta), notes: { ping: 'why' } };
    const b = buildBaseline(previous, run(ok('ping')), run(ok('ping')), { ...meta, specVersion: '2026-07-28' });
    assert.deepEqual(b.notes, { ping: 'why' });
    assert.equal(b.specVersion, '2026-07-28');
    assert.deepEqual(parseBaseline(JSON.parse(JSON.stringify(b)), 'b.json'), b);
  });

  const invalid: { name: string; data: unknown }[] = [
    { name: 'not an object', data: [] },
    { name: 'specVersion not a string', data: { ...meta, specVersion: 20260728, scenarios: {} } },
    { name: 'notes not an object', data: { ...meta, notes: 'x', scenarios: {} } },
    { name: 'a note not a string', data: { ...meta, notes: { ping: 1 }, scenarios: {} } },
    { name: 'missing suite', data: { conformanceVersion: '1', sdkVersion: '1', recordedAt: 'x', scenarios: {} } },
    { name: 'direct not boolean', data: { ...meta, scenarios: { ping: { direct: 'yes', gateway: null } } } },
    { name: 'gateway neither boolean nor null', data: { ...meta, scenarios: { ping: { direct: true } } } },
  ];
  for (const c of invalid) {
    it(`rejects a baseline: ${c.name}`, () => {
      assert.throws(() => parseBaseline(c.data, 'b.json'), /b\.json/);
    });
  }
});

describe('reading the conformance CLI output', () => {
  const stdout = [
    'Running active suite (2 scenarios) against http://127.0.0.1:1/mcp',
    '',
    '',
    '=== Running scenario: ping ===',
    "Running client scenario 'ping' against server: http://127.0.0.1:1/mcp",
    'Results saved to /out/server-ping-2026-01-01T00-00-00-000Z',
    '',
    '=== Running scenario: tools-list ===',
    "Running client scenario 'tools-list' against server: http://127.0.0.1:1/mcp",
    'Results saved to /out/server-tools-list-2026-01-01T00-00-00-001Z',
    '',
    '',
    '=== SUMMARY ===',
    '✓ ping: 1 passed, 0 failed',
    '✗ tools-list: 0 passed, 1 failed',
    '',
    'Total: 1 passed, 1 failed',
  ].join('\n');
  const checks: Record<string, ScenarioCheck[]> = {
    '/out/server-ping-2026-01-01T00-00-00-000Z': [{ id: 'ping', status: 'SUCCESS' }],
    '/out/server-tools-list-2026-01-01T00-00-00-001Z': [{ id: 'tools-list', status: 'FAILURE', message: 'boom' }],
  };
  const dirs = ['server-ping-2026-01-01T00-00-00-000Z', 'server-tools-list-2026-01-01T00-00-00-001Z'];
  const read = (dir: string): ScenarioCheck[] => checks[dir] ?? assert.fail(`unexpected ${dir}`);

  it('parses the run header, scenarios, result directories and summary', () => {
    const parsed = parseCliStdout(stdout);
    assert.equal(parsed.suite, 'active');
    assert.equal(parsed.expectedCount, 2);
    assert.equal(parsed.hasSummary, true);
    assert.deepEqual(parsed.scenarios.map((s) => s.scenario), ['ping', 'tools-list']);
    assert.deepEqual(parsed.summary.get('tools-list'), { passed: 0, failed: 1 });
  });

  it('assembles one result per scenario', () => {
    const results = assembleResults(parseCliStdout(stdout), read, dirs);
    assert.deepEqual([...results.values()].map((r) => [r.scenario, r.passed]), [['ping', true], ['tools-list', false]]);
  });

  it('reports a scenario the CLI could not run as failed', () => {
    const crashed = stdout.replace('Results saved to /out/server-tools-list-2026-01-01T00-00-00-001Z\n', '');
    const results = assembleResults(parseCliStdout(crashed), read, dirs.slice(0, 1));
    assert.equal(results.get('tools-list')?.passed, false);
  });

  const broken: { name: string; stdout: string; dirs?: string[]; read?: (dir: string) => ScenarioCheck[] }[] = [
    { name: 'no run header', stdout: stdout.replace(/^Running active suite.*$/m, '') },
    { name: 'fewer scenarios than announced', stdout: stdout.replace('(2 scenarios)', '(3 scenarios)') },
    { name: 'a stray result directory', stdout, dirs: [...dirs, 'server-other-2026-01-01T00-00-00-002Z'] },
    {
      name: 'a result directory of another scenario',
      stdout: stdout.replace('/out/server-ping-2026', '/out/server-pong-2026'),
      read: () => [{ id: 'ping', status: 'SUCCESS' }],
    },
    {
      name: 'checks.json disagreeing with the CLI summary',
      stdout,
      read: (dir) => (dir.includes('ping') ? [{ id: 'ping', status: 'FAILURE' }] : read(dir)),
    },
    { name: 'a scenario missing from the summary', stdout: stdout.replace('✓ ping: 1 passed, 0 failed', '') },
  ];
  for (const c of broken) {
    it(`fails loudly on ${c.name}`, () => {
      assert.throws(() => assembleResults(parseCliStdout(c.stdout), c.read ?? read, c.dirs ?? dirs), ConformanceOutputError);
    });
  }

  const badChecks: { name: string; text: string }[] = [
    { name: 'not JSON', text: '{' },
    { name: 'not an array', text: '{"id":"x"}' },
    { name: 'a check without id', text: '[{"status":"SUCCESS"}]' },
    { name: 'an unknown status', text: '[{"id":"x","status":"PASSED"}]' },
  ];
  for (const c of badChecks) {
    it(`rejects checks.json: ${c.name}`, () => {
      assert.throws(() => parseChecksJson(c.text, 'checks.json'), ConformanceOutputError);
    });
  }

  it('keeps id, status and errorMessage of each check', () => {
    assert.deepEqual(
      parseChecksJson('[{"id":"a","name":"A","status":"FAILURE","errorMessage":"boom","details":{}},{"id":"b","status":"INFO"}]', 'c'),
      [{ id: 'a', status: 'FAILURE', message: 'boom' }, { id: 'b', status: 'INFO' }],
    );
  });
});
