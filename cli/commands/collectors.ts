// `opsbro collectors list | show [NAME]`: what the agent collects, and the data itself.
import { Command } from 'commander';
import type { CollectorAnswer, CollectorStatus } from '../../agent/shared/api-types.js';
import { type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient } from '../client.js';
import { takesNames } from '../names.js';
import { colour, formatMs, keyValues, printJson, stateColour, table, timeAgo } from '../output.js';
import { withUnit } from '../units.js';

export function collectorsCommand(): Command {
  const collectors = new Command('collectors').description(
    'OS and application metrics collected by this agent',
  );

  withJson(withApiOptions(collectors.command('list').description('every collector and its state'))).action(
    async (options: ReadOptions) => {
      const list = await new AgentClient(options).get<CollectorStatus[]>('/agent/collectors');
      if (options.json) return printJson(list);
      const now = Date.now();
      const rows = list.map((status) => [
        nameAndType(status),
        status.pack ?? colour.dim('-'),
        `${status.interval_s}s`,
        stateColour(status.state),
        status.last_run_at ? timeAgo(status.last_run_at, now) : colour.dim('never'),
        status.last_duration_ms === undefined ? colour.dim('-') : formatMs(status.last_duration_ms),
        status.message ?? '',
      ]);
      process.stdout.write(table(['NAME', 'PACK', 'EVERY', 'STATE', 'LAST RUN', 'TOOK', 'MESSAGE'], rows));
    },
  );

  withJson(
    withApiOptions(
      takesNames(
        collectors
          .command('show')
          .description("a collector's state and last data, with units (all collectors' data without NAME)")
          .argument('[name]', 'collector name (see `opsbro collectors list`)'),
        'collectors',
      ),
    ),
  ).action(async (name: string | undefined, options: ReadOptions) => {
    const client = new AgentClient(options);
    const names = name
      ? [name]
      : (await client.get<CollectorStatus[]>('/agent/collectors')).map((status) => status.name);
    const shown = await Promise.all(
      names.map((each) => client.get<CollectorAnswer>(`/agent/collectors/${encodeURIComponent(each)}`)),
    );
    if (options.json) return printJson(name ? shown[0] : shown);
    const now = Date.now();
    const text = shown.map((status) => {
      const lines = keyValues([
        [
          'collector',
          `${status.name} (type ${status.type}${status.pack ? `, pack ${status.pack}` : ''}, every ${status.interval_s}s)`,
        ],
        ['state', stateColour(status.state) + (status.message ? `: ${status.message}` : '')],
        [
          'last run',
          status.last_run_at
            ? `${timeAgo(status.last_run_at, now)} (${status.last_run_at}), took ${formatMs(status.last_duration_ms)}`
            : colour.dim('never'),
        ],
      ]);
      const data = flattenForDisplay(status.type, status.data);
      return lines + data.map((line) => `  ${line}\n`).join('');
    });
    process.stdout.write(text.join('\n'));
  });
  return collectors;
}

/** The name, and its type when it says something more (a collector named after its type is the rule). */
function nameAndType(status: CollectorStatus): string {
  return status.type === status.name ? status.name : `${status.name} ${colour.dim(`(${status.type})`)}`;
}

/** `path = value unit` lines, in the paths expressions use: {collector.NAME.<path>}. */
function flattenForDisplay(type: string, value: unknown, prefix = ''): string[] {
  if (value === undefined) return [colour.dim('(no data yet)')];
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([key, item]) =>
      flattenForDisplay(type, item, prefix ? `${prefix}.${key}` : key),
    );
  }
  return [`${prefix} = ${withUnit(type, prefix, value)}`];
}
