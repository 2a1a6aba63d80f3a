// Why an expression does not parse, in words, and where. expr-eval says "parse error [1:30]:
// Expected EOF" or "unexpected TOP: ==" (no position at all); an operator needs "expected an
// operator (and, or, ==, ...) or the end of the expression after 'file_exists(...)', found 'adn'"
// at the column of `adn`. This is a second reading of the text, run only once expr-eval has refused
// it: a tokenizer that cuts the text as expr-eval's does, and a small state machine of the grammar
// as expr-eval accepts it (with its quirks: `f(1 2)` is two arguments, `f(1)[0]` is refused), that
// stops at the first token it cannot take. The tests hold the two to the same verdicts.
import { positionOf } from './errors.js';
import { isQuote } from './source-scan.js';
import { closestWord } from '../shared/spelling.js';

/** The first problem of an expression: where (an index into it) and what, in words. */
export interface SyntaxProblem {
  index: number;
  problem: string;
}

/** The names the tokenizer must know to cut a text as expr-eval does (the parser's tables). */
export interface TokenTables {
  /** Prefix operators: `-`, `+`, `!`, `not`, `abs`, `length`, ... */
  unary: ReadonlySet<string>;
  /** Infix operators: `+`, `==`, `and`, `in`, `[`, ... */
  binary: ReadonlySet<string>;
  /** Named constants: `True`, `PI`, ... */
  constants: ReadonlySet<string>;
}

type TokenKind = 'value' | 'operator' | 'open' | 'close' | 'comma' | 'semicolon' | 'end' | 'bad';

interface Token {
  kind: TokenKind;
  /** The operator or bracket as expr-eval sees it (`∙` is `*`); the text for the others. */
  value: string;
  start: number;
  end: number;
  /** For a `bad` token: what is wrong, in words. */
  problem?: string;
}

/** What the tokens so far have opened and not closed yet. */
interface Frame {
  /** group `(x)`, call `f(x)`, list `[x]`, index `a[x]`, ternary `a ? x` (waiting for `:`). */
  kind: 'group' | 'call' | 'list' | 'index' | 'ternary';
  start: number;
  /** How the operand before the opener reads in messages: `file_exists` for a call. */
  before: string;
  /** A group right after a prefix operator (`abs(x)`): nothing may call or index it. */
  unaryCall?: boolean;
}

/** After an operand: whether `(` may call it and `[` may index it (expr-eval's grammar decides). */
interface OperandEnd {
  call: boolean;
  index: boolean;
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const CHAR_OPERATORS = new Set(['+', '-', '*', '/', '%', '^', '?', ':', '.']);
const VALID_ESCAPES = new Set(["'", '"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const OPERATOR_WORDS = ['and', 'or', 'not', 'in'];
/** What a value may be, for "expected a value" messages. */
const A_VALUE = "a value (a number, a 'string', a {reference}, a function call or a '(' group)";

/** The first problem of `text` (what expr-eval parsed), shown with the words of `source`. */
export function diagnoseSyntax(text: string, source: string, tables: TokenTables): SyntaxProblem | undefined {
  return new Diagnosis(text, source, tables).run();
}

class Diagnosis {
  private position = 0;
  private readonly frames: Frame[] = [];
  /** How the last operand reads (`'/etc/redis'`, `file_exists(...)`), or the last operator. */
  private previous: string | undefined;

  constructor(
    private readonly text: string,
    private readonly source: string,
    private readonly tables: TokenTables,
  ) {}

  run(): SyntaxProblem | undefined {
    // Expecting a value (true) or what follows one (false).
    let wantValue = true;
    /** Where expr-eval starts an expression (the start, after `(`, `[`, `,`, `;`): `;` may come. */
    let expressionStart = true;
    /** The closer that may come instead of a value: `)` right after a call's `(`, `]` after `[`. */
    let emptyCloser: string | undefined;
    /** After `;`: the end may come instead of a value. */
    let endAllowed = false;
    let operandEnd: OperandEnd = { call: true, index: true };
    let token = this.next();
    for (;;) {
      if (token.kind === 'bad') return { index: token.start, problem: token.problem! };
      const shown = this.shown(token);
      const top = this.frames.at(-1);

      if (wantValue) {
        const atStart = expressionStart;
        const closer = emptyCloser;
        const mayEnd = endAllowed;
        expressionStart = false;
        emptyCloser = undefined;
        endAllowed = false;
        if (token.kind === 'semicolon' && atStart) {
          this.previous = ';';
          expressionStart = true;
          endAllowed = true;
        } else if (token.kind === 'end' && mayEnd && !top) {
          return undefined;
        } else if (token.kind === 'close' && top && token.value === closer) {
          this.close(token, top);
          wantValue = false;
          operandEnd = top.kind === 'call' ? { call: true, index: false } : { call: true, index: true };
        } else if (token.kind === 'value') {
          this.previous = this.written(token);
          wantValue = false;
          operandEnd = { call: true, index: true };
        } else if (token.kind === 'operator' && this.tables.unary.has(token.value)) {
          const after = this.peek(token.end);
          // expr-eval's parseFactor: a sign is always a prefix; another prefix operator before
          // `,`, `;`, `)` or the end reads as a name (then an unknown one), and before `(` takes
          // that group as its operand.
          const sign = token.value === '-' || token.value === '+';
          const endsHere =
            after.kind === 'comma' ||
            after.kind === 'semicolon' ||
            after.kind === 'end' ||
            (after.kind === 'close' && after.value === ')');
          if (!sign && endsHere) {
            this.previous = this.written(token);
            wantValue = false;
            operandEnd = { call: false, index: false };
          } else if (!sign && after.kind === 'open' && after.value === '(') {
            // `abs(x)`: nothing may call or index it after.
            const before = this.written(token);
            this.frames.push({ kind: 'group', start: after.start, before, unaryCall: true });
            this.previous = `${before}(`;
            expressionStart = true;
            token = this.next(after.end);
            continue;
          } else {
            this.previous = this.written(token);
          }
        } else if (token.kind === 'open') {
          const kind = token.value === '(' ? 'group' : 'list';
          this.frames.push({ kind, start: token.start, before: '' });
          this.previous = this.char(token.start);
          expressionStart = true;
          if (kind === 'list') emptyCloser = ']';
        } else if (token.kind === 'end' && top && closer) {
          return { index: token.start, problem: this.unexpectedAfterOperand(token, shown, top, false) };
        } else if (token.kind === 'end' && top) {
          return { index: token.start, problem: this.unexpectedAfterOperand(token, shown, top, true) };
        } else {
          return {
            index: token.start,
            problem: `expected ${A_VALUE} ${this.after()}, found ${shown}`,
          };
        }
        token = this.next();
        continue;
      }

      // After an operand.
      if (token.kind === 'operator' && this.tables.binary.has(token.value) && token.value !== '[') {
        this.previous = this.written(token);
        wantValue = true;
      } else if (token.kind === 'operator' && token.value === '?') {
        this.frames.push({ kind: 'ternary', start: token.start, before: '' });
        this.previous = '?';
        wantValue = true;
      } else if (token.kind === 'operator' && token.value === ':' && top?.kind === 'ternary') {
        this.frames.pop();
        this.previous = ':';
        wantValue = true;
      } else if (token.kind === 'operator' && token.value === '!') {
        this.previous = `${this.previous ?? ''}!`;
        operandEnd = { call: false, index: false };
      } else if (token.kind === 'open' && token.value === '(' && operandEnd.call) {
        this.frames.push({ kind: 'call', start: token.start, before: this.previous ?? '' });
        this.previous = `${this.previous ?? ''}(`;
        wantValue = true;
        expressionStart = true;
        emptyCloser = ')';
      } else if (token.kind === 'open' && token.value === '[' && operandEnd.index) {
        this.frames.push({ kind: 'index', start: token.start, before: this.previous ?? '' });
        this.previous = '[';
        wantValue = true;
        expressionStart = true;
      } else if (token.kind === 'operator' && token.value === '.') {
        return {
          index: token.start,
          problem: `'.' ${this.after()} reads a member, which expressions cannot do: read values with references such as {collector.NAME.path}`,
        };
      } else if (token.kind === 'close' && top && top.kind !== 'ternary' && closerOf(top) === token.value) {
        this.close(token, top);
        operandEnd =
          top.kind === 'call'
            ? { call: true, index: false }
            : top.unaryCall
              ? { call: false, index: false }
              : { call: true, index: true };
      } else if (
        token.kind === 'comma' &&
        (top?.kind === 'call' || top?.kind === 'list' || (top?.kind === 'group' && !top.unaryCall))
      ) {
        // A group holds a comma only when it is not closed (a closed one became a list, a tuple):
        // the problem is the missing `)`, said at the end.
        this.previous = ',';
        wantValue = true;
        expressionStart = true;
      } else if (token.kind === 'semicolon' && top?.kind !== 'ternary') {
        this.previous = ';';
        wantValue = true;
        expressionStart = true;
        endAllowed = true;
      } else if (token.kind === 'end' && !top) {
        return undefined;
      } else if ((top?.kind === 'call' || top?.kind === 'list') && this.startsOperand(token)) {
        // expr-eval reads `f(1 2)` and `[1 2]` as two items, commas or not.
        wantValue = true;
        expressionStart = true;
        continue;
      } else {
        return { index: token.start, problem: this.unexpectedAfterOperand(token, shown, top, false) };
      }
      token = this.next();
    }
  }

  /** Pops `top`, which `token` closes: the operand now reads `f(...)`, `(...)`, `[...]`. */
  private close(token: Token, top: Frame): void {
    this.frames.pop();
    this.previous =
      top.kind === 'call' || top.unaryCall
        ? `${top.before}(...)`
        : top.kind === 'index'
          ? `${top.before}[...]`
          : `${this.char(top.start)}...${this.char(token.start)}`;
  }

  /**
   * What is wrong with `token` after an operand (or, `wantValue`, with the end where a value was
   * expected, inside `top`).
   */
  private unexpectedAfterOperand(
    token: Token,
    shown: string,
    top: Frame | undefined,
    wantValue: boolean,
  ): string {
    if (wantValue) return `expected ${A_VALUE} ${this.after()}, found the end of the expression`;
    if (top?.kind === 'ternary' && ['close', 'comma', 'semicolon', 'end'].includes(token.kind))
      return `expected ':' for the '?' at ${this.columnText(top.start)}, found ${shown}`;
    if (token.kind === 'end' && top)
      return `expected '${closerOf(top, this.source)}' to close the '${this.char(top.start)}' at ${this.columnText(top.start)}, found the end of the expression`;
    if (token.kind === 'close' && top && top.kind !== 'ternary')
      return `expected '${closerOf(top, this.source)}' to close the '${this.char(top.start)}' at ${this.columnText(top.start)}, found ${shown}`;
    const expected = `expected ${this.operatorOrEnd(top)} ${this.after()}, found ${shown}`;
    if (token.kind === 'close') return `${expected}, which closes nothing`;
    if (token.kind === 'comma')
      return `${expected} (',' separates the arguments of a call or the items of a list)`;
    if (token.kind === 'operator' && token.value === ':') return `${expected} (':' follows a '?')`;
    if (token.kind === 'open')
      return `${expected} (to call or index what comes before it, put that in parentheses)`;
    if (token.kind === 'operator' && token.value === 'not')
      return `${expected} (for 'not in', write 'not (x in y)')`;
    if (token.kind === 'value' && /^[A-Za-z]+$/.test(token.value)) {
      const word = closestWord(token.value, OPERATOR_WORDS);
      if (word) return `${expected} (did you mean '${word}'?)`;
    }
    return expected;
  }

  /** What may follow an operand, inside the innermost frame. */
  private operatorOrEnd(top: Frame | undefined): string {
    if (!top) return 'an operator (and, or, ==, ...) or the end of the expression';
    if (top.kind === 'ternary') return "an operator or ':'";
    const closer = closerOf(top, this.source);
    return top.kind === 'call' || top.kind === 'list'
      ? `an operator, ',' or '${closer}'`
      : `an operator or '${closer}'`;
  }

  private after(): string {
    return this.previous === undefined ? 'at the start of the expression' : `after '${this.previous}'`;
  }

  /** Whether expr-eval would start a new argument (or list item) with `token`. */
  private startsOperand(token: Token): boolean {
    return (
      token.kind === 'value' ||
      token.kind === 'open' ||
      (token.kind === 'operator' && this.tables.unary.has(token.value))
    );
  }

  /** `'adn'`: a token as a message quotes it, from the source as written. */
  private shown(token: Token): string {
    if (token.kind === 'end') return 'the end of the expression';
    return `'${this.written(token)}'`;
  }

  /** The token as written, shortened: `{collector.redis.ops}`, `'/etc/redis'`. */
  private written(token: Token): string {
    return shorten(this.sourceText(token));
  }

  /** The token's text in the source: a reference's whole `{...}` rather than its variable. */
  private sourceText(token: Token): string {
    if (token.kind === 'value' && token.value.startsWith('__ref') && this.source[token.start - 1] === '{') {
      let end = token.end;
      while (end < this.source.length && this.text[end] === ' ') end++;
      return this.source.slice(token.start - 1, end).trimEnd();
    }
    return this.source.slice(token.start, token.end);
  }

  private char(index: number): string {
    return this.source[index] ?? '';
  }

  private columnText(index: number): string {
    const { line, column } = positionOf(this.source, index);
    return this.source.includes('\n') ? `line ${line}, column ${column}` : `column ${column}`;
  }

  private peek(from: number): Token {
    const saved = this.position;
    this.position = from;
    const token = this.next();
    this.position = saved;
    return token;
  }

  /** The next token from `from` (default: where the last one ended), cut as expr-eval cuts it. */
  private next(from = this.position): Token {
    const text = this.text;
    let index = from;
    for (;;) {
      while (WHITESPACE.has(text[index] ?? '')) index++;
      if (text[index] === '/' && text[index + 1] === '*') {
        // As expr-eval: the search starts at the `/`, so `/*/` is a whole comment.
        const close = text.indexOf('*/', index);
        index = close < 0 ? text.length : close + 2;
        continue;
      }
      break;
    }
    const token = this.tokenAt(index);
    this.position = token.end;
    return token;
  }

  private tokenAt(start: number): Token {
    const text = this.text;
    const make = (kind: TokenKind, end: number, value = text.slice(start, end)): Token => ({
      kind,
      value,
      start,
      end,
    });
    if (start >= text.length) return make('end', start, '');
    const char = text[start]!;
    const number = numberEnd(text, start);
    if (number !== undefined) return make('value', number);
    const two = text.slice(start, start + 2);
    if (['>=', '<=', '==', '!=', '||'].includes(two)) return make('operator', start + 2);
    if (CHAR_OPERATORS.has(char) || char === '>' || char === '<' || char === '!')
      return make('operator', start + 1);
    if (char === '∙' || char === '•') return make('operator', start + 1, '*');
    if (isQuote(char)) return this.stringAt(start);
    if (char === '(' || char === '[') return make('open', start + 1);
    if (char === ')' || char === ']') return make('close', start + 1);
    if (char === ',') return make('comma', start + 1);
    if (char === ';') return make('semicolon', start + 1);
    const word = wordEnd(text, start, false);
    if (word > start) {
      const name = text.slice(start, word);
      if (this.tables.binary.has(name) || this.tables.unary.has(name)) return make('operator', word);
    }
    const constant = wordEnd(text, start, true);
    if (constant > start && this.tables.constants.has(text.slice(start, constant)))
      return make('value', constant);
    const name = nameEnd(text, start);
    if (name > start) return make('value', name);
    return { ...make('bad', start + 1), problem: this.badCharacter(start) };
  }

  /** A string literal, or a bad token: not closed, or an escape expr-eval does not know. */
  private stringAt(start: number): Token {
    const text = this.text;
    const quote = text[start]!;
    let close = text.indexOf(quote, start + 1);
    while (close >= 0 && text[close - 1] === '\\') close = text.indexOf(quote, close + 1);
    if (close < 0) {
      return {
        kind: 'bad',
        value: quote,
        start,
        end: text.length,
        problem: `the string opened here is not closed: add its closing ${quote}`,
      };
    }
    for (let index = start + 1; index < close; index++) {
      if (text[index] !== '\\') continue;
      const escaped = text[index + 1] ?? '';
      const valid =
        VALID_ESCAPES.has(escaped) ||
        (escaped === 'u' && /^[0-9a-f]{4}$/i.test(text.slice(index + 2, index + 6)));
      if (!valid) {
        return {
          kind: 'bad',
          value: '\\',
          start: index,
          end: index + 2,
          problem: `unknown escape sequence '\\${escaped === 'u' ? text.slice(index + 1, index + 6) : escaped}' in a string: write \\\\ for a backslash (escapes: \\' \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)`,
        };
      }
      index++;
    }
    return { kind: 'value', value: text.slice(start, close + 1), start, end: close + 1 };
  }

  private badCharacter(index: number): string {
    const text = this.text;
    const char = text[index]!;
    if (char === '&')
      return `unknown operator '${text[index + 1] === '&' ? '&&' : '&'}' ${this.after()}: write 'and'`;
    if (char === '|')
      return `unknown operator '|' ${this.after()}: write 'or' (or '||' to join lists or text)`;
    if (char === '=') return `unknown operator '=' ${this.after()}: compare with '=='`;
    const code = char.codePointAt(0)!;
    const printable = code > 0x20 && code !== 0x7f && !/\s/u.test(char);
    const named = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    return `unexpected character ${printable ? `'${String.fromCodePoint(code)}'` : named} ${this.after()}`;
  }
}

/** The closer `top` waits for, as the source wrote its opener (a tuple's `(` became `[`). */
function closerOf(top: Frame, source?: string): string {
  const opener = source?.[top.start] ?? (top.kind === 'list' || top.kind === 'index' ? '[' : '(');
  if (top.kind === 'ternary') return ':';
  return opener === '[' ? ']' : ')';
}

function shorten(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > 40 ? `${oneLine.slice(0, 37)}...` : oneLine;
}

function isLetter(char: string | undefined): boolean {
  return char !== undefined && char.toUpperCase() !== char.toLowerCase();
}

function isDigit(char: string | undefined): boolean {
  return char !== undefined && char >= '0' && char <= '9';
}

/** End of a number at `start` as expr-eval reads one (0x1F, 0b101, 1.5, .5, 1e-3), else undefined. */
function numberEnd(text: string, start: number): number | undefined {
  if (
    text[start] === '0' &&
    start < text.length - 2 &&
    (text[start + 1] === 'x' || text[start + 1] === 'b')
  ) {
    const digit = text[start + 1] === 'x' ? /[0-9a-f]/i : /[01]/;
    let end = start + 2;
    while (end < text.length && digit.test(text[end]!)) end++;
    if (end > start + 2) return end;
  }
  let end = start;
  let dot = false;
  let digits = false;
  while (end < text.length && (isDigit(text[end]) || (!dot && text[end] === '.'))) {
    if (text[end] === '.') dot = true;
    else digits = true;
    end++;
  }
  if (!digits) return undefined;
  if (text[end] === 'e' || text[end] === 'E') {
    let exponent = end + 1;
    if (text[exponent] === '+' || text[exponent] === '-') exponent++;
    if (isDigit(text[exponent])) {
      while (isDigit(text[exponent])) exponent++;
      return exponent;
    }
  }
  return end;
}

/** End of a word that starts with a letter: letters, digits, `_` (and `.` for constants). */
function wordEnd(text: string, start: number, withDots: boolean): number {
  if (!isLetter(text[start])) return start;
  let end = start + 1;
  while (
    end < text.length &&
    (isLetter(text[end]) || isDigit(text[end]) || text[end] === '_' || (withDots && text[end] === '.'))
  )
    end++;
  return end;
}

/** End of a name as expr-eval reads one: a letter, `_` or `$` first, and at least one letter or `_`. */
function nameEnd(text: string, start: number): number {
  let end = start;
  let hasLetter = false;
  for (; end < text.length; end++) {
    const char = text[end]!;
    if (isLetter(char)) {
      hasLetter = true;
    } else if (end === start && (char === '$' || char === '_')) {
      if (char === '_') hasLetter = true;
    } else if (end === start || !hasLetter || (char !== '_' && !isDigit(char))) {
      break;
    }
  }
  return hasLetter ? end : start;
}
