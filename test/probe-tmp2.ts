import net from 'node:net';
import { stringify } from 'yaml';
import { startUpstream, everythingServerFactory } from '/work/main/examples/upstream.js';
import { parseConfig } from '/work/main/src/config/load.js';
import { launchGateway } from '/work/main/src/launcher.js';
import { MemoryAuditSink } from '/work/main/src/audit/sink.js';
import { createLogger } from '/work/main/src/telemetry/log.js';
import { freePort } from '/work/main/test/support/ports.js';
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (b) => (out += b.toString()));
    s.on('end', () => resolve(out));
    s.on('error', (e) => resolve(out + ' ERR ' + e.message));
    setTimeout(() => { s.destroy(); resolve(out + ' [timeout]'); }, 1500);
  });
}
const up = await startUpstream({ createServer: await everythingServerFactory() });
const port = await freePort();
const cfg = parseConfig(stringify({ gateway: { listen: `127.0.0.1:${port}`, admin: `127.0.0.1:${await freePort()}` }, sidecar: { listen: `127.0.0.1:${await freePort()}` }, servers: [{ name: 'e', url: up.url, tools: { deny: ['get-env'] } }] }), 'x');
const audit = new MemoryAuditSink();
const lines: string[] = [];
const gw = await launchGateway(cfg, { audit, log: createLogger('warn'), envoy: { logLevel: 'debug', onOutput: (l) => lines.push(l) } });
const body = '{"jsonrpc":"2.0","id":1,"method":"ping"}';
lines.length = 0;
console.log(JSON.stringify(await raw(port, process.argv[2] === 'a' ? `POST /mcp/e HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}` : `FOO /mcp/e HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)));
await new Promise((r) => setTimeout(r, 300));
console.log(audit.events.map(e=>JSON.stringify(e)));
console.log(lines.filter(l => /http|ext_proc|conn/.test(l)).map(l => l.slice(0, 300)).join('\n'));
await gw.stop(); await up.close();
