// envoy/: the generated example bootstrap and snippets are what the generator makes
// now (npm run envoy:examples), and every snippet, embedded into a minimal bootstrap the
// way its comments say, is accepted by the real `envoy --mode validate`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { envoyExamples } from '../../scripts/envoy-examples.js';
import { envoyValidate } from '../support/envoy-validate.js';

type Json = Record<string, any>;

const snippet = async (name: string): Promise<Json> => parse(await readFile(`envoy/snippets/${name}.yaml`, 'utf8')) as Json;

test('envoy/bootstrap.yaml and the generated snippets are up to date (else: npm run envoy:examples)', async () => {
  const expected = await envoyExamples();
  assert.deepEqual([...expected.keys()].sort(), ['envoy/bootstrap.yaml', 'envoy/snippets/ext-proc.yaml', 'envoy/snippets/jwt-authn.yaml', 'envoy/snippets/stateful-session.yaml']);
  for (const [path, content] of expected) assert.equal(await readFile(path, 'utf8'), content, `${path} is stale: run npm run envoy:examples`);
});

test('Envoy closes ext_proc streams gracefully (a reset costs the sidecar an Error per request): in the bootstrap and the snippet', async () => {
  const flag = (doc: Json) => doc.layered_runtime?.layers?.find((l: Json) => l.static_layer)?.static_layer?.['envoy.reloadable_features.ext_proc_graceful_grpc_close'];
  assert.equal(flag(parse(await readFile('envoy/bootstrap.yaml', 'utf8')) as Json), true);
  assert.equal(flag(await snippet('ext-proc')), true);
});

test('envoy --mode validate accepts envoy/bootstrap.yaml', async () => {
  const r = await envoyValidate(await readFile('envoy/bootstrap.yaml', 'utf8'));
  assert.ok(r.ok, r.output);
});

/** Your Envoy, reduced to one listener with one MCP route and one route that is not MCP, plus the snippets. */
async function ownEnvoy(extras: Array<'jwt-authn' | 'ratelimit' | 'stateful-session'>): Promise<Json> {
  const extProc = await snippet('ext-proc');
  const jwt = extras.includes('jwt-authn') ? await snippet('jwt-authn') : undefined;
  const rl = extras.includes('ratelimit') ? await snippet('ratelimit') : undefined;
  const sticky = extras.includes('stateful-session') ? await snippet('stateful-session') : undefined;
  const extProcFilter = structuredClone(extProc.http_filters[0]);
  if (jwt) Object.assign(extProcFilter.typed_config, jwt.ext_proc_metadata_options);
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 19901 } } },
    layered_runtime: extProc.layered_runtime,
    static_resources: {
      listeners: [
        {
          name: 'your_listener',
          address: { socket_address: { address: '127.0.0.1', port_value: 18080 } },
          ...extProc.listener,
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'yours',
                    ...extProc.http_connection_manager,
                    route_config: {
                      virtual_hosts: [
                        {
                          name: 'all',
                          domains: ['*'],
                          routes: [
                            { match: { path: '/mcp/everything' }, route: { cluster: 'mcp_upstream_everything', timeout: '0s', ...(rl && { rate_limits: rl.route_rate_limits }) } },
                            { match: { prefix: '/api/' }, route: { cluster: 'your_api' }, ...extProc.route_without_sidecar },
                          ],
                        },
                      ],
                    },
                    http_filters: [
                      ...(jwt?.http_filters ?? []),
                      ...(rl?.http_filters ?? []),
                      extProcFilter,
                      ...(sticky?.http_filters ?? []),
                      { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        ...extProc.clusters,
        ...(jwt?.clusters ?? []),
        ...(rl?.clusters ?? []),
        ...['mcp_upstream_everything', 'your_api'].map((name, i) => ({
          name,
          type: 'STATIC',
          load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 3001 + i } } } }] }] },
        })),
      ],
    },
  };
}

const combinations: Array<Array<'jwt-authn' | 'ratelimit' | 'stateful-session'>> = [[], ['jwt-authn'], ['stateful-session'], ['ratelimit'], ['jwt-authn', 'ratelimit', 'stateful-session']];
for (const extras of combinations) {
  test(`envoy --mode validate accepts ext-proc.yaml${extras.map((e) => ` + ${e}.yaml`).join('')} in a minimal bootstrap`, async () => {
    const r = await envoyValidate(await ownEnvoy(extras));
    assert.ok(r.ok, r.output);
  });
}

test('the validation is real: a snippet with a wrong field is refused by Envoy', async () => {
  const config = await ownEnvoy(['ratelimit']);
  const hcm = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.http_filters.find((f: Json) => f.name === 'envoy.filters.http.ext_proc').typed_config.processing_mode.request_body_mode = 'BUFFERD';
  const r = await envoyValidate(config);
  assert.equal(r.ok, false);
  assert.match(r.output, /BUFFERD/);
});
