// Options every command that talks to an agent accepts, and --json, which every command accepts.
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ApiOptions } from './client.js';

/** The options of a read command: the API options and --json. */
export type ReadOptions = ApiOptions & { json?: boolean };

export function withApiOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--api <url>', 'agent API: http://HOST:PORT or unix:/path/api.sock').env('OPSBRO_API'),
    )
    .addOption(
      new Option('--token <token>', 'API bearer token (prefer the variable: arguments show in ps)').env(
        'OPSBRO_TOKEN',
      ),
    );
}

export function withJson(command: Command): Command {
  return command.option('--json', 'print JSON (errors too: {"error": ..., "exit_code": N} on stdout)');
}

/** A commander parser for a positive number of seconds (exit 2 on anything else). */
export function positiveSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new InvalidArgumentError('expected a positive number of seconds');
  return seconds;
}
