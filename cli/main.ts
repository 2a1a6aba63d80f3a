// The `opsbro` command: parses argv, talks to the local agent's HTTP API, prints.
// Exit codes: 0 ok, 1 the operation failed, 2 the command line was wrong.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { agentCommand } from './commands/agent.js';
import { collectorsCommand } from './commands/collectors.js';
import { completionCommand } from './commands/completion.js';
import { detectorsCommand } from './commands/detectors.js';
import { evaluatorCommand } from './commands/evaluator.js';
import { gossipCommand } from './commands/gossip.js';
import { packsCommand } from './commands/packs.js';
import { CliError, EXIT_ERROR, EXIT_OK, EXIT_USAGE } from './errors.js';

function version(): string {
  const manifest = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('opsbro')
    .description('opsbro: gossip-clustered monitoring agent')
    .version(version(), '-V, --version')
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run with --help for usage)');
  // Commands appear here only when their subsystem exists in this build.
  program.addCommand(agentCommand());
  program.addCommand(gossipCommand());
  program.addCommand(collectorsCommand());
  program.addCommand(detectorsCommand());
  program.addCommand(evaluatorCommand());
  program.addCommand(packsCommand());
  program.addCommand(completionCommand(() => program));
  applyToTree(program, (command) => command.exitOverride());
  return program;
}

function applyToTree(command: Command, apply: (command: Command) => void): void {
  apply(command);
  for (const sub of command.commands) applyToTree(sub, apply);
}

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help asked for (--help, `help`, --version) is a success; help shown because a command
      // was missing, and every other parse error, is a usage error.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT_OK;
      if (error.code === 'commander.help' && error.exitCode === 0) return EXIT_OK;
      return EXIT_USAGE;
    }
    if (error instanceof CliError) {
      process.stderr.write(`opsbro: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(
      `opsbro: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return EXIT_ERROR;
  }
}

const code = await run(process.argv);
// `agent start` keeps the process alive itself; everything else ends here.
process.exitCode = code;
