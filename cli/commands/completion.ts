// `opsbro completion bash`: a bash completion script generated from the command tree itself,
// so it can never disagree with the commands that exist.
import { Command } from 'commander';
import { CliError, EXIT_USAGE } from '../errors.js';

/** Options whose value is a directory: completed with directory names. */
const DIRECTORY_OPTIONS = ['--config-dir', '--data-dir'];

export function completionCommand(root: () => Command): Command {
  return new Command('completion')
    .description('print a shell completion script: source <(opsbro completion bash)')
    .argument('<shell>', 'shell to complete for (bash)')
    .action((shell: string) => {
      if (shell !== 'bash')
        throw new CliError(`completion: unsupported shell '${shell}' (supported: bash)`, EXIT_USAGE);
      process.stdout.write(bashCompletion(root()));
    });
}

interface CommandWords {
  path: string;
  words: string[];
}

function walk(command: Command, prefix: string[], out: CommandWords[]): void {
  const subcommands = command.commands.filter((sub) => !(sub as Command & { _hidden?: boolean })._hidden);
  const words = [
    ...subcommands.map((sub) => sub.name()),
    ...(subcommands.length ? ['help'] : []),
    ...command.options.flatMap((option) =>
      [option.long, option.short].filter((flag): flag is string => Boolean(flag)),
    ),
    '--help',
  ];
  out.push({ path: prefix.join(' '), words });
  for (const sub of subcommands) walk(sub, [...prefix, sub.name()], out);
}

export function bashCompletion(program: Command): string {
  const entries: CommandWords[] = [];
  walk(program, [], entries);
  const name = program.name();
  const valueOptions = new Set<string>();
  const collect = (command: Command) => {
    for (const option of command.options)
      if ((option.required || option.optional) && option.long) valueOptions.add(option.long);
    command.commands.forEach(collect);
  };
  collect(program);
  for (const option of DIRECTORY_OPTIONS) valueOptions.delete(option);
  const paths = entries
    .filter((entry) => entry.path)
    .map((entry) => `"${entry.path}"`)
    .join('|');
  const cases = entries.map((entry) => `    "${entry.path}") words="${entry.words.join(' ')}" ;;`).join('\n');
  return `# bash completion for ${name}; load with: source <(${name} completion bash)
_${name}_complete() {
  local cur prev path="" candidate words="" i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
    ${DIRECTORY_OPTIONS.join('|')}) COMPREPLY=( $(compgen -d -- "$cur") ); return 0 ;;
    ${[...valueOptions].sort().join('|')}) COMPREPLY=(); return 0 ;;
  esac
  for ((i = 1; i < COMP_CWORD; i++)); do
    candidate="\${path:+$path }\${COMP_WORDS[i]}"
    case "$candidate" in
      ${paths}) path="$candidate" ;;
    esac
  done
  case "$path" in
${cases}
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -F _${name}_complete ${name}
`;
}
