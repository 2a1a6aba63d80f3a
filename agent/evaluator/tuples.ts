// Second pass: Python tuples. `'%d %s' % (a, b)` and `x in (1, 2)` need `(a, b)`, which expr-eval
// cannot parse; a parenthesised group with a top-level comma that is not a call's argument list
// becomes a list `[a, b]` (same length, so columns stay right). The pass also bounds bracket
// nesting, which keeps expr-eval's recursive descent far from the stack limit.
import { errorAt } from './errors.js';
import { MAX_BRACKET_DEPTH } from './limits.js';
import { columnOf, isNameChar, skipLiteral } from './source-scan.js';

/** Words after which `(` opens a group, not a call: `x in (1, 2)`, `not (a, b)`. */
const OPERATOR_WORDS = new Set(['and', 'or', 'not', 'in']);

interface OpenBracket {
  char: '(' | '[';
  index: number;
  /** A call's argument list: its commas separate arguments. */
  isCall: boolean;
  /** Index of the last top-level comma, -1 when none. */
  lastComma: number;
  /** Whether something other than spaces follows the last comma: `(a,)` is a one-item tuple. */
  itemAfterComma: boolean;
}

export function tuplesToLists(text: string): string {
  // UTF-16 units, like the indexes below: replacing one unit by one keeps every column.
  const output = text.split('');
  const stack: OpenBracket[] = [];
  let index = 0;
  while (index < text.length) {
    const char = text[index] as string;
    const literalEnd = skipLiteral(text, index);
    if (literalEnd !== undefined) {
      markItem(stack);
      index = literalEnd;
      continue;
    }
    if (char === '(' || char === '[') {
      markItem(stack);
      if (stack.length >= MAX_BRACKET_DEPTH) {
        const problem = `brackets nested deeper than ${MAX_BRACKET_DEPTH}`;
        throw errorAt(text, index, problem, () => `${problem} at column ${columnOf(text, index)}`);
      }
      stack.push({
        char,
        index,
        isCall: char === '(' && opensCall(text, index),
        lastComma: -1,
        itemAfterComma: false,
      });
    } else if (char === ')' || char === ']') {
      const open = stack.pop();
      if (open && open.char === '(' && char === ')' && !open.isCall) {
        const empty = text.slice(open.index + 1, index).trim() === '';
        if (open.lastComma >= 0 || empty) {
          output[open.index] = '[';
          output[index] = ']';
          if (open.lastComma >= 0 && !open.itemAfterComma) output[open.lastComma] = ' ';
        }
      }
    } else if (char === ',') {
      const top = stack[stack.length - 1];
      if (top) {
        top.lastComma = index;
        top.itemAfterComma = false;
      }
    } else if (char !== ' ' && char !== '\t' && char !== '\n' && char !== '\r') {
      markItem(stack);
    }
    index++;
  }
  return output.join('');
}

function markItem(stack: OpenBracket[]): void {
  const top = stack[stack.length - 1];
  if (top) top.itemAfterComma = true;
}

/** `(` right after a name (not an operator word), `)` or `]` calls something; otherwise it groups. */
function opensCall(text: string, index: number): boolean {
  let before = index - 1;
  while (before >= 0 && ' \t\r\n'.includes(text[before] as string)) before--;
  const previous = text[before];
  if (previous === ')' || previous === ']') return true;
  if (!isNameChar(previous)) return false;
  let wordStart = before;
  while (wordStart > 0 && isNameChar(text[wordStart - 1])) wordStart--;
  return !OPERATOR_WORDS.has(text.slice(wordStart, before + 1));
}
