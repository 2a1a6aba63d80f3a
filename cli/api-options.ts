// Options every command that talks to an agent accepts, and --json for read commands.
import { type Command, Option } from 'commander';
import { AgentClient, type ApiOptions } from './client.js';

export function withApiOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--api <url>', 'agent API: http://HOST:PORT or unix:/path/api.sock').env('OPSBRO_API'),
    )
    .addOption(new Option('--token <token>', 'API bearer token').env('OPSBRO_TOKEN'));
}

export function withJson(command: Command): Command {
  return command.option('--json', 'print JSON instead of a table');
}

export function clientFrom(options: ApiOptions): AgentClient {
  return new AgentClient(options);
}
