// `npm start`: the bundled "everything" server on 127.0.0.1:3001 behind the gateway.
import { loadConfigFile } from '../src/config/load.js';
import { launchGateway } from '../src/launcher.js';
import { createLogger } from '../src/telemetry/log.js';
import { startUpstream, everythingServerFactory } from './upstream.js';

export async function runExample(configFile: string): Promise<number> {
  const config = await loadConfigFile(configFile);
  const server = config.servers[0]!;
  const upstream = await startUpstream({ port: Number(server.url.port), path: server.url.pathname, createServer: await everythingServerFactory() });
  const gw = await launchGateway(config, { log: createLogger(config.log.level) });
  const url = gw.endpoints.get(server.name)!;
  process.stderr.write(`
mcp-gateway example is running.
  upstream (server-everything):  ${upstream.url}
  through the gateway:           ${url}
  Envoy admin:                   ${gw.envoy.adminUrl}
  sidecar metrics and health:    ${gw.sidecar.telemetryUrl ?? '(telemetry.listen not set)'}/metrics, /healthz, /readyz
  audit events:                  this terminal's stdout (JSON lines)

Try it:
  # list the curated tools (echo, get-*, trigger-long-running-operation; never get-env)
  npx @modelcontextprotocol/inspector --cli ${url} --transport http --method tools/list
  # or by hand:
  curl -si ${url} -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'

Ctrl-C stops everything.
`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await gw.stop();
  await upstream.close();
  return 0;
}
