// Python %-formatting, alone. Expected strings were produced by CPython 3 with the same format
// and arguments; where JavaScript cannot tell 2.0 from 2 the difference is asserted explicitly.
import { describe, expect, it } from 'vitest';
import { ExpressionError, UnknownValueError } from '../../agent/evaluator/index.js';
import { pythonFormat, pythonRepr, pythonStr } from '../../agent/evaluator/python-format.js';

describe('pythonFormat', () => {
  it.each([
    ['cpu %s%%', [2.5], 'cpu 2.5%'],
    ['%d %.2f %s %%', [3, 2.345, 'x'], '3 2.35 x %'],
    ['%i|%5d|%-5d|%05d|%+d|% d', [7.9, 42, 42, -42, 5, 5], '7|   42|42   |-0042|+5| 5'],
    ['%x %X %#x %o %#o', [255, 255, 255, 8, 8], 'ff FF 0xff 10 0o10'],
    ['%f|%.2f|%.0f|%.0f|%.1f|%#.0f', [2.5, 1.005, 0.5, 2.5, 0.25, 3], '2.500000|1.00|0|2|0.2|3.'],
    ['%5.1f|%-8.3f|%+.1f|%010.2f', [3.14159, 2.0, 1.25, -3.5], '  3.1|2.000   |+1.2|-000003.50'],
    ['%e|%.2E|%#.0e', [12345.678, 0.000123, 5], '1.234568e+04|1.23E-04|5.e+00'],
    [
      '%g|%g|%g|%.3g|%G|%#g',
      [0.0001, 0.00001, 123456789, 3.14159, 1e-10, 2],
      '0.0001|1e-05|1.23457e+08|3.14|1E-10|2.00000',
    ],
    ['%s|%r|%s|%r', ['a', 'a', true, "it's"], `a|'a'|True|"it's"`],
    ['%5s|%-5s|%.2s', ['ab', 'ab', 'abcdef'], '   ab|ab   |ab'],
    ['%c%c', [65, 'z'], 'Az'],
    ['%s %s', [1e-5, 0.1 + 0.2], '1e-05 0.30000000000000004'],
    ['%.3d', [5], '005'],
    ['%ld %hd', [1, 2], '1 2'],
  ])('%j %% %j gives %j', (format, args, expected) => {
    expect(pythonFormat(format, args)).toBe(expected);
  });

  it('takes a single non-list value as the only argument', () => {
    expect(pythonFormat('%s items', 3)).toBe('3 items');
    expect(pythonFormat('%d%%', 97.5)).toBe('97%');
  });

  it('takes a list as the argument tuple, so a list is shown by wrapping it in another', () => {
    expect(pythonFormat('%s-%s', ['a', 'b'])).toBe('a-b');
    expect(pythonFormat('%s', [[1, 'a', false]])).toBe("[1, 'a', False]");
  });

  it('prints big whole numbers in full and rounds exact ties to even, as Python does', () => {
    expect(pythonFormat('%d', [1e22])).toBe('10000000000000000000000');
    expect(pythonFormat('%.0f', [1e22])).toBe('10000000000000000000000');
    expect(pythonFormat('%.2f', [0.125])).toBe('0.12');
    expect(pythonFormat('%.2f', [0.375])).toBe('0.38');
  });

  it('shows whole floats without .0: JavaScript numbers do not keep that difference', () => {
    // CPython: '%s' % 2.0 == '2.0'. Here the value 2.0 is the number 2.
    expect(pythonFormat('%s', [2.0])).toBe('2');
  });

  it.each([
    ['%s %s', [1], 'not enough arguments for format string'],
    ['%s', [1, 2], 'not all arguments converted during string formatting'],
    ['%n', [1], "unsupported format character 'n' (0x6e) at index 1"],
    ['%*d', [5, 1], "'*' width or precision is not supported"],
    ['%.*f', [2, 1.5], "'*' width or precision is not supported"],
    ['%(name)s', [1], 'mapping keys like %(name)s are not supported'],
    ['abc %', [1], 'incomplete format at index 4'],
    ['%2000s', ['x'], 'width 2000 is over the limit of 1024'],
    ['%.500f', [1], 'precision 500 is over the limit of 100'],
    ['%d', ['12'], "%d needs a number, got string '12'"],
    ['%x', [2.5], '%x needs an integer, got 2.5'],
    ['%c', ['ab'], '%c needs one character or a code point'],
  ])('refuses %j with %j: %s', (format, args, message) => {
    expect(() => pythonFormat(format, args)).toThrow(ExpressionError);
    expect(() => pythonFormat(format, args)).toThrow(message);
  });

  it("refuses a number that is not finite as unknown, where Python would print 'inf' or 'nan'", () => {
    for (const [format, value, shown] of [
      ['%f', Infinity, 'unknown: % format: %f of inf is infinite'],
      ['%5F', -Infinity, 'unknown: % format: %F of -inf is infinite'],
      ['%e', NaN, 'unknown: % format: %e of nan is not a number'],
      ['%d', NaN, 'unknown: % format: %d of nan is not a number'],
      ['%i', Infinity, 'unknown: % format: %i of inf is infinite'],
    ] as const) {
      expect(() => pythonFormat(format, [value])).toThrow(UnknownValueError);
      expect(() => pythonFormat(format, [value])).toThrow(shown);
    }
  });

  it('stops a format that would grow past the string limit', () => {
    const wide = '%1000s'.repeat(100);
    expect(() =>
      pythonFormat(
        wide,
        Array.from({ length: 100 }, () => 'x'),
      ),
    ).toThrow('over the limit of 65536');
  });
});

describe('pythonStr and pythonRepr', () => {
  it('show values the way Python does', () => {
    expect(pythonStr(true)).toBe('True');
    expect(pythonStr(false)).toBe('False');
    expect(pythonStr(2.5)).toBe('2.5');
    expect(pythonStr(-0.00001)).toBe('-1e-05');
    expect(pythonStr(0.0001)).toBe('0.0001');
    expect(pythonStr(NaN)).toBe('nan');
    expect(pythonStr(-Infinity)).toBe('-inf');
    expect(pythonStr('text')).toBe('text');
    expect(pythonRepr('a\nb\\')).toBe("'a\\nb\\\\'");
    expect(pythonRepr(['x', 1, [true]])).toBe("['x', 1, [True]]");
  });
});
