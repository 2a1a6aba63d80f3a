// `opsbro checks list | show NAME | run NAME`: this node's checks (or every node's), one check's
// state and history, and a run on demand. A check's state is data: `checks run` exits 0 whatever
// the check found (scripts read the state from the output or --json).
import { Command, Option } from 'commander';
import type {
  CheckBrief,
  CheckDetail,
  CheckItem,
  CheckPlacement,
  CheckRunAnswer,
  CheckStatus,
  NodeCheckTable,
  NodeMonitoringState,
  PerfDatum,
} from '../../agent/shared/api-types.js';
import { knownStates, type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient } from '../client.js';
import { takesNames } from '../names.js';
import { colour, formatMs, keyValues, printJson, stateColour, table, timeAgo } from '../output.js';

const LISTED_STATES = ['ok', 'warning', 'critical', 'unknown', 'pending'];

/** `CRITICAL`, `CRITICAL soft 2/3`: the state as operators read it, coloured. */
export function stateWords(check: {
  state: string;
  state_type: string;
  attempt?: number;
  max_attempts?: number;
}): string {
  const state = stateColour(check.state.toUpperCase());
  if (check.state_type !== 'soft') return state;
  const attempt =
    check.attempt !== undefined && check.max_attempts ? ` ${check.attempt}/${check.max_attempts}` : '';
  return `${state} ${colour.dim(`soft${attempt}`)}`;
}

/** `load1=0.5;1;2;0` as the plugin guidelines write it, one datum. */
function perfdatum(datum: PerfDatum): string {
  const tail = [datum.warn, datum.crit, datum.min, datum.max].map((field) =>
    field === undefined ? '' : String(field),
  );
  while (tail.length && tail.at(-1) === '') tail.pop();
  return `${datum.label}=${datum.value}${datum.uom}${tail.length ? `;${tail.join(';')}` : ''}`;
}

const sinceOf = (ms: number) => (ms ? timeAgo(new Date(ms).toISOString()) : colour.dim('-'));

type ListOptions = ReadOptions & { all?: boolean; node?: string; state?: string[] };

export function checksCommand(): Command {
  const checks = new Command('checks').description(
    "checks: this node's (or every node's) states, history, runs",
  );

  withJson(
    withApiOptions(
      checks
        .command('list')
        .description("this node's checks and their states (--all: every node's, as this node knows them)")
        .option('--all', "every node's checks")
        .addOption(new Option('--node <name>', "one node's checks (answered by this node)").conflicts('all'))
        .option(
          '--state <states>',
          'only checks in these states: ok,warning,critical,unknown,pending',
          knownStates(LISTED_STATES),
        ),
    ),
  ).action(async (options: ListOptions) => {
    const client = new AgentClient(options);
    const wanted = (state: string) => !options.state || options.state.includes(state);
    if (options.all || options.node) {
      const tables = options.all
        ? await client.get<NodeCheckTable[]>('/monitoring/tables')
        : [await client.get<NodeCheckTable>(`/monitoring/state/${encodeURIComponent(options.node!)}`)];
      const shown = tables.map((each) => ({
        ...each,
        checks: each.checks.filter((brief) => wanted(brief.state)),
      }));
      if (options.json) return printJson(options.all ? shown : shown[0]);
      process.stdout.write(clusterTable(shown));
      return;
    }
    const state = await client.get<NodeMonitoringState>('/monitoring/state');
    const statuses = state.statuses.filter((status) => wanted(status.state));
    if (options.json) return printJson(statuses);
    if (state.override)
      process.stdout.write(`${colour.red('status overridden to CRITICAL')}: ${state.override.reason}\n\n`);
    process.stdout.write(localTable(statuses));
  });

  withJson(
    withApiOptions(
      takesNames(
        checks
          .command('show')
          .description('one check: its state, output, perfdata, recent results and state changes')
          .argument('<name>', 'check name (see `opsbro checks list`)'),
        'checks',
      ),
    ),
  ).action(async (name: string, options: ReadOptions) => {
    const detail = await new AgentClient(options).get<CheckDetail>(
      `/monitoring/checks/${encodeURIComponent(name)}`,
    );
    if (options.json) return printJson(detail);
    process.stdout.write(showCheck(detail));
  });

  withJson(
    withApiOptions(
      takesNames(
        checks
          .command('run')
          .description('run one check now and print what it found (exit 0 whatever the state)')
          .argument('<name>', 'check name (see `opsbro checks list`)'),
        'checks',
      ),
    ),
  ).action(async (name: string, options: ReadOptions) => {
    const answer = await new AgentClient(options).post<CheckRunAnswer>(
      `/monitoring/checks/${encodeURIComponent(name)}/run`,
    );
    if (options.json) return printJson(answer);
    const lines = [
      `${stateWords(answer)}: ${answer.output}`,
      ...(answer.long_output ? [answer.long_output] : []),
      ...(answer.perfdata.length ? [`perfdata: ${answer.perfdata.map(perfdatum).join(' ')}`] : []),
      colour.dim(`took ${formatMs(answer.duration_ms)}`),
    ];
    process.stdout.write(lines.join('\n') + '\n');
  });
  withJson(
    withApiOptions(
      checks
        .command('placed')
        .description('the placed checks (run_on): which members run each, their results, the combined state'),
    ),
  ).action(async (options: ReadOptions) => {
    const placed = await new AgentClient(options).get<CheckPlacement[]>('/monitoring/placed');
    if (options.json) return printJson(placed);
    process.stdout.write(placedTable(placed));
  });
  return checks;
}

/** One line per placed check with its combined state, then one line per runner. */
function placedTable(placed: CheckPlacement[]): string {
  if (!placed.length) return colour.dim('no placed checks (run_on) on this node\n');
  const rows = placed.flatMap((check) => [
    [
      check.name,
      `${check.group} x${check.replicas}, quorum ${check.quorum}`,
      stateWords(check),
      check.output,
    ],
    ...check.runners.map((runner) => [
      colour.dim(`  ${runner.node}`),
      '',
      stateWords(runner),
      runner.output || colour.dim('no result yet'),
    ]),
  ]);
  return table(['CHECK / RUNNER', 'RUN ON', 'STATE', 'OUTPUT'], rows);
}

function localTable(statuses: CheckStatus[]): string {
  if (!statuses.length) return colour.dim('no checks\n');
  const rows = statuses.map((status) => [
    status.name,
    stateWords(status) + (status.flapping ? ` ${colour.yellow('flapping')}` : ''),
    status.last_change_at ? timeAgo(status.last_change_at) : colour.dim('-'),
    status.last_run_at ? timeAgo(status.last_run_at) : colour.dim('never'),
    status.output,
  ]);
  return table(['NAME', 'STATE', 'SINCE', 'LAST RUN', 'OUTPUT'], rows);
}

function clusterTable(tables: NodeCheckTable[]): string {
  const rows = tables.flatMap((each) => [
    ...(each.override
      ? [
          [
            each.node,
            colour.dim('(override)'),
            stateColour('CRITICAL'),
            colour.dim('-'),
            each.override.reason,
          ],
        ]
      : []),
    ...each.checks.map((brief: CheckBrief) => [
      each.node,
      brief.name,
      stateWords(brief),
      sinceOf(brief.since),
      brief.output,
    ]),
  ]);
  if (!rows.length) return colour.dim('no checks\n');
  return table(['NODE', 'NAME', 'STATE', 'SINCE', 'OUTPUT'], rows);
}

function showCheck({ status, results, changes }: CheckDetail): string {
  const pairs: Array<[string, string]> = [
    [
      'check',
      `${status.name}${status.display_name ? ` (${status.display_name})` : ''}, type ${status.type}` +
        `${status.pack ? `, pack ${status.pack}` : ''}, every ${status.interval_s}s (retry ${status.retry_interval_s}s)`,
    ],
    [
      'state',
      `${stateWords({ state: status.state, state_type: status.state_type })}, attempt ${status.attempt}/${status.max_attempts}` +
        (status.last_change_at ? `, since ${timeAgo(status.last_change_at)} (${status.last_change_at})` : ''),
    ],
    ['output', status.output || colour.dim('(none yet)')],
  ];
  if (status.long_output) pairs.push(['long output', status.long_output]);
  if (status.perfdata.length) pairs.push(['perfdata', status.perfdata.map(perfdatum).join(' ')]);
  pairs.push(
    [
      'last hard state',
      `${stateColour(status.last_hard_state.toUpperCase())}${status.last_hard_change_at ? ` since ${timeAgo(status.last_hard_change_at)}` : ''}`,
    ],
    [
      'flapping',
      `${status.flapping ? colour.yellow('yes') : 'no'} (${status.percent_state_change.toFixed(1)}% state change)`,
    ],
    [
      'last run',
      status.last_run_at
        ? `${timeAgo(status.last_run_at)} (${status.last_run_at}), took ${formatMs(status.duration_ms)}`
        : colour.dim('never'),
    ],
    ['next run', status.next_run_at ? status.next_run_at : colour.dim('-')],
    ['handlers', status.handlers.join(', ') || colour.dim('-')],
  );
  if (status.notes) pairs.push(['notes', status.notes]);
  if (status.source) pairs.push(['source', status.source]);
  const recent = results.length
    ? table(
        ['AT', 'STATE', 'TOOK', 'OUTPUT'],
        results.map((result) => [result.at, stateWords(result), formatMs(result.duration_ms), result.output]),
      )
    : colour.dim('(no results yet)\n');
  const history = changes.length
    ? table(
        ['AT', 'FROM', 'TO', 'ATTEMPT', 'OUTPUT'],
        changes.map((change) => [
          change.at,
          stateColour(change.from.toUpperCase()),
          stateWords({ state: change.to, state_type: change.state_type }),
          String(change.attempt),
          change.output,
        ]),
      )
    : colour.dim('(no state changes yet)\n');
  const items = status.items?.length
    ? `\n${colour.bold(`items (${status.items.length}, from the last run)`)}\n${itemsTable(status.items)}`
    : '';
  return `${keyValues(pairs)}${items}\n${colour.bold('recent results')}\n${recent}\n${colour.bold('state changes')}\n${history}`;
}

/** A check's items (aws_ec2's instances, mongodb's members, celery's workers), one line each. */
export function itemsTable(items: readonly CheckItem[]): string {
  return table(
    ['NAME', 'STATE', 'OUTPUT'],
    items.map((item) => [item.name, stateColour(item.state.toUpperCase()), item.output]),
  );
}
