// `opsbro packs list | show NAME`: the packs this agent loaded and their parameters.
import { Command } from 'commander';
import type { PackAnswer } from '../../agent/shared/api-types.js';
import { type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient } from '../client.js';
import { takesNames } from '../names.js';
import { colour, keyValues, printJson, table } from '../output.js';

export function packsCommand(): Command {
  const packs = new Command('packs').description(
    'packs: detectors, collectors and checks for one technology',
  );
  withJson(withApiOptions(packs.command('list').description('every pack loaded'))).action(
    async (options: ReadOptions) => {
      const list = await new AgentClient(options).get<PackAnswer[]>('/agent/packs');
      if (options.json) return printJson(list);
      const rows = list.map((pack) => [
        pack.enabled ? pack.name : `${pack.name} ${colour.dim('(disabled)')}`,
        pack.version,
        String(pack.detectors.length),
        String(pack.collectors.length),
        pack.description,
      ]);
      process.stdout.write(table(['NAME', 'VERSION', 'DETECTORS', 'COLLECTORS', 'DESCRIPTION'], rows));
    },
  );
  withJson(
    withApiOptions(
      takesNames(packs.command('show').description('one pack').argument('<name>', 'pack name'), 'packs'),
    ),
  ).action(async (name: string, options: ReadOptions) => {
    const pack = await new AgentClient(options).get<PackAnswer>(`/agent/packs/${encodeURIComponent(name)}`);
    if (options.json) return printJson(pack);
    const list = (items: string[]) => items.join(', ') || colour.dim('-');
    process.stdout.write(
      keyValues([
        [
          'pack',
          `${pack.name} ${pack.version}${pack.enabled ? '' : ' (disabled: packs.' + pack.name + '.enabled is false)'}`,
        ],
        ['description', pack.description || colour.dim('-')],
        ['dir', pack.dir],
        ['detectors', list(pack.detectors)],
        ['collectors', list(pack.collectors)],
        ['checks', list(pack.checks)],
      ]),
    );
    const parameters = Object.entries(pack.parameters);
    if (!parameters.length) return;
    process.stdout.write('\n');
    process.stdout.write(
      table(
        ['PARAMETER', 'VALUE', 'DEFAULT'],
        parameters.map(([key, value]) => [
          key,
          JSON.stringify(value) + (pack.overridden.includes(key) ? colour.yellow(' (overridden)') : ''),
          JSON.stringify(pack.defaults[key]),
        ]),
      ),
    );
  });
  return packs;
}
