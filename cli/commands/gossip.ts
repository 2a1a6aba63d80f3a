// `opsbro gossip ...`: join, leave, members, detect, keys. All through the local agent's API.
import { Command } from 'commander';
import type { DetectResult } from '../../agent/shared/api-types.js';
import type { MemberView } from '../../agent/shared/api-types.js';
import { positiveSeconds, type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient, type ApiOptions } from '../client.js';
import { CliError } from '../errors.js';
import { colour, printJson, spinner, stateColour, table } from '../output.js';

/** GET /gossip/keys. */
interface KeysAnswer {
  keys: Array<{ fingerprint: string; primary: boolean; installed: boolean; nodes: number }>;
  members: number;
  generation: number;
  primary: string;
  behind?: { generation: number; primary: string; announced_by: string; missing: string[] };
  conflict?: { generation: number; primary: string; announced_by: string; removed: string[] };
}

export function gossipCommand(): Command {
  const gossip = new Command('gossip').description('the cluster: join, leave, members, LAN detection, keys');

  withApiOptions(
    gossip
      .command('join')
      .description('join the cluster through one or more running agents')
      .argument('<host[:port]...>', 'agents to join through (default port: the gossip port, 6768)')
      .option('--json', 'print JSON'),
  ).action(async (seeds: string[], options: ReadOptions) => {
    const waiting = spinner(`joining through ${seeds.join(', ')}`);
    try {
      const result = await new AgentClient(options).post<{ joined: number; errors: string[] }>(
        '/agent/join',
        { addresses: seeds },
      );
      waiting.stop();
      if (options.json) return printJson(result);
      process.stdout.write(`joined the cluster through ${result.joined} of ${seeds.length} address(es)\n`);
      for (const error of result.errors) process.stdout.write(`${colour.yellow('warning')} ${error}\n`);
    } finally {
      waiting.stop();
    }
  });

  withApiOptions(
    gossip.command('leave').description('leave the cluster gracefully (others see this node as left)'),
  ).action(async (options: ApiOptions) => {
    await new AgentClient(options).post('/agent/leave');
    process.stdout.write('left the cluster\n');
  });

  withJson(
    withApiOptions(
      gossip
        .command('members')
        .description('every known member and its state')
        .option('--detail', 'add id, incarnation, version, round-trip time'),
    ),
  ).action(async (options: ReadOptions & { detail?: boolean }) => {
    const members = await new AgentClient(options).get<MemberView[]>('/agent/members');
    if (options.json) return printJson(members);
    const headers = [
      'NAME',
      'ADDRESS',
      'STATE',
      'DC',
      'GROUPS',
      ...(options.detail ? ['ID', 'INC', 'VERSION', 'RTT'] : []),
    ];
    const rows = members.map((member) => [
      member.name,
      `${member.address}:${member.port}`,
      stateColour(member.state),
      member.datacenter,
      member.groups.join(',') || colour.dim('-'),
      ...(options.detail
        ? [
            member.id,
            String(member.incarnation),
            member.version,
            member.rtt_ms === null ? colour.dim('-') : `${member.rtt_ms} ms`,
          ]
        : []),
    ]);
    process.stdout.write(table(headers, rows));
  });

  withJson(
    withApiOptions(
      gossip
        .command('detect')
        .description('find agents holding the same key on the LAN (UDP broadcast on every IPv4 interface)')
        .option('--timeout <seconds>', 'how long to listen for answers', positiveSeconds, 3)
        .option('--auto-join', 'join the answering agent with the lowest id (the same choice on every node)'),
    ),
  ).action(async (options: ReadOptions & { timeout: number; autoJoin?: boolean }) => {
    const waiting = spinner(`listening for answers for ${options.timeout} s`);
    let result: DetectResult;
    try {
      result = await new AgentClient(options).call(
        'POST',
        '/agent/detect',
        { timeout_s: options.timeout, auto_join: Boolean(options.autoJoin) },
        options.timeout * 1000 + 10_000,
      );
    } finally {
      waiting.stop();
    }
    if (options.json) return printJson(result);
    if (!result.nodes.length) {
      process.stdout.write('no agent with this cluster key answered\n');
    } else {
      process.stdout.write(
        table(
          ['NAME', 'ADDRESS', 'DC', 'GROUPS', 'ID'],
          result.nodes.map((node) => [
            node.name,
            `${node.address}:${node.port}`,
            node.datacenter,
            node.groups.join(',') || colour.dim('-'),
            node.id,
          ]),
        ),
      );
    }
    if (result.joined)
      process.stdout.write(`joined the cluster through ${result.joined.name} (${result.joined.address})\n`);
    else if (options.autoJoin && result.nodes.length)
      throw new CliError('found agents but could not join them');
  });

  const keys = gossip.command('keys').description('the cluster keyring: rotate keys without downtime');
  withJson(
    withApiOptions(
      keys.command('list').description('installed keys, the primary one, and how many members hold each'),
    ),
  ).action(async (options: ReadOptions) => {
    const result = await new AgentClient(options).get<KeysAnswer>('/gossip/keys');
    if (options.json) return printJson(result);
    if (!result.keys.length)
      return void process.stdout.write(
        `${colour.red('no keys: the cluster is open')} (opsbro agent keygen)\n`,
      );
    process.stdout.write(
      table(
        ['FINGERPRINT', 'PRIMARY', 'HERE', 'MEMBERS'],
        result.keys.map((key) => [
          key.fingerprint,
          key.primary ? colour.green('primary') : '',
          key.installed ? 'installed' : colour.yellow('missing'),
          `${key.nodes}/${result.members}`,
        ]),
      ),
    );
    process.stdout.write(`keyring generation ${result.generation}\n`);
    if (result.behind) {
      process.stdout.write(
        `${colour.yellow('behind')}: ${result.behind.announced_by} uses generation ${result.behind.generation} ` +
          `(primary ${result.behind.primary}); this node lacks ${result.behind.missing.join(', ')}: install it here\n`,
      );
    }
    if (result.conflict) {
      process.stdout.write(
        `${colour.red('conflict')}: ${result.conflict.announced_by} uses generation ${result.conflict.generation} ` +
          `with ${result.conflict.removed.join(', ')}, removed here; see docs/gossip.md (key rotation)\n`,
      );
    }
  });
  const keyOp = (name: 'install' | 'use' | 'remove', argument: string, description: string) =>
    withApiOptions(keys.command(name).description(description).argument(argument)).action(
      async (value: string, options: ApiOptions) => {
        const body = name === 'install' ? { op: name, key: value } : { op: name, fingerprint: value };
        const result = await new AgentClient(options).post<{ fingerprint: string }>('/gossip/keys', body);
        process.stdout.write(`${name}: ${result.fingerprint} (gossiped to the cluster)\n`);
      },
    );
  keyOp('install', '<key>', 'install a key on every node (accepted, not yet used to send)');
  keyOp('use', '<fingerprint>', 'make an installed key the primary on every node');
  keyOp('remove', '<fingerprint>', 'remove a key from every node (not the primary)');

  return gossip;
}
