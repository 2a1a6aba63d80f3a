// Splitting a `script:` line into words by POSIX quoting, nothing expanded; and quoting a value
// back for `shell: true` lines, checked against a real /bin/sh.
import { execFileSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import {
  CommandLineError,
  scanQuoting,
  shellQuote,
  splitCommandLine,
  type QuoteContext,
} from '../../agent/checks/nagios/argv.js';

describe('splitCommandLine', () => {
  it.each<[string, string[]]>([
    ['check_load -w 5,4,3 -c 10,8,6', ['check_load', '-w', '5,4,3', '-c', '10,8,6']],
    ['  spaced \t out\n', ['spaced', 'out']],
    [`a 'single quoted' b`, ['a', 'single quoted', 'b']],
    [`a "double quoted" b`, ['a', 'double quoted', 'b']],
    [`joined'quo'"ted"`, ['joinedquoted']],
    [`'' ""`, ['', '']],
    [`'it''s'`, ['its']],
    [`"it's"`, ["it's"]],
    [`'say "hi"'`, ['say "hi"']],
    [String.raw`back\ slash \'x\'`, ['back slash', "'x'"]],
    [String.raw`"a \"b\" \\ \$ \x"`, [String.raw`a "b" \ $ \x`]],
    [String.raw`'no \escape in single'`, [String.raw`no \escape in single`]],
    ['line\\\ncontinued', ['linecontinued']],
    // Nothing is expanded: globs, variables, tildes, substitution inside quotes stay as written.
    ['ls * ~ $HOME "$(id)" \'`id`\'', ['ls', '*', '~', '$HOME', '$(id)', '`id`']],
    ['check "a | b" \'c;d\' e\\&f', ['check', 'a | b', 'c;d', 'e&f']],
  ])('%j', (line, words) => {
    expect(splitCommandLine(line)).toEqual(words);
  });

  it.each<[string, string, number]>([
    [`check 'open`, `the quote ' is never closed`, 7],
    [`check "open`, `the quote " is never closed`, 7],
    ['check \\', 'the line ends with a lone backslash', 7],
    ['check | grep x', '| is shell syntax', 7],
    ['check; reboot', '; is shell syntax', 6],
    ['check && reboot', '& is shell syntax', 7],
    ['check > /tmp/x', '> is shell syntax', 7],
    ['check < /etc/passwd', '< is shell syntax', 7],
    ['check $(id)', '( is shell syntax', 8],
    ['check `id`', '` is shell syntax', 7],
    ['   ', 'the command line is empty', 1],
  ])('refuses %j', (line, message, column) => {
    let caught: unknown;
    try {
      splitCommandLine(line);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CommandLineError);
    expect((caught as CommandLineError).message).toContain(message);
    expect((caught as CommandLineError).column).toBe(column);
  });

  it('says how to pass shell syntax on', () => {
    expect(() => splitCommandLine('a | b')).toThrow(
      /quote it to pass it as an argument, or set `shell: true`/,
    );
  });
});

describe('scanQuoting', () => {
  it('gives each character its quoting context', () => {
    const contexts = scanQuoting(`a'b'"c"`).map((scanned) => `${scanned.char}:${scanned.context}`);
    expect(contexts).toEqual(['a:none', "':none", 'b:single', "':single", '":none', 'c:double', '":double']);
  });
});

describe('shellQuote', () => {
  // Each value, quoted for each context, is read back by a real sh as exactly itself.
  const values = [
    'plain',
    "it's",
    'say "hi"',
    'x; touch /tmp/never',
    '$(id) `id` $HOME',
    'back\\slash',
    'new\nline',
    '* ? [a]',
    '',
  ];
  const templates: Record<QuoteContext, (quoted: string) => string> = {
    none: (quoted) => `printf %s ${quoted}`,
    single: (quoted) => `printf %s '${quoted}'`,
    double: (quoted) => `printf %s "${quoted}"`,
  };
  for (const [context, template] of Object.entries(templates) as [QuoteContext, (q: string) => string][]) {
    it.each(values)(`in context ${context}: %j`, (value) => {
      const line = template(shellQuote(value, context));
      const printed = execFileSync('/bin/sh', ['-c', line], { encoding: 'utf8', cwd: '/' });
      expect(printed).toBe(value);
    });
  }
});
