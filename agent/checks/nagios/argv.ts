// A `script:` command line read as a POSIX shell reads its words (quotes and backslashes), with
// nothing expanded: no variables, no globs, no command substitution, no redirection. The plugin is
// then run from the words directly, never through a shell, so the line's words are exactly the
// plugin's argv. Shell syntax that would do something in a shell (`|`, `;`, `&`, `<`, `>`, `(`,
// `)`, a backquote) is refused unquoted rather than passed on silently as an argument.

/** Where a character of the line stands: outside quotes, inside '…' or inside "…". */
export type QuoteContext = 'none' | 'single' | 'double';

/** What the shell's quoting makes of one character of the line. */
export interface ScannedChar {
  char: string;
  /**
   * `literal`: part of a word. `blank`: ends a word. `quote`: a quote mark, removed (it still
   * starts a word: '' is an empty argument). `escape`: a backslash that escapes the next character,
   * or a backslash-newline line continuation; removed.
   */
  role: 'literal' | 'blank' | 'quote' | 'escape';
  context: QuoteContext;
  /** A literal character a quote or a backslash protects (never shell syntax). */
  quoted: boolean;
}

/** A command line the shell's quoting rules cannot read, with the column (1-based) of the fault. */
export class CommandLineError extends Error {
  constructor(
    message: string,
    readonly column: number,
  ) {
    super(`${message} (column ${column})`);
    this.name = 'CommandLineError';
  }
}

const BLANKS = new Set([' ', '\t', '\n']);
/** What a backslash escapes inside double quotes (POSIX); before anything else it stays. */
const DOUBLE_QUOTE_ESCAPABLE = new Set(['$', '`', '"', '\\', '\n']);
/** Unquoted, these are shell syntax (pipes, lists, redirections, subshells, substitution). */
const SHELL_OPERATORS = new Set(['|', '&', ';', '<', '>', '(', ')', '`']);

/** Classifies each character of `line` by the shell's quoting rules (one entry per character). */
export function scanQuoting(line: string): ScannedChar[] {
  const scanned: ScannedChar[] = [];
  let context: QuoteContext = 'none';
  let openedAt = 0;
  const push = (char: string, role: ScannedChar['role'], quoted = context !== 'none'): void => {
    scanned.push({ char, role, context, quoted });
  };
  for (let index = 0; index < line.length; index++) {
    const char = line[index]!;
    const next = line[index + 1];
    if (context === 'single') {
      if (char === "'") {
        push(char, 'quote');
        context = 'none';
      } else push(char, 'literal');
    } else if (
      char === '\\' &&
      (context === 'none' || (next !== undefined && DOUBLE_QUOTE_ESCAPABLE.has(next)))
    ) {
      if (next === undefined) throw new CommandLineError('the line ends with a lone backslash', index + 1);
      push(char, 'escape');
      // Backslash-newline is a line continuation: both go.
      push(next, next === '\n' ? 'escape' : 'literal', true);
      index++;
    } else if (context === 'double') {
      if (char === '"') {
        push(char, 'quote');
        context = 'none';
      } else push(char, 'literal');
    } else if (char === "'" || char === '"') {
      push(char, 'quote');
      context = char === "'" ? 'single' : 'double';
      openedAt = index + 1;
    } else push(char, BLANKS.has(char) ? 'blank' : 'literal');
  }
  if (context !== 'none') {
    const mark = context === 'single' ? "'" : '"';
    throw new CommandLineError(`the quote ${mark} is never closed`, openedAt);
  }
  return scanned;
}

/**
 * The words of `line`, quotes and escapes removed, nothing expanded. Throws a CommandLineError for
 * an unclosed quote, a trailing backslash, an unquoted shell operator, or a line without words.
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  scanQuoting(line).forEach((scanned, index) => {
    if (scanned.role === 'blank') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (scanned.role === 'quote') {
      word ??= '';
    } else if (scanned.role === 'literal') {
      if (!scanned.quoted && SHELL_OPERATORS.has(scanned.char)) {
        throw new CommandLineError(
          `${scanned.char} is shell syntax, and the plugin runs without a shell: quote it to pass it as ` +
            'an argument, or set `shell: true` (see docs/checks-script.md)',
          index + 1,
        );
      }
      word = (word ?? '') + scanned.char;
    }
  });
  if (word !== undefined) words.push(word);
  if (words.length === 0) throw new CommandLineError('the command line is empty', 1);
  return words;
}

/**
 * `value` written so that a shell reads it back as exactly `value`, one word's worth of text, in
 * the quoting context where it is inserted (for `shell: true` lines).
 */
export function shellQuote(value: string, context: QuoteContext): string {
  if (context === 'double') return value.replace(/[\\"$`]/g, '\\$&');
  const inside = value.replaceAll("'", "'\\''");
  return context === 'single' ? inside : `'${inside}'`;
}
