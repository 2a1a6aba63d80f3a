// References: syntax ({…} and {{…}}, defaults), greedy resolution of dotted keys against the data,
// what counts as missing, the references() listing and templates.
import { describe, expect, it } from 'vitest';
import { Evaluator, ExpressionError, UnknownValueError } from '../../agent/evaluator/index.js';
import { fakeProviders } from './helpers.js';

const collectors = {
  cpustats: { cpuall: { '%idle': 97.5, '%user': 1.5 } },
  diskusage: { '/': { pct_used: 41 }, '/var/lib': { pct_used: 73 }, '/var': { pct_used: 12 } },
  interfaces: { 'eth0.100': { rx: 100 }, eth0: { rx: 1, '100': { rx: 2 } } },
  // 'a.b' is a key whose subtree has no 'c': the lookup must back off to a -> b -> c.
  tricky: { 'a.b': { x: 1 }, a: { b: { c: 2 } } },
  redis: { role: 'master', connected: true, ops: null, slaves: ['10.0.0.2', '10.0.0.3'], nested: [{ a: 1 }] },
};
const evaluator = new Evaluator(fakeProviders({ collectors }));

describe('reference resolution', () => {
  it.each([
    ['{collector.cpustats.cpuall.%idle}', 97.5],
    ['{{collector.cpustats.cpuall.%user}}', 1.5],
    ['{collector.diskusage./.pct_used}', 41],
    ['{collector.diskusage./var/lib.pct_used}', 73],
    ['{collector.diskusage./var.pct_used}', 12],
    // The longest key wins: eth0.100 (a VLAN) over eth0 -> 100.
    ['{collector.interfaces.eth0.100.rx}', 100],
    ['{collector.interfaces.eth0.rx}', 1],
    ['{collector.tricky.a.b.x}', 1],
    ['{collector.tricky.a.b.c}', 2],
    ['{collector.redis.role}', 'master'],
    ['{collector.redis.connected}', true],
    ['{collector.redis.slaves}', ['10.0.0.2', '10.0.0.3']],
    ['{collector.redis.slaves.1}', '10.0.0.3'],
    ['{ collector.redis.role }', 'master'],
  ])('%s is %j', async (expression, expected) => {
    expect(await evaluator.evaluate(expression)).toEqual(expected);
  });

  it('reads configuration, parameters and variables from the scope', async () => {
    const scope = {
      configuration: { thresholds: { cpuidle: { warning: 5 } } },
      parameters: { 'port.main': 6379 },
      variables: { name: 'db' },
    };
    expect(await evaluator.evaluate('{configuration.thresholds.cpuidle.warning}', scope)).toBe(5);
    expect(await evaluator.evaluate('{parameters.port.main}', scope)).toBe(6379);
    expect(await evaluator.evaluate('{variables.name}', scope)).toBe('db');
    await expect(evaluator.evaluate('{variables.other}', scope)).rejects.toThrow(
      'unknown: variables.other is not available',
    );
  });

  it('uses a default only when the value is missing', async () => {
    expect(await evaluator.evaluate('{collector.redis.absent|0} + 1')).toBe(1);
    expect(await evaluator.evaluate('{collector.nocollector.x.y|-2.5}')).toBe(-2.5);
    expect(await evaluator.evaluate("{collector.redis.absent|'none'}")).toBe('none');
    expect(await evaluator.evaluate('{collector.redis.absent | "it\'s" }')).toBe("it's");
    expect(await evaluator.evaluate("{collector.redis.absent|'a}b'}")).toBe('a}b');
    expect(await evaluator.evaluate('{collector.redis.absent|True}')).toBe(true);
    expect(await evaluator.evaluate('{{collector.redis.absent|7}}')).toBe(7);
    expect(await evaluator.evaluate('{collector.redis.role|"x"}')).toBe('master');
    // null in collector data means "no value": the default applies.
    expect(await evaluator.evaluate('{collector.redis.ops|0}')).toBe(0);
  });

  it('reports a missing value without default as unknown, naming it exactly', async () => {
    for (const [expression, name] of [
      ['{collector.x.y}', 'collector.x.y'],
      ['{collector.redis.ops} > 3', 'collector.redis.ops'],
      ['{collector.cpustats.cpuall.%steal}', 'collector.cpustats.cpuall.%steal'],
      ['{{configuration.thresholds.cpu}}', 'configuration.thresholds.cpu'],
    ]) {
      const error = await evaluator.evaluate(expression as string).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnknownValueError);
      expect((error as Error).message).toBe(`unknown: ${name} is not available`);
    }
  });

  it('resolves a reference only when the evaluation reaches it', async () => {
    expect(await evaluator.evaluate('False and {collector.missing.ops} > 1')).toBe(false);
    expect(await evaluator.evaluate('True or {collector.missing.ops} > 1')).toBe(true);
    expect(await evaluator.evaluate("{collector.redis.role} == 'slave' ? {collector.missing.x} : 'ok'")).toBe(
      'ok',
    );
  });

  it('refuses a reference to an object or to a list of objects, saying what to write', async () => {
    await expect(evaluator.evaluate('{collector.cpustats}')).rejects.toThrow(
      'collector.cpustats is an object: reference one of its values, e.g. {collector.cpustats.cpuall}',
    );
    await expect(evaluator.evaluate('{collector.cpustats.cpuall}')).rejects.toThrow(ExpressionError);
    await expect(evaluator.evaluate('{collector.redis.nested}')).rejects.toThrow(
      'a list can be used when it holds numbers, strings or booleans only',
    );
  });

  it('leaves braces inside string literals alone', async () => {
    expect(await evaluator.evaluate("'{collector.x.y}'")).toBe('{collector.x.y}');
    expect(await evaluator.evaluate(`"a {b} c" + {collector.redis.role}`)).toBe('a {b} cmaster');
  });

  it.each([
    ['{collector.}', "'collector.' needs a path"],
    ['{foo.bar} + 1', "unexpected '{' at column 1"],
    ['{collector.x.y', "expected '}' at column 15"],
    ['{{collector.x.y} + 1', "expected '}}' at column 16"],
    ['{collector.x.y|zero}', "default 'zero' must be a number, a quoted string or True/False"],
    ["{collector.x.y|'open}", 'the default string is not closed'],
    ['1 + }', "unexpected '}' at column 5"],
    ['__ref0 + 1', "names starting with '__ref' are reserved"],
  ])('refuses %j: %s', (expression, message) => {
    expect(() => evaluator.compile(expression)).toThrow(ExpressionError);
    expect(() => evaluator.compile(expression)).toThrow(message);
  });

  it('keeps syntax error columns pointing into the expression as written', () => {
    // The reference is replaced by a shorter variable padded to the same length.
    expect(() => evaluator.compile('({collector.cpustats.cpuall.%idle} 2')).toThrow(
      "syntax error at column 36: expected an operator or ')' after '{collector.cpustats.cpuall.%idle}', found '2'",
    );
    expect(() => evaluator.compile('(1 2')).toThrow(
      "syntax error at column 4: expected an operator or ')' after '1', found '2'",
    );
  });
});

describe('references()', () => {
  it('lists each reference once, in order, with the collector name in the path', () => {
    expect(
      evaluator.references(
        "'%s' % (100-{collector.cpustats.cpuall.%idle}) + {{configuration.a.b}} + {collector.cpustats.cpuall.%idle|0} + '{collector.not.this}' + {parameters.p}",
      ),
    ).toEqual([
      { source: 'collector', path: 'cpustats.cpuall.%idle' },
      { source: 'configuration', path: 'a.b' },
      { source: 'parameters', path: 'p' },
    ]);
  });

  it('is also available on a compiled expression', () => {
    expect(evaluator.compile('{variables.x} + {collector.diskusage./var/lib.pct_used}').references).toEqual([
      { source: 'variables', path: 'x' },
      { source: 'collector', path: 'diskusage./var/lib.pct_used' },
    ]);
  });
});

describe('renderTemplate', () => {
  it('replaces references by their text and keeps other braces', async () => {
    expect(await evaluator.renderTemplate('redis-{collector.redis.role}')).toBe('redis-master');
    expect(await evaluator.renderTemplate('{{collector.redis.role}}/{collector.redis.connected}')).toBe(
      'master/True',
    );
    expect(await evaluator.renderTemplate('idle {collector.cpustats.cpuall.%idle}% {"json": 1}')).toBe(
      'idle 97.5% {"json": 1}',
    );
    expect(await evaluator.renderTemplate('{collector.redis.slaves}')).toBe("['10.0.0.2', '10.0.0.3']");
    expect(await evaluator.renderTemplate("role-{collector.nope.x|'none'}")).toBe('role-none');
    expect(await evaluator.renderTemplate('{variables.n}', { variables: { n: 3 } })).toBe('3');
  });

  it('rejects with the same errors as evaluate', async () => {
    await expect(evaluator.renderTemplate('redis-{collector.nope.role}')).rejects.toThrow(
      new UnknownValueError('unknown: collector.nope.role is not available'),
    );
    await expect(evaluator.renderTemplate('{collector.cpustats}')).rejects.toBeInstanceOf(ExpressionError);
    await expect(evaluator.renderTemplate('{collector.x|bad}')).rejects.toBeInstanceOf(ExpressionError);
  });
});
