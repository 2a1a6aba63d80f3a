// `opsbro collectors list | show [NAME]`: what the agent collects, and the data itself.
import { Command } from 'commander';
import type { CollectorStatus } from '../../agent/shared/api-types.js';
import { type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient } from '../client.js';
import { colour, keyValues, printJson, stateColour, table } from '../output.js';

export function collectorsCommand(): Command {
  const collectors = new Command('collectors').description(
    'OS and application metrics collected by this agent',
  );

  withJson(withApiOptions(collectors.command('list').description('every collector and its state'))).action(
    async (options: ReadOptions) => {
      const list = await new AgentClient(options).get<CollectorStatus[]>('/agent/collectors');
      if (options.json) return printJson(list);
      const rows = list.map((status) => [
        status.name,
        status.type,
        status.pack ?? colour.dim('-'),
        `${status.interval_s}s`,
        stateColour(status.state),
        status.last_duration_ms === undefined ? colour.dim('-') : `${status.last_duration_ms} ms`,
        status.message ?? '',
      ]);
      process.stdout.write(table(['NAME', 'TYPE', 'PACK', 'EVERY', 'STATE', 'LAST RUN', 'MESSAGE'], rows));
    },
  );

  withJson(
    withApiOptions(
      collectors
        .command('show')
        .description("a collector's state and last data (all collectors' data without NAME)")
        .argument('[name]', 'collector name (see `opsbro collectors list`)'),
    ),
  ).action(async (name: string | undefined, options: ReadOptions) => {
    const client = new AgentClient(options);
    const names = name
      ? [name]
      : (await client.get<CollectorStatus[]>('/agent/collectors')).map((status) => status.name);
    const shown = await Promise.all(
      names.map((each) =>
        client.get<CollectorStatus & { data?: unknown }>(`/agent/collectors/${encodeURIComponent(each)}`),
      ),
    );
    if (options.json) return printJson(name ? shown[0] : shown);
    for (const status of shown) {
      process.stdout.write(
        keyValues([
          ['collector', `${status.name} (${status.type}${status.pack ? `, pack ${status.pack}` : ''})`],
          ['state', stateColour(status.state) + (status.message ? `: ${status.message}` : '')],
          ['last run', status.last_run_at ? `${status.last_run_at} (${status.last_duration_ms} ms)` : '-'],
        ]),
      );
      for (const line of flattenForDisplay(status.data)) process.stdout.write(`  ${line}\n`);
      process.stdout.write('\n');
    }
  });
  return collectors;
}

/** `path = value` lines, in the paths expressions use: {collector.NAME.<path>}. */
function flattenForDisplay(value: unknown, prefix = ''): string[] {
  if (value === undefined) return [colour.dim('(no data yet)')];
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([key, item]) =>
      flattenForDisplay(item, prefix ? `${prefix}.${key}` : key),
    );
  }
  return [`${prefix} = ${JSON.stringify(value)}`];
}
