// Hostile expressions and data. Every input must end as the ExpressionError or UnknownValueError it
// deserves (with its reason), or as the exact value expected, and nothing may reach JavaScript globals,
// prototypes or callables beyond the registered functions: the sentinel functions below count
// every call, and Object.prototype is checked for pollution at the end.
import { afterAll, describe, expect, it } from 'vitest';
import {
  Evaluator,
  ExpressionError,
  UnknownValueError,
  type EvaluatedValue,
  type EvaluationScope,
} from '../../agent/evaluator/index.js';
import { fakeProviders } from './helpers.js';

declare global {
  var __opsbroHostileSentinel: number | undefined;
}
globalThis.__opsbroHostileSentinel = 0;
const touch = (): number =>
  (globalThis.__opsbroHostileSentinel = (globalThis.__opsbroHostileSentinel ?? 0) + 1);
const prototypeKeysBefore = Object.getOwnPropertyNames(Object.prototype).sort();

class Secretive {
  secret = 'inside a class instance';
  toString(): string {
    touch();
    return 'x';
  }
}

const trapped = new Proxy(
  { a: 1 },
  {
    get: () => touch(),
    getOwnPropertyDescriptor: () => {
      touch();
      return { value: 1, configurable: true, enumerable: true, writable: true };
    },
  },
);

const smuggled: Record<string, unknown> = {
  fn: () => touch(),
  getter: Object.defineProperty({}, 'value', { get: touch, enumerable: true }),
  proxy: trapped,
  valueOfObject: { valueOf: touch, toString: touch },
  instance: new Secretive(),
  symbol: Symbol('s'),
  big: 10n,
  inherited: Object.create({ leaked: 'from the prototype' }) as object,
  listWithGetter: Object.defineProperty([1, 2], 0, { get: touch }),
  listWithFunction: [1, touch],
  huge: 'x'.repeat(70_000),
  template: '{collector.secrets.token}',
};
Object.defineProperty(smuggled, 'accessor', { get: touch, enumerable: true });

const providers = fakeProviders({
  collectors: {
    data: smuggled,
    secrets: { token: 's3cr3t' },
    list: { items: Array.from({ length: 5000 }, () => 'y'.repeat(60_000)) },
  },
});
const evaluator = new Evaluator(providers);
const scope: EvaluationScope = { configuration: smuggled, parameters: trapped };

type Outcome = { value: EvaluatedValue } | { error: Error };

async function outcome(expression: string, withScope: EvaluationScope = scope): Promise<Outcome> {
  try {
    return { value: await evaluator.evaluate(expression, withScope) };
  } catch (error) {
    // The contract: only these two error classes ever leave evaluate().
    expect([ExpressionError, UnknownValueError]).toContain((error as Error).constructor);
    return { error: error as Error };
  }
}

afterAll(() => {
  expect(globalThis.__opsbroHostileSentinel).toBe(0);
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeysBefore);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  delete globalThis.__opsbroHostileSentinel;
});

describe('no way to JavaScript globals, prototypes or foreign callables', () => {
  const unknownName = (name: string) => `unknown name '${name}'`;
  const unknownFunction = (name: string) => `unknown function '${name}()'`;
  const memberAccess = 'reads a member, which expressions cannot do';
  const functionValue = 'a function is not a value';
  const indexByString = 'needs a whole number index, got string';
  const notCallable = 'only the registered functions can be called';
  /** Refused by the parser itself (its wording is the parser's: only the refusal is checked). */
  const syntax = undefined;

  // Each is refused, with the reason it is refused for: a value (any value) would be a way through.
  it.each([
    ['constructor', unknownName('constructor')],
    ['__proto__', unknownName('__proto__')],
    ['prototype', unknownName('prototype')],
    ['this', unknownName('this')],
    ['process', unknownName('process')],
    ['process.exit(1)', memberAccess],
    ['globalThis', unknownName('globalThis')],
    ["require('fs')", unknownFunction('require')],
    ["eval('1')", unknownFunction('eval')],
    ["Function('return process')()", unknownFunction('Function')],
    ["import('node:fs')", unknownFunction('import')],
    ['toString()', unknownFunction('toString')],
    ['valueOf()', unknownFunction('valueOf')],
    ["hasOwnProperty('x')", unknownFunction('hasOwnProperty')],
    ["__defineGetter__('x', len)", unknownFunction('__defineGetter__')],
    ['len.constructor', memberAccess],
    ["'a'.constructor", memberAccess],
    ["[].constructor.constructor('return process')()", memberAccess],
    ["grep.call(1, 'x', '/etc/passwd')", memberAccess],
    ["grep['constructor']", functionValue],
    ["len['call']", functionValue],
    ["'abc'['length']", indexByString],
    ["[1]['__proto__']", indexByString],
    ['len[0]', functionValue],
    ['grep', functionValue],
    ['[grep, len]', functionValue],
    ['grep == grep', functionValue],
    ["grep || ''", functionValue],
    ['len(grep)', functionValue],
    ['sin', unknownName('sin')],
    ['x = 1', syntax],
    ['constructor = 1', syntax],
    ['f(x) = x', syntax],
    ["polluted = 'yes'", syntax],
    ['1; process', unknownName('process')],
    ['new Date()', syntax],
    ['(1)(2)', notCallable],
    ["'abc'(1)", notCallable],
    ['__ref0', "names starting with '__ref' are reserved"],
  ] as Array<[string, string | undefined]>)('%s is refused: %s', async (expression, reason) => {
    const result = await outcome(expression);
    expect('value' in result ? result.value : undefined).toBeUndefined();
    expect('error' in result && result.error).toBeInstanceOf(ExpressionError);
    if (reason !== undefined) expect('error' in result && result.error.message).toContain(reason);
  });

  it('calls a registered function reached through a ternary, and nothing else', async () => {
    expect(await outcome("(True ? len : grep)('abc')")).toEqual({ value: 3 });
  });
});

describe('values smuggled in collector data or scope', () => {
  it.each([
    ['{collector.data.fn}', 'collector.data.fn is a function, not a value'],
    ['{collector.data.getter.value}', 'is computed by code (an accessor), not data; it was not read'],
    ['{collector.data.accessor}', 'is computed by code (an accessor)'],
    ['{collector.data.proxy.a}', 'the data is a proxy, not plain data'],
    ['{collector.data.valueOfObject}', 'collector.data.valueOfObject is an object'],
    ['{collector.data.valueOfObject} + 1', 'is an object'],
    ["'%s' % {collector.data.instance}", 'is an object'],
    ['{collector.data.symbol}', 'is a symbol, not a value'],
    ['{collector.data.big}', 'is a bigint, not a value'],
    ['{collector.data.listWithGetter}', 'is computed by code (an accessor)'],
    [
      '{collector.data.listWithFunction}',
      'a list can be used when it holds numbers, strings or booleans only',
    ],
    ['{collector.data.huge}', 'string of 70000 characters is over the limit of 65536'],
    ['{configuration.fn}', 'configuration.fn is a function, not a value'],
    ['{configuration.accessor}', 'is computed by code (an accessor)'],
    ['{parameters.a}', 'the data is a proxy, not plain data'],
  ])('%s is refused: %s', async (expression, message) => {
    const result = await outcome(expression);
    expect('error' in result && result.error).toBeInstanceOf(ExpressionError);
    expect('error' in result && result.error.message).toContain(message);
  });

  it.each([
    '{collector.data.inherited.leaked}',
    '{collector.data.fn.name}',
    '{collector.data.__proto__}',
    '{collector.data.constructor}',
    '{collector.data.toString}',
    '{collector.data.instance.constructor}',
    '{collector.__proto__.polluted}',
    '{configuration.__proto__.constructor}',
    '{variables.constructor}',
  ])('%s is not available: nothing outside own data properties is read', async (expression) => {
    const result = await outcome(expression);
    expect('error' in result && result.error).toBeInstanceOf(UnknownValueError);
  });

  it('reads a class instance only through its own data properties', async () => {
    expect(await outcome('{collector.data.instance.secret}')).toEqual({ value: 'inside a class instance' });
  });

  it('renders a value that looks like a reference as text, without resolving it', async () => {
    expect(await evaluator.renderTemplate('t={collector.data.template}')).toBe('t={collector.secrets.token}');
    expect(await outcome('{collector.data.template}')).toEqual({ value: '{collector.secrets.token}' });
  });

  it('reports a provider that throws as an ExpressionError', async () => {
    const broken = new Evaluator({
      ...providers,
      collectorData: () => {
        throw new TypeError('registry exploded');
      },
      groups: () => {
        throw new Error('no groups');
      },
    });
    await expect(broken.evaluate('{collector.cpu.x}')).rejects.toThrow(
      new ExpressionError('collector.cpu.x: registry exploded (in: {collector.cpu.x})'),
    );
    await expect(broken.evaluate("is_in_group('x')")).rejects.toThrow('is_in_group(): no groups');
  });
});

describe('size, depth and format abuse', () => {
  it.each([
    ['x'.repeat(5000), 'over the limit of 4096'],
    [`${'('.repeat(70)}1${')'.repeat(70)}`, 'brackets nested deeper than 64'],
    [`${'['.repeat(70)}1${']'.repeat(70)}`, 'brackets nested deeper than 64'],
    ["'%2000s' % 'x'", 'width 2000 is over the limit of 1024'],
    ["'%*d' % (5, 1)", "'*' width or precision is not supported"],
    ["'%n' % 1", "unsupported format character 'n'"],
    ["'%(a)s' % 1", 'mapping keys'],
    ["'%.999f' % 1", 'precision 999 is over the limit'],
    // Within the limits: the exact value (|| joins strings, as in the original's expressions).
    [
      "'%1000s%1000s' % ('a', 'b') || '%1000s' % ''",
      { value: `${' '.repeat(999)}a${' '.repeat(999)}b${' '.repeat(1000)}` },
    ],
    [
      "replace(replace(replace(replace('aaaaaaaaaa', 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa')",
      'replace(): result of 100000 characters is over the limit of 65536',
    ],
    [
      "join(split(replace(replace(replace('aaaaaaaaaa', 'a', 'a,a,a,a,a'), 'a', 'a,a,a,a,a'), 'a', 'a,a'), ','), '')",
      // 10 a's, each made 5, then 5, then 2: 500 a's, the commas split out and joined away.
      { value: 'a'.repeat(500) },
    ],
    ['{collector.list.items}', 'value holds over 1048576 characters'],
    ["str({collector.list.items}) + 'x'", 'value holds over 1048576 characters'],
    ['171!', 'needs a whole number from 0 to 170'],
  ] as Array<[string, string | { value: string }]>)('%s', async (expression, expected) => {
    const result = await outcome(expression);
    if (typeof expected === 'string') expect('error' in result && result.error.message).toContain(expected);
    else expect(result).toEqual(expected);
  });

  it('keeps huge numbers as numbers while they are finite, and unknown past that', async () => {
    const overflow = await outcome('9^9^9^9');
    expect('error' in overflow && overflow.error).toBeInstanceOf(UnknownValueError);
    expect(await outcome('170! > 1e306')).toEqual({ value: true });
    // Every digit of the double nearest 1e300, as CPython prints '%d' % 1e300.
    const digits = String(await evaluator.evaluate("'%d' % (10^300)"));
    expect(digits).toHaveLength(301);
    expect(
      digits.startsWith('10000000000000000525047602552044202487044685811081591549158541155118024579889'),
    ).toBe(true);
    expect(digits.endsWith('42838115669472196386865459400540160')).toBe(true);
  });

  it('survives very long operator chains without a stack overflow escaping', async () => {
    const chains: Array<[string, EvaluatedValue]> = [
      [`${'-'.repeat(4000)}1`, 1],
      [`${'not '.repeat(1000)}1`, true],
      [`${'1 ? '.repeat(500)}1${' : 0'.repeat(500)}`, 1],
      [`${'1 + '.repeat(1000)}1`, 1001],
    ];
    for (const [expression, expected] of chains) {
      const result = await outcome(expression);
      // Deep enough chains may hit the engine's stack: that must come out as an ExpressionError.
      if ('value' in result) expect(result.value).toBe(expected);
      else expect(result.error.message).toContain('nested too deeply');
    }
  });

  it('rejects non-string input with an ExpressionError, not a TypeError', async () => {
    for (const input of [42, null, undefined, { source: '1' }, ['1']]) {
      await expect(evaluator.evaluate(input as unknown as string)).rejects.toBeInstanceOf(ExpressionError);
    }
    await expect(evaluator.renderTemplate(7 as unknown as string)).rejects.toBeInstanceOf(ExpressionError);
    expect(() => evaluator.references(7 as unknown as string)).toThrow(ExpressionError);
  });
});
