// The `opsbro` command tree, and how a run ends: one error format (`opsbro: ...` on stderr, or
// `{"error": ..., "exit_code": N}` on stdout under --json), and the exit code.
// Exit codes: 0 ok, 1 the operation failed, 2 the command line was wrong.
import { Command, CommanderError } from 'commander';
import { agentCommand } from './commands/agent.js';
import { checksCommand } from './commands/checks.js';
import { collectorsCommand } from './commands/collectors.js';
import { completionCommand, isHidden, namesCommand } from './commands/completion.js';
import { detectorsCommand } from './commands/detectors.js';
import { evaluatorCommand } from './commands/evaluator.js';
import { gossipCommand } from './commands/gossip.js';
import { kvCommand } from './commands/kv.js';
import { metricsCommand } from './commands/metrics.js';
import { packsCommand } from './commands/packs.js';
import { statusCommand } from './commands/status.js';
import { targetsCommand } from './commands/targets.js';
import { cliVersion, versionCommand } from './commands/version.js';
import { CliError, EXIT_ERROR, EXIT_OK, EXIT_USAGE } from './errors.js';
import { printJson } from './output.js';

export function buildProgram(): Command {
  const program = new Command('opsbro')
    .description('opsbro: gossip-clustered monitoring agent')
    .version(cliVersion(), '-V, --version')
    .showSuggestionAfterError(true);
  // Commands appear here only when their subsystem exists in this build.
  program.addCommand(agentCommand());
  program.addCommand(gossipCommand());
  program.addCommand(collectorsCommand());
  program.addCommand(detectorsCommand());
  program.addCommand(evaluatorCommand());
  program.addCommand(checksCommand());
  program.addCommand(kvCommand());
  program.addCommand(metricsCommand());
  program.addCommand(statusCommand());
  program.addCommand(targetsCommand());
  program.addCommand(packsCommand());
  program.addCommand(versionCommand());
  program.addCommand(completionCommand(() => program));
  program.addCommand(namesCommand(), { hidden: true });
  return program;
}

export function applyToTree(command: Command, apply: (command: Command) => void): void {
  apply(command);
  for (const sub of command.commands) applyToTree(sub, apply);
}

/** `opsbro agent info`: the words that name a command. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/** --json on the command line (before a `--`): every answer, errors included, is JSON on stdout. */
export function jsonRequested(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--json');
}

/**
 * The arguments with --json moved last (before a `--`), where the command that prints reads it:
 * `opsbro --json agent info` and `opsbro agent --json info` mean `opsbro agent info --json`.
 */
export function jsonLast(args: string[]): string[] {
  const end = args.includes('--') ? args.indexOf('--') : args.length;
  const options = args.slice(0, end);
  if (!options.includes('--json')) return args;
  return [...options.filter((arg) => arg !== '--json'), '--json', ...args.slice(end)];
}

/** What commander wanted to print, held back so that it reaches the operator in our format. */
interface CommanderOutput {
  /** Help or the version, asked for (stdout). */
  out: string;
  /** Help shown because a command was missing (stderr). */
  helpOnError: string;
  /** commander's message for a usage error. */
  error?: string;
  /** The command that printed (whose help, whose error). */
  command?: Command;
}

export async function run(argv: string[]): Promise<number> {
  const json = jsonRequested(argv.slice(2));
  const program = buildProgram();
  const captured: CommanderOutput = { out: '', helpOnError: '' };
  applyToTree(program, (command) => {
    // A command that only groups others lets options through to them (--json among them); given
    // no subcommand, it says which it takes.
    if (command.commands.length) command.allowUnknownOption();
    command.exitOverride().configureOutput({
      writeOut: (text) => {
        if (json) captured.out += text;
        else process.stdout.write(text);
      },
      writeErr: (text) => {
        captured.helpOnError += text;
        captured.command = command;
      },
      outputError: (text) => {
        captured.error = text;
        captured.command = command;
      },
    });
  });
  try {
    await program.parseAsync([...argv.slice(0, 2), ...jsonLast(argv.slice(2))]);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help asked for (--help, `help`) and --version are a success.
      if (error.code === 'commander.version') {
        if (json) printJson({ version: cliVersion() });
        return EXIT_OK;
      }
      if (
        error.code === 'commander.helpDisplayed' ||
        (error.code === 'commander.help' && error.exitCode === 0)
      ) {
        if (json) printJson({ help: captured.out });
        return EXIT_OK;
      }
      const usage = usageError(error, captured);
      return report(
        new CliError(usage.message, EXIT_USAGE),
        json,
        usage.withHelp ? captured.helpOnError : '',
      );
    }
    if (error instanceof CliError) return report(error, json);
    const message = `unexpected error: ${error instanceof Error ? (json ? error.message : (error.stack ?? error.message)) : String(error)}`;
    return report(new CliError(message, EXIT_ERROR), json);
  }
}

/**
 * commander's usage error in our words, on one line, with where to read the usage; the help
 * follows (on stderr) when a command was missing.
 */
function usageError(
  error: CommanderError,
  captured: CommanderOutput,
): { message: string; withHelp: boolean } {
  const command = captured.command;
  const path = command ? commandPath(command) : 'opsbro';
  const see = `see \`${path} --help\``;
  if (error.code === 'commander.help') {
    // A command that only groups others was given none of them, maybe an option it let through.
    const unknown = (command?.args ?? []).find((arg) => arg.startsWith('-') && arg !== '--json');
    if (unknown) return { message: `unknown option '${unknown}'; ${see}`, withHelp: false };
    const names = (command?.commands ?? []).filter((sub) => !isHidden(sub)).map((sub) => sub.name());
    return { message: `missing command after '${path}': ${names.join(', ')} (${see})`, withHelp: true };
  }
  const text = (captured.error ?? error.message)
    .trim()
    .replace(/^error: /, '')
    .replace(/\s*\n\(Did you mean (.*)\?\)$/s, ' (did you mean $1?)')
    .replace(/\.$/, '');
  return { message: `${text}; ${see}`, withHelp: false };
}

/** Prints an error the one way this command line asked for, and returns its exit code. */
function report(error: CliError, json: boolean, help = ''): number {
  if (json) {
    printJson({ error: error.message, exit_code: error.exitCode, ...error.details });
  } else {
    process.stderr.write(`opsbro: ${error.message}\n${help ? `\n${help}` : ''}`);
  }
  return error.exitCode;
}
