// `opsbro gossip ...`: join, leave, members, detect, stats, keys. All through the local agent's API.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type {
  DetectResult,
  DropReason,
  GossipStats,
  KeysAnswer,
  MemberView,
} from '../../agent/shared/api-types.js';
import { messageOf } from '../../agent/shared/errors.js';
import { knownStates, positiveSeconds, type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient } from '../client.js';
import { CliError, EXIT_USAGE } from '../errors.js';
import { takesNames } from '../names.js';
import { colour, formatBytes, printJson, spinner, stateColour, table, timeAgo } from '../output.js';

const MEMBER_STATES = ['alive', 'suspect', 'dead', 'left'];

/** What each drop reason means for an operator, in `gossip stats`. */
const DROP_MEANING: Record<DropReason, string> = {
  decrypt: 'no installed key opens it: a node with another cluster key',
  'plaintext-refused': 'unencrypted, while this node requires encryption',
  'encrypted-without-key': 'encrypted, while this node has no key',
  malformed: 'not a gossip packet of this version',
  replay: 'seen before (a replay, or a duplicate)',
  'wrong-target': 'meant for another node id',
  overload: 'arrived faster than this node processes',
};

export function gossipCommand(): Command {
  const gossip = new Command('gossip').description(
    'the cluster: join, leave, members, LAN detection, statistics, keys',
  );

  withJson(
    withApiOptions(
      gossip
        .command('join')
        .description('join the cluster through one or more running agents')
        .argument('<host[:port]...>', 'agents to join through (default port: the gossip port, 6768)'),
    ),
  ).action(async (seeds: string[], options: ReadOptions) => {
    const waiting = spinner(`joining through ${seeds.join(', ')}`, !options.json);
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

  withJson(
    withApiOptions(
      gossip.command('leave').description('leave the cluster gracefully (others see this node as left)'),
    ),
  ).action(async (options: ReadOptions) => {
    const result = await new AgentClient(options).post<{ left: boolean }>('/agent/leave');
    if (options.json) return printJson(result);
    process.stdout.write('left the cluster\n');
  });

  withJson(
    withApiOptions(
      takesNames(
        gossip
          .command('members')
          .description('every known member and its state (this node marked), or only those named')
          .argument('[name...]', 'only these members')
          .option(
            '--status <states>',
            'only members in these states: alive,suspect,dead,left',
            knownStates(MEMBER_STATES),
          )
          .option('--detail', 'add id, incarnation, version, round-trip time'),
        'members',
      ),
    ),
  ).action(async (names: string[], options: ReadOptions & { detail?: boolean; status?: string[] }) => {
    const query = options.status ? `?state=${options.status.join(',')}` : '';
    const all = await new AgentClient(options).get<MemberView[]>(`/agent/members${query}`);
    const members = names.length ? all.filter((member) => names.includes(member.name)) : all;
    const missing = names.filter((name) => !all.some((member) => member.name === name));
    if (missing.length && !options.status)
      throw new CliError(`no member named ${missing.join(', ')} (see \`opsbro gossip members\`)`);
    if (options.json) return printJson(members);
    // SINCE only says something for members that are not alive: when they were last seen so.
    const since = members.some((member) => member.state !== 'alive');
    const headers = [
      'NAME',
      'ADDRESS',
      'STATE',
      ...(since ? ['SINCE'] : []),
      'DC',
      'GROUPS',
      ...(options.detail ? ['ID', 'INC', 'VERSION', 'RTT'] : []),
    ];
    const rows = members.map((member) => [
      member.self ? `${member.name} ${colour.dim('(this node)')}` : member.name,
      `${member.address}:${member.port}`,
      stateColour(member.state),
      ...(since ? [member.state === 'alive' ? colour.dim('-') : timeAgo(member.since)] : []),
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
    if (!rows.length)
      return void process.stdout.write(
        `no member${options.status ? ` is ${options.status.join(' or ')}` : ''}\n`,
      );
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
    const waiting = spinner(`listening for answers for ${options.timeout} s`, !options.json);
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
          ['NAME', 'ADDRESS', 'MEMBER', 'DC', 'GROUPS', 'ID'],
          result.nodes.map((node) => [
            node.name,
            `${node.address}:${node.port}`,
            node.member ? colour.green('already') : colour.yellow('no'),
            node.datacenter,
            node.groups.join(',') || colour.dim('-'),
            node.id,
          ]),
        ),
      );
    }
    if (result.joined)
      process.stdout.write(`joined the cluster through ${result.joined.name} (${result.joined.address})\n`);
    else if (options.autoJoin && result.nodes.some((node) => !node.member))
      throw new CliError('found agents but could not join them');
  });

  withJson(
    withApiOptions(
      gossip
        .command('stats')
        .description('gossip packets and bytes in and out, dropped packets by reason, socket errors'),
    ),
  ).action(async (options: ReadOptions) => {
    const stats = await new AgentClient(options).get<Partial<GossipStats>>('/gossip/stats');
    if (options.json) return printJson(stats);
    if (stats.packetsIn === undefined) throw new CliError('gossip is not running on this agent');
    const full = stats as GossipStats;
    process.stdout.write(
      table(
        ['DIRECTION', 'PACKETS', 'BYTES'],
        [
          ['in', String(full.packetsIn), formatBytes(full.bytesIn)],
          ['out', String(full.packetsOut), formatBytes(full.bytesOut)],
        ],
      ),
    );
    process.stdout.write('\n');
    process.stdout.write(
      table(
        ['DROPPED', 'PACKETS', 'MEANING'],
        (Object.entries(full.dropped) as Array<[DropReason, number]>).map(([reason, count]) => [
          reason,
          count ? colour.yellow(String(count)) : colour.dim('0'),
          DROP_MEANING[reason] ?? '',
        ]),
      ),
    );
    const socketErrors = Object.entries(full.socketErrors);
    process.stdout.write(
      `\nsocket errors: ${socketErrors.length ? socketErrors.map(([code, count]) => `${code} ${count}`).join(', ') : colour.dim('none')}\n`,
    );
    // Absent from agents older than the repair.
    if (full.repairs !== undefined)
      process.stdout.write(`membership gaps repaired by push-pull: ${full.repairs}\n`);
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

  const changeKeys = async (
    op: 'install' | 'use' | 'remove',
    body: Record<string, string>,
    options: ReadOptions,
  ) => {
    const result = await new AgentClient(options).post<{ op: string; fingerprint: string }>('/gossip/keys', {
      op,
      ...body,
    });
    if (options.json) return printJson(result);
    process.stdout.write(`${op}: ${result.fingerprint} (gossiped to the cluster)\n`);
  };

  withJson(
    withApiOptions(
      keys
        .command('install')
        .description('install a key on every node (accepted, not yet used to send)')
        .argument('[key]', 'the base64 key (it shows in `ps` while the command runs: prefer --file)')
        .option('--file <path>', 'read the key from a file, or from stdin with `-` (it never shows in ps)'),
    ),
  )
    .addHelpText(
      'after',
      '\nRotation: opsbro agent keygen > key && opsbro gossip keys install --file key && ' +
        'opsbro gossip keys use FINGERPRINT',
    )
    .action(async (key: string | undefined, options: ReadOptions & { file?: string }) => {
      if (key !== undefined && options.file !== undefined)
        throw new CliError('give the key or --file, not both', EXIT_USAGE);
      if (key === undefined && options.file === undefined)
        throw new CliError('expected the key: --file PATH, --file - (stdin), or the key itself', EXIT_USAGE);
      await changeKeys('install', { key: key ?? readKeyFile(options.file!) }, options);
    });
  for (const [op, description] of [
    ['use', 'make an installed key the primary on every node'],
    ['remove', 'remove a key from every node (not the primary)'],
  ] as const) {
    withJson(
      withApiOptions(
        takesNames(
          keys
            .command(op)
            .description(description)
            .argument('<fingerprint>', 'see `opsbro gossip keys list`'),
          'keys',
        ),
      ),
    ).action((fingerprint: string, options: ReadOptions) => changeKeys(op, { fingerprint }, options));
  }

  return gossip;
}

/** A key file holds the key and maybe a newline (`opsbro agent keygen > key`); `-` is stdin. */
const MAX_KEY_FILE_BYTES = 1024;

function readKeyFile(path: string): string {
  let text: string;
  try {
    // fd 0 for stdin: a pipe or a redirected file, read whole.
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read the key from ${path === '-' ? 'stdin' : path}: ${messageOf(error)}`);
  }
  const key = text.trim();
  if (!key || text.length > MAX_KEY_FILE_BYTES || /\s/.test(key))
    throw new CliError(
      `${path === '-' ? 'stdin' : path}: expected one base64 key, as \`opsbro agent keygen\` prints it`,
    );
  return key;
}
