// The Grafana dashboard against real scrapes: every metric its PromQL names exists in
// the sidecar's /metrics (after traffic of every kind the panels show) or in Envoy's
// /stats/prometheus. It guards the dashboard against renames on either side.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startUpstream, everythingServerFactory, type RunningUpstream } from '../../examples/upstream.js';
import { startGateway, freePort, type RunningGateway } from '../support/gateway.js';
import { parseExposition, scrape } from '../support/prometheus.js';
import { dashboardExprs, metricNames } from '../support/promql.js';

let upstream: RunningUpstream;
let gw: RunningGateway;

before(async () => {
  upstream = await startUpstream({ createServer: await everythingServerFactory() });
  gw = await startGateway({
    config: {
      servers: [{ name: 'everything', url: upstream.url, tools: { deny: ['get-env'] } }],
      telemetry: { listen: `127.0.0.1:${await freePort()}` },
      audit: { sink: 'stdout' },
    },
  });
});
after(async () => {
  await gw?.stop();
  await upstream?.close();
});

test('every metric the dashboard queries exists in a real scrape of the sidecar or Envoy', async () => {
  const client = new Client({ name: 'dashboard-e2e', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.url('everything'))));
  await client.listTools();
  await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
  await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }));
  const prompts = await client.listPrompts();
  if (prompts.prompts[0]) await client.getPrompt({ name: prompts.prompts[0].name, arguments: {} }).catch(() => undefined);
  await client.close();
  await gw.waitForAudit((e) => e.reason === 'not_curated');

  const sidecar = (await scrape(gw.launched.sidecar.telemetryUrl!)).families;
  const envoy = parseExposition(await (await fetch(`${gw.launched.envoy.adminUrl}/stats/prometheus`)).text());
  const known = new Set<string>();
  for (const fams of [sidecar, envoy]) for (const f of fams.values()) for (const n of [f.name, ...f.samples.map((s) => s.name)]) known.add(n);

  const exprs = await dashboardExprs();
  const used = new Set(exprs.flatMap(metricNames));
  assert.ok(used.size >= 30, `the tokenizer found ${used.size} names`);
  const strip = (n: string) => n.replace(/_(bucket|sum|count)$/, '');
  const missing = [...used].filter((n) => !known.has(n) && !known.has(strip(n)));
  assert.deepEqual(missing, [], `not in any scrape: ${missing.join(', ')}`);
  // Both sides are covered, so a rename on either is caught.
  assert.ok([...used].some((n) => n.startsWith('envoy_')) && [...used].some((n) => n.startsWith('mcp_')));
});
