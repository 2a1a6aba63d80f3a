// `opsbro completion bash|zsh`: a completion script generated from the command tree itself, so it
// can never disagree with the commands that exist. Commands, options and argument choices are in
// the script; names the agent knows (collectors, packs, detectors, members, keys, checks) are asked
// of the running agent at each completion through the hidden `opsbro __names SOURCE`, which
// answers within a second, and with nothing (never an error) when no agent answers.
import { Argument, Command } from 'commander';
import { type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient } from '../client.js';
import { fetchNames, NAME_SOURCES, type NameSource, namesTakenBy } from '../names.js';
import { printJson } from '../output.js';

export const SHELLS = ['bash', 'zsh'] as const;
type Shell = (typeof SHELLS)[number];

/** Options whose value is a directory, or a file: completed with paths. */
const DIRECTORY_OPTIONS = ['--config-dir', '--data-dir'];
const FILE_OPTIONS = ['--file'];
/** How long completion waits for the agent's names. */
const NAMES_TIMEOUT_MS = 1000;

export function completionCommand(root: () => Command): Command {
  return withJson(
    new Command('completion')
      .description('print a shell completion script: source <(opsbro completion bash) (or zsh)')
      .addArgument(new Argument('<shell>', 'shell to complete for').choices(SHELLS)),
  ).action((shell: Shell, options: { json?: boolean }) => {
    const script = shell === 'bash' ? bashCompletion(root()) : zshCompletion(root());
    if (options.json) printJson({ shell, script });
    else process.stdout.write(script);
  });
}

/** `opsbro __names SOURCE`: one name a line, for completion scripts; nothing when no agent answers. */
export function namesCommand(): Command {
  return withJson(
    withApiOptions(
      new Command('__names')
        .description('names the agent knows, for shell completion')
        .addArgument(new Argument('<source>').choices(NAME_SOURCES)),
    ),
  ).action(async (source: NameSource, options: ReadOptions) => {
    let names: string[] = [];
    try {
      names = await fetchNames(new AgentClient(options), source, NAMES_TIMEOUT_MS);
    } catch {
      // No agent, a slow one, a refusal: completion offers no names rather than an error.
    }
    if (options.json) printJson(names);
    else process.stdout.write(names.map((name) => `${name}\n`).join(''));
  });
}

/** What completes after one command: its words, and what its positional argument takes. */
interface CompletionEntry {
  /** `agent start`; '' for the root. */
  path: string;
  /** Subcommands (and `help` when there are some) with their description. */
  commands: Array<[string, string]>;
  /** Long and short flags with their description. */
  options: Array<[string, string]>;
  /** Fixed values of the first argument (commander choices). */
  choices: string[];
  /** Names from the agent for the argument. */
  names?: NameSource;
  /** The last argument takes several values: keep offering. */
  variadic: boolean;
}

/** Commands left out of help and completion (`__names`). */
export const isHidden = (command: Command) => Boolean((command as Command & { _hidden?: boolean })._hidden);

function entries(command: Command, prefix: string[] = [], out: CompletionEntry[] = []): CompletionEntry[] {
  const subcommands = command.commands.filter((sub) => !isHidden(sub));
  const argument = command.registeredArguments[0];
  out.push({
    path: prefix.join(' '),
    commands: [
      ...subcommands.map((sub): [string, string] => [sub.name(), sub.description()]),
      ...(subcommands.length ? [['help', 'help for a command'] as [string, string]] : []),
    ],
    options: [
      ...command.options.flatMap((option) =>
        [option.long, option.short]
          .filter((flag): flag is string => Boolean(flag))
          .map((flag): [string, string] => [flag, option.description]),
      ),
      ['--help', 'show help'],
    ],
    choices: argument?.argChoices ?? [],
    names: namesTakenBy(command),
    variadic: Boolean(command.registeredArguments.at(-1)?.variadic),
  });
  for (const sub of subcommands) entries(sub, [...prefix, sub.name()], out);
  return out;
}

/** Flags that take a value (the next word is that value, not an argument), paths excepted. */
function valueOptions(command: Command, out = new Set<string>()): string[] {
  for (const option of command.options)
    if ((option.required || option.optional) && option.long) {
      out.add(option.long);
      if (option.short) out.add(option.short);
    }
  command.commands.forEach((sub) => valueOptions(sub, out));
  return [...out].filter((flag) => !DIRECTORY_OPTIONS.includes(flag) && !FILE_OPTIONS.includes(flag)).sort();
}

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/**
 * The shell code both scripts share (bash and zsh read it the same): walks the words before the
 * cursor to find the command path, how many arguments it has, and an --api to ask names from.
 * WORD(i) reads word i; FIRST is the index of the first word after `opsbro`.
 */
function walkWords(
  program: Command,
  word: (index: string) => string,
  first: number,
  current: string,
): string {
  const all = entries(program);
  const values = valueOptions(program);
  const paths = all
    .filter((entry) => entry.path)
    .map((entry) => `"${entry.path}"`)
    .join('|');
  const takesValue = [...values, ...DIRECTORY_OPTIONS, ...FILE_OPTIONS].join('|');
  return `  for ((i = ${first}; i < ${current}; i++)); do
    candidate="\${cmdpath:+$cmdpath }${word('i')}"
    case "$candidate" in
      ${paths}) cmdpath="$candidate"; npos=0; continue ;;
    esac
    case "${word('i')}" in
      --api) api="${word('i + 1')}" ;;
      -*) ;;
      *) case "${word('i - 1')}" in
           ${takesValue}) ;;
           *) npos=$((npos + 1)) ;;
         esac ;;
    esac
  done`;
}

/** The `case "$cmdpath"` arms: what each command offers (WORDS), and names to ask for (NAMES). */
function arms(program: Command, offer: (entry: CompletionEntry) => string): string {
  return entries(program)
    .map((entry) => {
      const argumentOpen = entry.variadic ? '' : '[[ $npos -lt 1 ]] && ';
      const names = entry.names ? `; ${argumentOpen}names=${entry.names}` : '';
      return `    "${entry.path}") ${offer(entry)}${names} ;;`;
    })
    .join('\n');
}

export function bashCompletion(program: Command): string {
  const name = program.name();
  const values = valueOptions(program);
  const body = arms(program, (entry) => {
    const words = [...entry.commands, ...entry.options].map(([word]) => word).join(' ');
    const choices = entry.choices.length
      ? `; [[ $npos -lt 1 ]] && words="$words ${entry.choices.join(' ')}"`
      : '';
    return `words="${words}"${choices}`;
  });
  return `# bash completion for ${name}; load with: source <(${name} completion bash)
_${name}_complete() {
  local cur prev cmdpath="" candidate words="" names="" api="" i npos=0
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
    ${DIRECTORY_OPTIONS.join('|')}) COMPREPLY=( $(compgen -d -- "$cur") ); return 0 ;;
    ${FILE_OPTIONS.join('|')}) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
    ${values.join('|')}) COMPREPLY=(); return 0 ;;
  esac
${walkWords(program, (index) => `\${COMP_WORDS[${index}]}`, 1, 'COMP_CWORD')}
  case "$cmdpath" in
${body}
  esac
  if [[ -n "$names" && "$cur" != -* ]]; then
    words="$words $("\${COMP_WORDS[0]}" __names "$names" \${api:+--api "$api"} 2>/dev/null)"
  fi
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -F _${name}_complete ${name}
`;
}

export function zshCompletion(program: Command): string {
  const name = program.name();
  const values = valueOptions(program);
  const body = arms(program, (entry) => {
    const specs = [...entry.commands, ...entry.options].map(([word, description]) =>
      quote(`${word}:${description}`),
    );
    const choices = entry.choices.length
      ? `; [[ $npos -lt 1 ]] && specs+=(${entry.choices.map((choice) => quote(choice)).join(' ')})`
      : '';
    return `specs=(${specs.join(' ')})${choices}`;
  });
  // `cmdpath`, not `path`: zsh ties $path to $PATH.
  return `#compdef ${name}
# zsh completion for ${name}; load with: source <(${name} completion zsh) (after compinit),
# or save it as _${name} in a directory of $fpath.
_${name}() {
  local cur="\${words[CURRENT]}" prev="\${words[CURRENT-1]}" cmdpath="" candidate names="" api="" i npos=0
  local -a specs fetched
  case "$prev" in
    ${DIRECTORY_OPTIONS.join('|')}) _files -/; return ;;
    ${FILE_OPTIONS.join('|')}) _files; return ;;
    ${values.join('|')}) return 1 ;;
  esac
${walkWords(program, (index) => `\${words[${index}]}`, 2, 'CURRENT')}
  case "$cmdpath" in
${body}
  esac
  if [[ -n "$names" && "$cur" != -* ]]; then
    fetched=(\${(f)"$("\${words[1]}" __names "$names" \${api:+--api "$api"} 2>/dev/null)"})
    specs+=(\${fetched//:/\\\\:})
  fi
  _describe -t ${name} '${name}' specs
}
if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  _${name} "$@"
else
  compdef _${name} ${name}
fi
`;
}
