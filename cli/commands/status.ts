// `opsbro status [show] | override critical --reason R | clear`: this node's worst-of status,
// megaphone style (the worst hard state of its checks, the non-OK ones in the message), and the
// override that forces it CRITICAL until cleared (megaphone's `--global`).
import { Argument, Command } from 'commander';
import type { OverrideAnswer, StatusAnswer } from '../../agent/shared/api-types.js';
import { type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient } from '../client.js';
import { colour, keyValues, printJson, stateColour, table, timeAgo } from '../output.js';

export function statusCommand(): Command {
  const status = new Command('status').description(
    "this node's worst-of status (megaphone style), and its override",
  );

  withJson(
    withApiOptions(
      status.command('show', { isDefault: true }).description('the status (what `opsbro status` prints)'),
    ),
  ).action(async (options: ReadOptions) => {
    const answer = await new AgentClient(options).get<StatusAnswer>('/status');
    if (options.json) return printJson(answer);
    const pairs: Array<[string, string]> = [
      ['status', stateColour(answer.status)],
      ['message', answer.message],
    ];
    if (answer.override)
      pairs.push(['override', `since ${timeAgo(answer.override.since)}: ${answer.override.reason}`]);
    const rows = answer.checks.map((check) => [
      check.name,
      stateColour(check.status) + (check.state_type === 'soft' ? ` ${colour.dim('soft')}` : ''),
      check.date ? timeAgo(check.date) : colour.dim('-'),
      check.message,
    ]);
    process.stdout.write(
      keyValues(pairs) + (rows.length ? `\n${table(['CHECK', 'STATUS', 'SINCE', 'MESSAGE'], rows)}` : ''),
    );
  });

  withJson(
    withApiOptions(
      status
        .command('override')
        .description('force this node CRITICAL until `opsbro status clear` (kept across restarts)')
        .addArgument(new Argument('<state>', 'the forced state').choices(['critical']))
        .requiredOption('--reason <reason>', 'why: shown in the status and spread to the cluster'),
    ),
  ).action(async (_state: string, options: ReadOptions & { reason: string }) => {
    const answer = await new AgentClient(options).post<OverrideAnswer>('/status/override', {
      state: 'critical',
      reason: options.reason,
    });
    if (options.json) return printJson(answer);
    process.stdout.write(`status overridden to ${stateColour('CRITICAL')}: ${options.reason}\n`);
  });

  withJson(withApiOptions(status.command('clear').description('clear the override'))).action(
    async (options: ReadOptions) => {
      const answer = await new AgentClient(options).call<OverrideAnswer>('DELETE', '/status/override');
      if (options.json) return printJson(answer);
      process.stdout.write(answer.cleared ? 'override cleared\n' : 'no override was set\n');
    },
  );
  return status;
}
