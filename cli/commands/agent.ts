// `opsbro agent ...`: start (runs the daemon in this process), stop, info, reload, keygen.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { AgentInfo, ReloadOutcome } from '../../agent/shared/api-types.js';
import { positiveSeconds, type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient, isUnreachable } from '../client.js';
import { CliError } from '../errors.js';
import {
  colour,
  formatBytes,
  formatDuration,
  keyValues,
  printJson,
  spinner,
  stateColour,
  table,
} from '../output.js';

export function agentCommand(): Command {
  const agent = new Command('agent').description('run and inspect the local agent');

  agent
    .command('start')
    .description('run the agent in the foreground (Ctrl-C stops it), or in the background with --daemon')
    .option(
      '--config-dir <dir>',
      'configuration dir (default: /etc/opsbro if it exists, else the embedded defaults)',
    )
    .option('--data-dir <dir>', 'data dir (default: /var/lib/opsbro as root, else ~/.local/share/opsbro)')
    .option('--daemon', 'detach, write logs to <data-dir>/logs/opsbro.log')
    .option('--auto-detect', 'find a cluster on the LAN by broadcast at boot and join it (without seeds)')
    .action(
      async (options: { configDir?: string; dataDir?: string; daemon?: boolean; autoDetect?: boolean }) => {
        // The daemon is loaded only here, so every other command stays light and fast to start.
        const { startAgent } = await import('../../agent/main.js');
        const code = await startAgent({
          configDir: options.configDir,
          dataDir: options.dataDir,
          daemon: options.daemon,
          autoDetect: options.autoDetect,
          showWaiting: spinner,
        });
        process.exitCode = code;
      },
    );

  withApiOptions(
    agent
      .command('stop')
      .description('stop the agent gracefully and wait until it is gone')
      .option('--json', 'print JSON')
      .option('--timeout <seconds>', 'how long to wait for the agent to exit', positiveSeconds, 10),
  ).action(async (options: ReadOptions & { timeout: number }) => {
    const client = new AgentClient(options);
    const { pid } = await client.post<{ pid: number }>('/agent/stop');
    const waiting = spinner(`waiting for the agent (pid ${pid}) to stop`);
    const deadline = Date.now() + options.timeout * 1000;
    try {
      for (;;) {
        try {
          await client.get('/agent/state');
        } catch (error) {
          if (isUnreachable(error)) break;
          throw error;
        }
        if (Date.now() > deadline)
          throw new CliError(`the agent (pid ${pid}) is still running after ${options.timeout} s`);
        await sleep(100);
      }
      // The API closes before the process exits; on this machine, wait for the process itself.
      while (client.isLocal && processExists(pid)) {
        if (Date.now() > deadline)
          throw new CliError(`the agent (pid ${pid}) is still running after ${options.timeout} s`);
        await sleep(50);
      }
    } finally {
      waiting.stop();
    }
    if (options.json) printJson({ stopped: true, pid });
    else process.stdout.write(`agent stopped (pid ${pid})\n`);
  });

  withJson(
    withApiOptions(agent.command('info').description('what this agent is and how it is doing')),
  ).action(async (options: ReadOptions) => {
    const info = await new AgentClient(options).get<AgentInfo>('/agent/info');
    if (options.json) return printJson(info);
    process.stdout.write(renderInfo(info));
  });

  withJson(
    withApiOptions(
      agent.command('reload').description('re-read the configuration; a bad one keeps the old running'),
    ),
  ).action(async (options: ReadOptions) => {
    const outcome = await new AgentClient(options).post<ReloadOutcome & { reloaded: boolean }>(
      '/agent/reload',
    );
    if (options.json) return printJson(outcome);
    process.stdout.write('configuration reloaded\n');
    for (const warning of outcome.warnings) process.stdout.write(`${colour.yellow('warning')} ${warning}\n`);
    if (outcome.restart_required.length) {
      process.stdout.write(
        `${colour.yellow('restart needed')} for: ${outcome.restart_required.join(', ')}\n`,
      );
    }
  });

  withJson(
    agent.command('keygen').description('print a new cluster encryption key (base64 of 32 random bytes)'),
  ).action((options: { json?: boolean }) => {
    const key = randomBytes(32).toString('base64');
    if (options.json) printJson({ key });
    else process.stdout.write(`${key}\n`);
  });

  return agent;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** True while `pid` runs (a zombie waiting for its parent counts as gone). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

function renderCluster(cluster: AgentInfo['cluster']): string {
  const where = `gossip ${cluster.bind}:${cluster.gossip_port}, rpc ${cluster.bind}:${cluster.rpc_port}, advertises ${cluster.advertise}`;
  if (cluster.unencrypted) return `${where}\n${colour.red(cluster.unencrypted)}`;
  if (cluster.loopback_only) return `${where}\n${colour.yellow(cluster.loopback_only)}`;
  return where;
}

function renderInfo(info: AgentInfo): string {
  const addresses = info.addresses.filter((entry) => entry.family === 'IPv4');
  const summary = keyValues([
    ['Name', `${colour.bold(info.name)}  ${colour.dim(info.id)}`],
    ['State', stateColour(info.state)],
    ['Version', `${info.version} (node ${info.node_version})`],
    ['Datacenter', info.datacenter],
    ['Groups', info.groups.length ? info.groups.join(', ') : colour.dim('none')],
    [
      'Addresses',
      addresses.length
        ? addresses.map((a) => `${a.address} (${a.interface})`).join(', ')
        : colour.dim('none'),
    ],
    [
      'API',
      `${info.api.tcp}${info.api.socket ? `, ${info.api.socket}` : ''}, ` +
        (info.api.auth ? 'tokens required' : 'read-only without a token'),
    ],
    [
      'Encryption',
      info.encryption.enabled
        ? colour.green('enabled')
        : info.cluster.unencrypted
          ? colour.red(`disabled: ${info.encryption.warning}`)
          : colour.yellow(`disabled: ${info.encryption.warning}`),
    ],
    ['Cluster', renderCluster(info.cluster)],
    ['Uptime', formatDuration(info.uptime_seconds)],
    ['PID', String(info.pid)],
    ['Memory', `RSS ${formatBytes(info.memory.rss_bytes)}, heap ${formatBytes(info.memory.heap_used_bytes)}`],
    [
      'Config',
      `${info.config.dir} (${info.config.files.length} files, ${info.config.definitions} definitions, ${info.config.warnings.length} warnings)`,
    ],
    ['Data dir', info.data_dir],
  ]);
  const subsystems = table(
    ['SUBSYSTEM', 'STATE', 'MESSAGE'],
    Object.entries(info.subsystems).map(([name, state]) => [
      name,
      stateColour(state.status),
      state.message ?? '',
    ]),
  );
  const warnings = info.config.warnings.map((warning) => `${colour.yellow('warning')} ${warning}\n`).join('');
  return `${summary}\n${subsystems}${warnings ? `\n${warnings}` : ''}`;
}
