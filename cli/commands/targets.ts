// `opsbro targets [ID [enable|disable|test]]`: skypunch's CLI over this node's checks. A list with
// pass and fail counts; one target's every detail and counter; switching it on or off on every
// node; a test run that prints the timed trace as skypunch prints it.
import { Argument, Command } from 'commander';
import type { CheckRunAnswer, TargetStatus, TargetSwitchAnswer } from '../../agent/shared/api-types.js';
import { type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient } from '../client.js';
import { takesNames } from '../names.js';
import { colour, formatMs, keyValues, printJson, stateColour, table, timeAgo } from '../output.js';
import { stateWords } from './checks.js';

const path = (name: string, tail = '') => `/monitoring/targets/${encodeURIComponent(name)}${tail}`;

export function targetsCommand(): Command {
  const targets = withJson(
    withApiOptions(
      takesNames(
        new Command('targets')
          .description(
            "this node's checks as skypunch's targets: counters, one target's details, enable|disable (cluster-wide), test",
          )
          .argument('[id]', 'a check name (see `opsbro targets`)')
          .addArgument(
            new Argument('[action]', 'enable or disable it on every node, or test it now').choices([
              'enable',
              'disable',
              'test',
            ]),
          ),
        'checks',
      ),
    ),
  );
  targets.action(async (id: string | undefined, action: string | undefined, options: ReadOptions) => {
    const client = new AgentClient(options);
    if (id === undefined) {
      const listed = await client.get<TargetStatus[]>('/monitoring/targets');
      if (options.json) return printJson(listed);
      process.stdout.write(listTable(listed));
      return;
    }
    if (action === 'enable' || action === 'disable') {
      const answer = await client.post<TargetSwitchAnswer>(path(id, `/${action}`));
      if (options.json) return printJson(answer);
      process.stdout.write(`target ${id} ${answer.enabled ? 'enabled' : 'disabled'} on every node\n`);
      return;
    }
    if (action === 'test') {
      const answer = await client.post<CheckRunAnswer>(path(id, '/test'));
      if (options.json) return printJson(answer);
      process.stdout.write(testReport(id, answer));
      return;
    }
    const target = await client.get<TargetStatus>(path(id));
    if (options.json) return printJson(target);
    process.stdout.write(details(target));
  });
  return targets;
}

function listTable(targets: TargetStatus[]): string {
  if (!targets.length) return colour.dim('no checks on this node\n');
  const rows = targets.map((target) => [
    target.name,
    target.type,
    stateWords(target),
    target.last_run_at ? timeAgo(target.last_run_at) : colour.dim('never'),
    target.enabled ? stateColour('yes') : colour.yellow('no'),
    String(target.counters?.pass ?? 0),
    String(target.counters?.fail ?? 0),
  ]);
  return table(['ID', 'TYPE', 'STATUS', 'LAST CHECKED', 'ENABLED', 'PASS', 'FAIL'], rows);
}

function details(target: TargetStatus): string {
  const counters = target.counters;
  const pairs: Array<[string, string]> = [
    ['id', target.name],
    ['type', target.type],
    ['status', stateWords(target)],
    ['enabled', target.enabled ? 'yes' : colour.yellow('no (switched off on every node)')],
    ['output', target.output || colour.dim('-')],
    ['last checked', target.last_run_at ? `${timeAgo(target.last_run_at)} (${target.last_run_at})` : 'never'],
    ['last change', target.last_change_at ? timeAgo(target.last_change_at) : '-'],
    ['interval', `${target.interval_s} s (retry ${target.retry_interval_s} s)`],
    ['max attempts', String(target.max_attempts)],
    ['took', target.duration_ms !== undefined ? formatMs(target.duration_ms) : '-'],
    ['source', target.source ?? '-'],
  ];
  if (counters)
    pairs.push(
      ['pass count', String(counters.pass)],
      ['fail count', String(counters.fail)],
      ['2xx count', String(counters.http_2xx)],
      ['3xx count', String(counters.http_3xx)],
      ['4xx count', String(counters.http_4xx)],
      ['5xx count', String(counters.http_5xx)],
      ['network fail count', String(counters.network_fails)],
      ['repeated fail count', String(counters.repeated_fails)],
    );
  return keyValues(pairs);
}

/** skypunch's test output: the steps with their times, then the verdict. */
function testReport(id: string, answer: CheckRunAnswer): string {
  const lines = [
    `${colour.dim(`testing ${id} at ${answer.at}`)}`,
    ...(answer.long_output ? answer.long_output.split('\n') : []),
    `${stateWords(answer)}: ${answer.output}`,
    colour.dim(`took ${formatMs(answer.duration_ms)}`),
  ];
  return lines.join('\n') + '\n';
}
