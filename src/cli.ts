#!/usr/bin/env node
// The `mcp-gateway` command.
import { parseArgs } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadConfigFile, ConfigError, formatProblem } from './config/load.js';
import { envoyBootstrapYaml } from './envoy/bootstrap.js';
import { rateLimitServiceConfigYaml } from './limits/ratelimit-config.js';
import { launchGateway, endpointsOf } from './launcher.js';
import { startSidecar } from './sidecar.js';
import { startAggregator } from './aggregate/server.js';
import { ensureAggregateKey } from './aggregate/key.js';
import { createLogger, type Logger } from './telemetry/log.js';
import { watchConfigFile, type ConfigWatcher } from './config/watch.js';
import type { GatewayConfig } from './config/types.js';
import { projectRoot } from './envoy/binary.js';
import { opaBuild, opaTest } from './policy/opa-cli.js';
import { assertFixedBridgePorts, startStdioBridges } from './stdio/bridges.js';

const USAGE = `mcp-gateway — an MCP gateway for Envoy

Usage:
  mcp-gateway up --config FILE            start the sidecar and Envoy; Ctrl-C stops both
  mcp-gateway sidecar --config FILE       start only the ext_proc sidecar (for an Envoy you run yourself)
  mcp-gateway stdio-bridge --config FILE  run only the bridges of the stdio servers (servers[].command, each on its stdio.port)
  mcp-gateway envoy-config --config FILE [--output FILE]
                                          print the Envoy bootstrap generated from the config
  mcp-gateway ratelimit-config --config FILE [--output FILE]
                                          print the envoyproxy/ratelimit config (domain, descriptors) for rate_limits
  mcp-gateway validate --config FILE      check the config; every error with its line and reason
  mcp-gateway policy build [--src DIR] [--output FILE]
                                          compile Rego (default policies/) to a WASM bundle with \`opa build -t wasm\`
                                          (default output policies/build/bundle.tar.gz)
  mcp-gateway policy test [DIR]           run \`opa test\` on the policies (default policies/)
  mcp-gateway policy replay --audit FILE --bundle CANDIDATE [--against CURRENT] [--format table|json] [--examples N]
                                          re-decide every policy decision recorded in the audit trail with CANDIDATE
                                          and report what changes (against the recorded decisions, or CURRENT);
                                          exit status 1 when any decision changes
  mcp-gateway usage --audit FILE [--by caller|server|tool|method ...] [--since T] [--until T] [--format table|json|csv]
                                          usage per caller/server/tool from the audit trail; T is an ISO time or a
                                          duration back from now (30m, 24h, 7d); --by repeats or takes a comma list
  mcp-gateway tools lock --config FILE [--output FILE] [--server NAME ...]
                                          read each server's tools, prompts and resource templates from its upstream
                                          and write the lockfile (default: the config's lockfile)
  mcp-gateway tools diff --config FILE [--server NAME ...]
                                          what changed upstream against the lock (exit 1 when anything did)
  mcp-gateway tools approve --config FILE [--server NAME ...] NAME ...
                                          take the upstream's current definition of these items into the lock
  mcp-gateway openapi-bridge --config FILE [--server NAME ...]
                                          run only the OpenAPI bridges (servers[].openapi, each at its openapi.listen),
                                          for a sidecar and Envoy run apart
  mcp-gateway catalog --config FILE [--token JWT | --api-key KEY | --as SUBJECT [--group G ...]]
                                          print the catalog (MCP Registry API shape) this caller would get
  mcp-gateway example                     run the bundled example: the "everything" MCP server behind the gateway
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      output: { type: 'string', short: 'o' },
      src: { type: 'string' },
      'envoy-log-level': { type: 'string' },
      audit: { type: 'string' },
      by: { type: 'string', multiple: true },
      since: { type: 'string' },
      until: { type: 'string' },
      format: { type: 'string' },
      bundle: { type: 'string' },
      against: { type: 'string' },
      examples: { type: 'string' },
      server: { type: 'string', multiple: true },
      lockfile: { type: 'string' },
      token: { type: 'string' },
      'api-key': { type: 'string' },
      as: { type: 'string' },
      group: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: command === 'policy' || command === 'tools',
  });
  if (!command || command === 'help' || values.help) {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  const needConfig = async () => {
    if (!values.config) throw new UsageError(`${command} needs --config FILE`);
    return loadConfigFile(values.config);
  };
  switch (command) {
    case 'validate': {
      const c = await needConfig();
      const specs = await (await import('./openapi/command.js')).checkSpecs(c);
      process.stdout.write(`${c.source}: OK — ${c.servers.length} server(s): ${c.servers.map((s) => `${s.name} → ${s.openapi ? s.openapi.baseUrl.href : s.stdio ? `stdio: ${s.stdio.command.join(' ')}` : s.url.href}`).join(', ')}\n${specs.map((l) => `  ${l}\n`).join('')}`);
      return 0;
    }
    case 'envoy-config': {
      const c = await needConfig();
      (await import('./openapi/command.js')).assertBridgesAddressed(c, command);
      assertFixedBridgePorts(c, 'envoy-config');
      const yaml = envoyBootstrapYaml(c);
      if (values.output) await writeFile(values.output, yaml);
      else process.stdout.write(yaml);
      return 0;
    }
    case 'ratelimit-config': {
      const yaml = rateLimitServiceConfigYaml(await needConfig());
      if (values.output) await writeFile(values.output, yaml);
      else process.stdout.write(yaml);
      return 0;
    }
    case 'sidecar': {
      const c = await needConfig();
      (await import('./openapi/command.js')).assertBridgesAddressed(c, command);
      assertFixedBridgePorts(c, 'sidecar');
      const log = createLogger(c.log.level);
      // With aggregates, their upstream (the aggregator) runs beside the sidecar; the Envoy is yours.
      const aggregator = c.servers.some((s) => s.aggregate) ? await startAggregator(c, { key: ensureAggregateKey(), log }) : undefined;
      const sidecar = await startSidecar(c, { log });
      const live = await reloadOnChange(values.config!, log, (next) => sidecar.reload(next).then(() => aggregator?.update(next)), () => sidecar.refresh());
      await untilSignal();
      live.close();
      await sidecar.stop();
      await aggregator?.close();
      return 0;
    }
    case 'stdio-bridge': {
      const c = await needConfig();
      assertFixedBridgePorts(c, 'stdio-bridge');
      const log = createLogger(c.log.level);
      const stdio = await startStdioBridges(c, log);
      if (!stdio.bridges.size) throw new UsageError('the config has no stdio servers (servers[].command)');
      process.stderr.write(`stdio bridges:\n${[...stdio.bridges.values()].map((b) => `  ${b.server.padEnd(16)} ${b.url.href}`).join('\n')}\n`);
      await untilSignal();
      await stdio.stop();
      return 0;
    }
    case 'up': {
      const c = await needConfig();
      const log = createLogger(c.log.level);
      const gw = await launchGateway(c, { log, envoy: { logLevel: values['envoy-log-level'] ?? 'warn' } });
      if (gw.envoy.parentDeath === 'none') log.warn({ envoyPid: gw.envoy.pid }, 'setpriv (util-linux) not found: if this process is SIGKILLed, Envoy keeps running and must be stopped by hand');
      printEndpoints(endpointsOf(c), gw.envoy.adminUrl, gw.envoy.pid, gw.sidecar.telemetryUrl);
      // A changed config file (watched, or SIGHUP) is applied live; SIGHUP also looks for changed policy bundles and reads the lockfiles again.
      const live = await reloadOnChange(values.config!, log, (next) => gw.reload(next), () => gw.sidecar.refresh());
      const exit = await Promise.race([untilSignal().then(() => 0), gw.envoy.exited.then((code) => (log.error({ code }, 'envoy exited'), 1))]);
      live.close();
      // On a signal Envoy drains (open requests finish, the sidecar deciding) before both stop.
      await gw.stop({ drain: exit === 0 });
      return exit;
    }
    case 'policy': {
      const [sub, dir] = positionals;
      if (sub === 'build') {
        const out = values.output ?? 'policies/build/bundle.tar.gz';
        const r = await opaBuild(values.src ?? dir ?? 'policies', out);
        process.stdout.write(`built ${r.outFile} (entrypoints: ${r.entrypoints.join(', ')})\n`);
        return 0;
      }
      if (sub === 'test') {
        const r = await opaTest(dir ?? values.src ?? 'policies');
        process.stdout.write(r.output.endsWith('\n') ? r.output : `${r.output}\n`);
        return r.passed ? 0 : 1;
      }
      if (sub === 'replay') {
        if (!values.audit || !values.bundle) throw new UsageError('policy replay needs --audit FILE and --bundle CANDIDATE');
        return (await import('./policy/replay-command.js')).replayCommand({ audit: values.audit, bundle: values.bundle, against: values.against, format: values.format, examples: values.examples }, UsageError);
      }
      throw new UsageError('policy needs "build", "test" or "replay"');
    }
    case 'usage': {
      if (!values.audit) throw new UsageError('usage needs --audit FILE (the JSON-lines audit trail)');
      return (await import('./usage/command.js')).usageCommand({ audit: values.audit, by: values.by, since: values.since, until: values.until, format: values.format }, UsageError);
    }
    case 'tools': {
      const [sub, ...names] = positionals;
      const tools = await import('./integrity/command.js');
      const run = sub === 'lock' ? tools.toolsLock : sub === 'diff' ? tools.toolsDiff : sub === 'approve' ? tools.toolsApprove : undefined;
      if (!run) throw new UsageError('tools needs "lock", "diff" or "approve"');
      if (sub !== 'approve' && names.length) throw new UsageError(`tools ${sub} takes no names (did you mean tools approve?)`);
      // stdio servers are read through bridges of their own for the while.
      const written = await needConfig();
      const stdio = await startStdioBridges(written, createLogger(written.log.level), { anyPort: true });
      try {
        // OpenAPI servers are read through a bridge of their own for as long as the command runs.
        return await (await import('./openapi/command.js')).withBridges(stdio.bind(written), createLogger('warn'), (resolved) => run(resolved, { lockfile: values.output ?? values.lockfile, servers: values.server, names, out: (t) => process.stdout.write(t) }));
      } catch (err) {
        if (err instanceof tools.ToolsUsageError) throw new UsageError(err.message);
        throw err;
      } finally {
        await stdio.stop();
      }
    }
    case 'openapi-bridge': {
      const c = await needConfig();
      return (await import('./openapi/command.js')).runBridges(c, createLogger(c.log.level), values.server, untilSignal);
    }
    case 'catalog': {
      const c = await needConfig();
      return (await import('./catalog/command.js')).catalogCommand(c, { token: values.token, apiKey: values['api-key'], as: values.as, groups: values.group, out: (t) => process.stdout.write(t) }, createLogger('error'));
    }
    case 'example':
      return (await import('../examples/run-example.js')).runExample(resolve(projectRoot(), 'examples/gateway.yaml'));
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

export function printEndpoints(endpoints: ReadonlyMap<string, string>, adminUrl: string, envoyPid?: number, telemetryUrl?: string): void {
  const lines = [...endpoints].map(([name, url]) => `  ${name.padEnd(16)} ${url}`);
  const pid = envoyPid === undefined ? '' : ` (Envoy pid ${envoyPid})`;
  const telemetry = telemetryUrl === undefined ? '' : `Sidecar metrics:  ${telemetryUrl}/metrics (health: /healthz, /readyz)\n`;
  process.stderr.write(`\nmcp-gateway is up.\nMCP endpoints:\n${lines.join('\n')}\nEnvoy admin:      ${adminUrl}${pid}\n${telemetry}\n`);
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.source}: ${err.problems.length} configuration error(s)\n` + err.problems.map((p) => `  ${formatProblem(err.source, p)}\n`).join(''));
    } else if (err instanceof UsageError || (err as { usage?: unknown }).usage === true || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      process.stderr.write(`mcp-gateway: ${(err as Error).message}\n\n${USAGE}`);
      process.exit(2);
    } else {
      process.stderr.write(`mcp-gateway: ${(err as Error).message}\n`);
    }
    process.exit(1);
  },
);

/**
 * Live reload: the config file is watched, and SIGHUP reloads it too (and looks for
 * changed policy bundles). A config that fails to load, compile or apply is logged with
 * the reason and the running one stays in force.
 */
async function reloadOnChange(file: string, log: Logger, apply: (next: GatewayConfig) => Promise<void>, checkPolicies: () => Promise<void>): Promise<ConfigWatcher> {
  const reload = async (why: string) => {
    try {
      await apply(await loadConfigFile(file));
      log.info({ file, why }, 'config applied');
    } catch (err) {
      const message = err instanceof ConfigError ? err.problems.map((p) => formatProblem(err.source, p)).join('; ') : (err as Error).message;
      log.error({ file, why, error: message }, 'config not applied; the running config stays in force');
    }
  };
  process.on('SIGHUP', () => void reload('SIGHUP').then(checkPolicies));
  return watchConfigFile(file, () => void reload('file changed'));
}

