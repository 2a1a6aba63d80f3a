// Expression syntax errors in words, at the column of the offending token: expr-eval's own
// ("parse error [1:30]: Expected EOF", "unexpected TOP: ==") name neither. In a config file, the
// error names the file, the line of the key that holds the expression, and the column inside it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ConfigError, loadConfig } from '../../agent/config/index.js';
import { DetectorDefinitionSchema, detectorRuleErrors } from '../../agent/detectors/index.js';
import { Evaluator, ExpressionError } from '../../agent/evaluator/index.js';
import { binaryOperators, unaryOperators } from '../../agent/evaluator/operators.js';
import { ExpressionParser } from '../../agent/evaluator/parser.js';
import { tuplesToLists } from '../../agent/evaluator/tuples.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';
import { seededRandom } from '../helpers/seeded-random.js';
import { fakeProviders } from './helpers.js';

afterAll(cleanupAll);

const evaluator = new Evaluator(fakeProviders());

function compileError(expression: string): ExpressionError {
  try {
    evaluator.compile(expression);
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionError);
    return error as ExpressionError;
  }
  throw new Error(`expected ${JSON.stringify(expression)} to be refused`);
}

const A_VALUE = "a value (a number, a 'string', a {reference}, a function call or a '(' group)";
const OPERATOR_OR_END = 'an operator (and, or, ==, ...) or the end of the expression';

describe('syntax errors', () => {
  it.each([
    [
      'and misspelt',
      "file_exists('/etc/redis') adn file_exists('/x')",
      'column 27',
      `expected ${OPERATOR_OR_END} after 'file_exists(...)', found 'adn' (did you mean 'and'?)`,
    ],
    [
      'or misspelt, after a reference',
      '{collector.redis.connected} ro True',
      'column 29',
      `expected ${OPERATOR_OR_END} after '{collector.redis.connected}', found 'ro' (did you mean 'or'?)`,
    ],
    [
      'a missing closing bracket',
      "file_exists('/etc/redis'",
      'column 25',
      "expected ')' to close the '(' at column 12, found the end of the expression",
    ],
    [
      'a missing closing bracket of a list',
      "'redis' in ['a', 'b'",
      'column 21',
      "expected ']' to close the '[' at column 12, found the end of the expression",
    ],
    [
      'a missing closing bracket of a tuple',
      "'%s %s' % (1, 2",
      'column 16',
      "expected ')' to close the '(' at column 11, found the end of the expression",
    ],
    [
      'one closing bracket too many',
      '(1 + 2))',
      'column 8',
      `expected ${OPERATOR_OR_END} after '(...)', found ')', which closes nothing`,
    ],
    [
      'the wrong closing bracket',
      '[1, 2)',
      'column 6',
      "expected ']' to close the '[' at column 1, found ')'",
    ],
    [
      'a trailing operator',
      "file_exists('/a') and",
      'column 22',
      `expected ${A_VALUE} after 'and', found the end of the expression`,
    ],
    ['two operators', '1 == == 2', 'column 6', `expected ${A_VALUE} after '==', found '=='`],
    [
      'an operator first',
      '== 2',
      'column 1',
      `expected ${A_VALUE} at the start of the expression, found '=='`,
    ],
    ['an empty argument', "grep(, '/x')", 'column 6', `expected ${A_VALUE} after 'grep(', found ','`],
    ['a trailing comma in a call', 'max(1, )', 'column 8', `expected ${A_VALUE} after ',', found ')'`],
    [
      'a bare word after a value',
      "grep('x', '/y') centos",
      'column 17',
      `expected ${OPERATOR_OR_END} after 'grep(...)', found 'centos'`,
    ],
    ['two values', '1 2', 'column 3', `expected ${OPERATOR_OR_END} after '1', found '2'`],
    [
      'an unterminated string',
      "grep('centos', '/etc/redhat-release)",
      'column 16',
      "the string opened here is not closed: add its closing '",
    ],
    [
      'an unterminated string at the start',
      "'abc",
      'column 1',
      "the string opened here is not closed: add its closing '",
    ],
    [
      'an unknown escape',
      "grep('\\d+', '/x')",
      'column 7',
      "unknown escape sequence '\\d' in a string: write \\\\ for a backslash (escapes: \\' \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
    ],
    [
      '&& for and',
      "file_exists('/a') && True",
      'column 19',
      "unknown operator '&&' after 'file_exists(...)': write 'and'",
    ],
    [
      '| for or',
      'True | False',
      'column 6',
      "unknown operator '|' after 'True': write 'or' (or '||' to join lists or text)",
    ],
    [
      '= for ==',
      "{collector.system.os} = 'linux'",
      'column 23',
      "unknown operator '=' after '{collector.system.os}': compare with '=='",
    ],
    ['a stray character', '1 # 2', 'column 3', "unexpected character '#' after '1'"],
    ['a non-breaking space', '1\u00a0+ 2', 'column 2', "unexpected character U+00A0 after '1'"],
    [
      'member access',
      'x.y',
      'column 2',
      "'.' after 'x' reads a member, which expressions cannot do: read values with references such as {collector.NAME.path}",
    ],
    [
      'a ternary without :',
      '1 ? 2',
      'column 6',
      "expected ':' for the '?' at column 3, found the end of the expression",
    ],
    [
      'a : without ?',
      '1 : 2',
      'column 3',
      `expected ${OPERATOR_OR_END} after '1', found ':' (':' follows a '?')`,
    ],
    [
      'not in, Python style',
      "'a' not in ['b']",
      'column 5',
      `expected ${OPERATOR_OR_END} after ''a'', found 'not' (for 'not in', write 'not (x in y)')`,
    ],
    [
      'a comma outside a call',
      '1, 2',
      'column 2',
      `expected ${OPERATOR_OR_END} after '1', found ',' (',' separates the arguments of a call or the items of a list)`,
    ],
    [
      "indexing a call's result",
      "split('a b', ' ')[0]",
      'column 18',
      `expected ${OPERATOR_OR_END} after 'split(...)', found '[' (to call or index what comes before it, put that in parentheses)`,
    ],
    [
      'an expression of two lines',
      'True and\nFalse adn True',
      'line 2, column 7',
      `expected ${OPERATOR_OR_END} after 'False', found 'adn' (did you mean 'and'?)`,
    ],
  ])('%s: %s', (_what, expression, where, problem) => {
    const error = compileError(expression);
    expect(error.position?.where).toBe(where);
    expect(error.position?.problem).toBe(problem);
    expect(error.message).toBe(`syntax error at ${where}: ${problem} (in: ${expression})`);
  });

  it('gives unknown functions and names their column apart from the message, which is unchanged', () => {
    const unknownFunction = compileError("fil_exists('/x')");
    expect(unknownFunction.message).toBe(
      "unknown function 'fil_exists()' at column 1; the functions are listed in docs/evaluator.md (in: fil_exists('/x'))",
    );
    expect(unknownFunction.position).toEqual({
      line: 1,
      column: 1,
      where: 'column 1',
      problem: "unknown function 'fil_exists()'; the functions are listed in docs/evaluator.md",
    });
    expect(compileError("'x' in redhat").position).toMatchObject({
      where: 'column 8',
      problem:
        "unknown name 'redhat': read values with references like {collector.NAME.path}, and quote strings",
    });
    expect(compileError('1 + }').position).toMatchObject({ where: 'column 5' });
  });

  it('agrees with expr-eval on which texts parse (random token sequences)', () => {
    const parser = new ExpressionParser({
      functions: {},
      unaryOperators: unaryOperators(),
      binaryOperators: binaryOperators(),
      constants: { True: true, PI: Math.PI },
    });
    // expr-eval's quirks are in here: `f(1 2)` parses, `f(1)[0]` does not, `abs(x)(1)` does not,
    // `1;` does, `/*/` is a whole comment, `-` before `)` is not a name but `not` is.
    const tokens = ['1', 'x', "'s'", 'f', '(', ')', '[', ']', ',', '+', '-', '*', '==', 'and', 'or', 'not'];
    tokens.push('in', 'abs', '!', '?', ':', 'True', ';', '.', '2.5', '^', 'length', '0x1F', '1e5', '"a\\q"');
    tokens.push(
      '&',
      '=',
      '|',
      '||',
      '.5',
      '$a',
      '_',
      '/* c */',
      '/*/',
      '"',
      '#',
      '>=',
      '!=',
      '%',
      'PI',
      '1.',
    );
    const seed = 20240611;
    const random = seededRandom(seed);
    const pick = () => tokens[Math.floor(random() * tokens.length)]!;
    const disagreements: string[] = [];
    for (let round = 0; round < 40_000; round++) {
      let text = '';
      for (let count = 1 + Math.floor(random() * 8); count > 0; count--)
        text += pick() + (random() < 0.3 ? '' : ' ');
      let rewritten: string;
      try {
        rewritten = tuplesToLists(text);
      } catch {
        continue;
      }
      let parses = true;
      try {
        parser.parse(rewritten);
      } catch {
        parses = false;
      }
      const problem = parser.diagnose(rewritten, text);
      if (parses !== (problem === undefined))
        disagreements.push(`${JSON.stringify(text)}: expr-eval ${parses ? 'parses it' : 'refuses it'}`);
    }
    expect(disagreements, `seed ${seed}`).toEqual([]);
  });
});

describe('in a config file', () => {
  function ruleErrors(files: Record<string, string>): string[] {
    const dir = tempDir();
    mkdirSync(join(dir, 'conf.d'));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'conf.d', name), text);
    const config = loadConfig({
      configDir: dir,
      packDirs: [],
      definitionSchemas: { detector: DetectorDefinitionSchema },
    });
    return detectorRuleErrors(config.definitions, (expression) => evaluator.compile(expression)).map(
      (error: ConfigError) => error.message.replace(`${dir}/`, ''),
    );
  }

  it('names the file, the line of apply_if (not of detector:), the column, and the problem in words', () => {
    expect(
      ruleErrors({
        'x.yml': [
          'detector:',
          '  name: x',
          '  groups: [redis]',
          "  apply_if: \"file_exists('/etc/redis/redis-6.conf') adn file_exists('/usr/bin/redis-server')\"",
          '',
        ].join('\n'),
      }),
    ).toEqual([
      `conf.d/x.yml:4: detector x: apply_if: column 40: expected ${OPERATOR_OR_END} after 'file_exists(...)', found 'adn' (did you mean 'and'?)`,
    ]);
  });

  it('in a list file and in a block of several lines; unknown functions too', () => {
    expect(
      ruleErrors({
        'list.yml': [
          '- detector:',
          '    name: first',
          '    groups: [a]',
          '    apply_if: "fil_exists(\'/x\')"',
          '- detector:',
          '    name: second',
          '    groups: [b]',
          '    interval: 30s',
          '    apply_if: |',
          '      True and',
          '      (False or True',
          '',
        ].join('\n'),
      }),
    ).toEqual([
      "conf.d/list.yml:4: detector first: apply_if: column 1: unknown function 'fil_exists()'; the functions are listed in docs/evaluator.md",
      "conf.d/list.yml:9: detector second: apply_if: line 3, column 1: expected ')' to close the '(' at line 2, column 1, found the end of the expression",
    ]);
  });
});
