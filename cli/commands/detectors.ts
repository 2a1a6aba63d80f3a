// `opsbro detectors list | show NAME`: the rules that put this node in groups, and what they found.
import { Command } from 'commander';
import type { DetectorsAnswer, DetectorStatus } from '../../agent/shared/api-types.js';
import { type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient } from '../client.js';
import { CliError } from '../errors.js';
import { takesNames } from '../names.js';
import { colour, keyValues, printJson, stateColour, table, timeAgo } from '../output.js';

function result(detector: DetectorStatus): string {
  if (detector.state === 'ERROR') return stateColour('ERROR') + `: ${detector.message ?? ''}`;
  return detector.last_result === null ? colour.dim('pending') : stateColour(String(detector.last_result));
}

export function detectorsCommand(): Command {
  const detectors = new Command('detectors').description('rules that put this node in groups');
  withJson(
    withApiOptions(detectors.command('list').description('every detector, its rule and result')),
  ).action(async (options: ReadOptions) => {
    const answer = await new AgentClient(options).get<DetectorsAnswer>('/agent/detectors');
    if (options.json) return printJson(answer);
    const rows = answer.detectors.map((detector) => [
      detector.name,
      detector.pack ?? colour.dim('-'),
      detector.rule,
      result(detector),
      detector.groups_added.join(',') || colour.dim('-'),
    ]);
    process.stdout.write(table(['NAME', 'PACK', 'RULE', 'RESULT', 'GROUPS ADDED'], rows));
    process.stdout.write(
      `\nnode groups: ${answer.groups.join(', ') || colour.dim('(none)')}` +
        (answer.static_groups.length ? ` (static: ${answer.static_groups.join(', ')})` : '') +
        '\n',
    );
  });
  withJson(
    withApiOptions(
      takesNames(
        detectors
          .command('show')
          .description('one detector: its rule, result, the groups it gives, where it is defined')
          .argument('<name>', 'detector name (see `opsbro detectors list`)'),
        'detectors',
      ),
    ),
  ).action(async (name: string, options: ReadOptions) => {
    const answer = await new AgentClient(options).get<DetectorsAnswer>('/agent/detectors');
    const detector = answer.detectors.find((each) => each.name === name);
    if (!detector) throw new CliError(`no detector named ${name} (see \`opsbro detectors list\`)`);
    if (options.json) return printJson(detector);
    process.stdout.write(
      keyValues([
        [
          'detector',
          `${detector.name}${detector.pack ? ` (pack ${detector.pack})` : ''}, every ${detector.interval_s}s`,
        ],
        ['rule', detector.rule],
        ['result', result(detector)],
        ['groups', detector.groups_added.join(', ') || colour.dim('-')],
        [
          'last run',
          detector.last_run_at
            ? `${timeAgo(detector.last_run_at)} (${detector.last_run_at})`
            : colour.dim('never'),
        ],
        ['source', detector.source],
      ]),
    );
  });
  return detectors;
}
