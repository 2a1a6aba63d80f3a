// `opsbro agent ...`: start (runs the daemon in this process), stop, info, reload, keygen.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { AgentInfo, ReloadOutcome } from '../../agent/shared/api-types.js';
import { positiveSeconds, type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient, isNotRunning, isUnreachable } from '../client.js';
import { CliError, EXIT_ERROR } from '../errors.js';
import {
  colour,
  formatBytes,
  formatDuration,
  keyValues,
  printJson,
  printJsonLine,
  spinner,
  stateColour,
  table,
} from '../output.js';

export function agentCommand(): Command {
  const agent = new Command('agent').description('run and inspect the local agent');

  withJson(
    agent
      .command('start')
      .description('run the agent in the foreground (Ctrl-C stops it), or in the background with --daemon')
      .option(
        '--config-dir <dir>',
        'configuration dir (default: /etc/opsbro if it exists, else the embedded defaults)',
      )
      .option('--data-dir <dir>', 'data dir (default: /var/lib/opsbro as root, else ~/.local/share/opsbro)')
      .option('--daemon', 'detach, write logs to <data-dir>/logs/opsbro.log')
      .option('--auto-detect', 'find a cluster on the LAN by broadcast at boot and join it (without seeds)'),
  )
    .addHelpText(
      'after',
      '\nWith --json: --daemon prints {"pid", "log"}; in the foreground the log is JSON lines on stdout.',
    )
    .action(
      async (options: {
        configDir?: string;
        dataDir?: string;
        daemon?: boolean;
        autoDetect?: boolean;
        json?: boolean;
      }) => {
        // The daemon is loaded only here, so every other command stays light and fast to start.
        const { startAgent } = await import('../../agent/main.js');
        const code = await startAgent({
          configDir: options.configDir,
          dataDir: options.dataDir,
          daemon: options.daemon,
          autoDetect: options.autoDetect,
          showWaiting: options.json ? undefined : spinner,
          ...(options.json
            ? {
                logFormat: 'json' as const,
                // One line each: in the foreground they share stdout with the log's JSON lines.
                report: {
                  daemonStarted: (pid: number, log: string) => printJsonLine({ pid, log }),
                  failed: (lines: string[]) =>
                    printJsonLine({ error: lines.join('\n'), exit_code: EXIT_ERROR }),
                },
              }
            : {}),
        });
        process.exitCode = code;
      },
    );

  withJson(
    withApiOptions(
      agent
        .command('stop')
        .description('stop the agent gracefully and wait until it is gone (a stopped agent: exit 0)')
        .option('--timeout <seconds>', 'how long to wait for the agent to exit', positiveSeconds, 10),
    ),
  ).action(async (options: ReadOptions & { timeout: number }) => {
    const client = new AgentClient(options);
    let pid: number;
    try {
      ({ pid } = await client.post<{ pid: number }>('/agent/stop'));
    } catch (error) {
      // As `systemctl stop` and LSB init scripts: stopping what is stopped succeeds.
      if (!isNotRunning(client, error)) throw error;
      if (options.json) return printJson({ stopped: true, already_stopped: true, api: client.target });
      return void process.stdout.write(`the agent is not running (nothing answers at ${client.target})\n`);
    }
    const waiting = spinner(`waiting for the agent (pid ${pid}) to stop`, !options.json);
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

/** `host:port` of an advertised `host:port` with another port (IPv6 hosts keep their brackets). */
function withPort(hostPort: string, port: number): string {
  const host = hostPort.slice(0, hostPort.lastIndexOf(':'));
  return host ? `${host}:${port}` : '';
}

/** Where gossip (UDP) and the RPC (TCP) listen, and the address members reach them at. */
function renderListeners(cluster: AgentInfo['cluster']): Array<[string, string]> {
  const line = (port: number) => {
    const advertised = withPort(cluster.advertise, port);
    return `${cluster.bind}:${port}` + (advertised ? `, advertises ${advertised}` : '');
  };
  const warning = cluster.unencrypted
    ? `\n${colour.red(cluster.unencrypted)}`
    : cluster.loopback_only
      ? `\n${colour.yellow(cluster.loopback_only)}`
      : '';
  return [
    ['Gossip', `${line(cluster.gossip_port)} (UDP)${warning}`],
    ['RPC', `${line(cluster.rpc_port)} (TCP)`],
  ];
}

const MEMBER_STATES = ['alive', 'suspect', 'dead', 'left'];

function renderMembers(counts: AgentInfo['members']): string {
  const others = Object.keys(counts).filter((state) => !MEMBER_STATES.includes(state));
  return [...MEMBER_STATES, ...others]
    .map((state) => {
      const count = counts[state] ?? 0;
      return count ? `${count} ${stateColour(state)}` : colour.dim(`0 ${state}`);
    })
    .join(', ');
}

function renderState(info: AgentInfo): string {
  if (info.state === 'left')
    return `${stateColour('left')}: this node left the cluster (\`opsbro gossip join HOST\` joins it again)`;
  return stateColour(info.state);
}

function renderEncryption(info: AgentInfo): string {
  const { encryption } = info;
  if (encryption.enabled)
    return `${colour.green('enabled')}, primary key ${encryption.primary_fingerprint ?? colour.dim('unknown')}`;
  const text = `disabled: ${encryption.warning}`;
  return info.cluster.unencrypted ? colour.red(text) : colour.yellow(text);
}

function renderInfo(info: AgentInfo): string {
  const addresses = info.addresses.filter((entry) => entry.family === 'IPv4');
  const { warnings } = info.config;
  const summary = keyValues([
    ['Name', `${colour.bold(info.name)}  ${colour.dim(info.id)}`],
    ['State', renderState(info)],
    ['Version', `${info.version} (node ${info.node_version})`],
    ['Datacenter', info.datacenter],
    ['Groups', info.groups.length ? info.groups.join(', ') : colour.dim('none')],
    ...renderListeners(info.cluster),
    ['Members', renderMembers(info.members)],
    ['Encryption', renderEncryption(info)],
    [
      'API',
      `${info.api.tcp}${info.api.socket ? `, ${info.api.socket}` : ''}, ` +
        (info.api.auth ? 'tokens required' : 'read-only without a token'),
    ],
    // The machine's own addresses: not necessarily where the cluster listens (Gossip, RPC above).
    [
      'Interfaces',
      addresses.length
        ? addresses.map((a) => `${a.address} (${a.interface})`).join(', ')
        : colour.dim('none'),
    ],
    ['Uptime', formatDuration(info.uptime_seconds)],
    ['PID', String(info.pid)],
    ['Memory', `RSS ${formatBytes(info.memory.rss_bytes)}, heap ${formatBytes(info.memory.heap_used_bytes)}`],
    [
      'Config',
      `${info.config.dir} (${info.config.files.length} files, ${info.config.definitions} definitions)`,
    ],
    [
      'Warnings',
      warnings.length ? warnings.map((warning) => colour.yellow(warning)).join('\n') : colour.dim('none'),
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
  return `${summary}\n${subsystems}`;
}
