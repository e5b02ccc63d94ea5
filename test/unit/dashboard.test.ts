// The Grafana dashboard's JSON: well-formed for provisioning and import (current schema,
// the datasource a template variable, unique ids, no overlapping panels), and a small
// the PromQL tokenizer that lists the metric names its queries use (the e2e test
// checks those against real scrapes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { DASHBOARD, allPanels, metricNames, type Dashboard } from '../support/promql.js';

test('the tokenizer finds metric names and nothing else', () => {
  assert.deepEqual(metricNames('histogram_quantile(0.95, sum by (le, mcp_method_name) (rate(mcp_server_operation_duration_seconds_bucket{server=~"$server"}[$__rate_interval])))'), ['mcp_server_operation_duration_seconds_bucket']);
  assert.deepEqual(metricNames('max(time() - mcp_gateway_process_start_time_seconds)'), ['mcp_gateway_process_start_time_seconds']);
  assert.deepEqual(metricNames('sum(a_total{x="y{z}"}) / on (job) group_left b'), ['a_total', 'b']);
  assert.deepEqual(metricNames('topk(10, sum without (pod) (up))'), ['up']);
});

test('the dashboard: current schema, datasource as a variable, unique ids, panels do not overlap, every query parses to names', async () => {
  const d = JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard;
  assert.equal(d.uid, 'mcp-gateway');
  assert.ok(d.schemaVersion >= 39, `schemaVersion ${d.schemaVersion}`);
  const ds = d.templating.list.find((v) => v.name === 'DS_PROMETHEUS');
  assert.equal(ds?.type, 'datasource');
  assert.equal(ds?.query, 'prometheus');
  const panels = allPanels(d);
  assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, 'unique panel ids');
  for (const p of panels) {
    if (p.type === 'row') continue;
    assert.equal(p.datasource?.uid, '${DS_PROMETHEUS}', p.title);
    assert.ok(p.targets && p.targets.length > 0, p.title);
    for (const t of p.targets) {
      assert.equal(t.datasource?.uid, '${DS_PROMETHEUS}', p.title);
      assert.ok(metricNames(t.expr).length > 0, `${p.title}: ${t.expr}`);
      assert.equal((t.expr.match(/\(/g) ?? []).length, (t.expr.match(/\)/g) ?? []).length, `balanced: ${t.expr}`);
    }
    assert.ok(p.gridPos.x + p.gridPos.w <= 24, p.title);
  }
  // No two panels share a grid cell.
  const cells = new Set<string>();
  for (const p of panels) {
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        const k = `${x},${y}`;
        assert.ok(!cells.has(k), `${p.title} overlaps at ${k}`);
        cells.add(k);
      }
    }
  }
  const rows = panels.filter((p) => p.type === 'row').map((p) => p.title);
  assert.deepEqual(rows, ['Health', 'Traffic', 'Latency', 'Refusals', 'Rate limits', 'Tools and prompts', 'List curation', 'Upstreams', 'ext_proc', 'Process', 'Policy, identity and credentials', 'Audit', 'Usage']);
});
