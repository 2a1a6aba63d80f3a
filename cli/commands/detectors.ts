// `opsbro detectors list`: the rules that put this node in groups, and what they found.
import { Command } from 'commander';
import type { DetectorStatus } from '../../agent/shared/api-types.js';
import { type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient } from '../client.js';
import { colour, printJson, stateColour, table } from '../output.js';

interface DetectorsAnswer {
  groups: string[];
  static_groups: string[];
  detectors: DetectorStatus[];
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
      detector.state === 'ERROR'
        ? stateColour('ERROR') + `: ${detector.message ?? ''}`
        : detector.last_result === null
          ? colour.dim('pending')
          : stateColour(String(detector.last_result)),
      detector.groups_added.join(',') || colour.dim('-'),
    ]);
    process.stdout.write(table(['NAME', 'PACK', 'RULE', 'RESULT', 'GROUPS ADDED'], rows));
    process.stdout.write(
      `\nnode groups: ${answer.groups.join(', ') || colour.dim('(none)')}` +
        (answer.static_groups.length ? ` (static: ${answer.static_groups.join(', ')})` : '') +
        '\n',
    );
  });
  return detectors;
}
