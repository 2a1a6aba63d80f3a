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

/**
 * A parser of `--state critical,warning`-style options: the comma-separated words, each among
 * `known` (case does not matter); anything else is a usage error (exit 2).
 */
export function knownStates(known: readonly string[]): (value: string) => string[] {
  return (value) => {
    const states = value
      .split(',')
      .map((state) => state.trim().toLowerCase())
      .filter(Boolean);
    if (!states.length || states.some((state) => !known.includes(state)))
      throw new InvalidArgumentError(`expected states among ${known.join(', ')}, comma-separated`);
    return states;
  };
}
