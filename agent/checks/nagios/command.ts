// A `script:` line made once, when its check is created, into what each run executes. Without a
// shell (the default) the line is split into words FIRST and macros are replaced inside each word
// THEN, so a value is always part of one argument, whatever it holds (`;`, `$(...)`, quotes,
// newlines, globs). With `shell: true` the line goes to /bin/sh -c, each value quoted for the spot
// where it lands, so that even there a value stays one piece of literal text.
import type { CheckNode } from '../check-type.js';
import { scanQuoting, shellQuote, splitCommandLine, type QuoteContext } from './argv.js';
import {
  MacroError,
  NODE_MACROS,
  parseTemplate,
  resolveMacro,
  type NodeMacro,
  type TemplatePart,
} from './macros.js';

/** The shell `shell: true` lines run under. */
export const SHELL = '/bin/sh';

/** A piece of an argument: fixed text, or a node macro (with how to quote it, in shell lines). */
type Piece = string | { node: NodeMacro; quoting?: QuoteContext };

export interface PluginCommand {
  /** The argv of one run on `node`: argv[0] is the program. */
  argv(node: CheckNode): string[];
}

export interface CommandOptions {
  shell: boolean;
  body: Readonly<Record<string, unknown>>;
  nagiosPluginsDir: string;
}

/**
 * Compiles `line`. Throws an Error whose message says what is wrong and where (unclosed quote,
 * unquoted shell syntax, unknown macro), for the subsystem to report as a config error.
 */
export function compileCommand(line: string, options: CommandOptions): PluginCommand {
  if (options.shell) {
    const pieces = compileShellLine(line, options);
    return { argv: (node) => [SHELL, '-c', render(pieces, node)] };
  }
  const words = splitOrExplain(line).map((word, position) => compileWord(word, position, options));
  return { argv: (node) => words.map((pieces) => render(pieces, node)) };
}

function splitOrExplain(line: string): string[] {
  try {
    return splitCommandLine(line);
  } catch (error) {
    throw new Error(`script: ${(error as Error).message}`, { cause: error });
  }
}

/** One word's pieces; errors name the word, since a word's text no longer has the line's columns. */
function compileWord(word: string, position: number, options: CommandOptions): Piece[] {
  try {
    return parseTemplate(word).map((part) => piece(part, options));
  } catch (error) {
    const which = position === 0 ? 'the program' : `argument ${position}`;
    throw new Error(`script: ${which} (${JSON.stringify(word)}): ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function compileShellLine(line: string, options: CommandOptions): Piece[] {
  try {
    const scanned = scanQuoting(line);
    return parseTemplate(line).map((part) => {
      if ('text' in part) return part.text;
      const at = scanned[part.index]!;
      if (at.role !== 'literal' || (at.context === 'none' && at.quoted)) {
        throw new Error(
          `a macro cannot follow a backslash (column ${part.index + 1}): write $$ for a dollar`,
        );
      }
      const resolved = piece(part, options);
      return typeof resolved === 'string'
        ? shellQuote(resolved, at.context)
        : { node: resolved.node, quoting: at.context };
    });
  } catch (error) {
    const column = error instanceof MacroError ? ` (column ${error.index + 1})` : '';
    throw new Error(`script (shell: true): ${(error as Error).message}${column}`, { cause: error });
  }
}

function piece(part: TemplatePart, options: CommandOptions): Piece {
  if ('text' in part) return part.text;
  const resolved = resolveMacro(part, options.body, options.nagiosPluginsDir);
  return 'text' in resolved ? resolved.text : { node: resolved.node };
}

function render(pieces: readonly Piece[], node: CheckNode): string {
  let text = '';
  for (const piece of pieces) {
    if (typeof piece === 'string') text += piece;
    else {
      const value = NODE_MACROS[piece.node](node);
      text += piece.quoting ? shellQuote(value, piece.quoting) : value;
    }
  }
  return text;
}
