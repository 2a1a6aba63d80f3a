// $macros$ in script lines: parsed, resolved against the check's values, the plugins dir and the
// node, and substituted after the split (argv) or quoted in place (shell: true). Unknown macros are
// refused when the line is compiled, with a message that says what to write instead.
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';

import type { CheckNode } from '../../agent/checks/check-type.js';
import { compileCommand, type CommandOptions } from '../../agent/checks/nagios/command.js';
import { parseTemplate } from '../../agent/checks/nagios/macros.js';
import { SCRIPT_CHECK_TYPE } from '../../agent/checks/types/script.js';
import { IN_AGENT_SPAWNER } from '../../agent/checks/nagios/spawn-in-agent.js';

const NODE: CheckNode = { name: 'web-1', hostname: 'web-1.example.org', address: '10.0.0.7' };

function argvOf(line: string, body: Record<string, unknown> = {}, shell = false, node = NODE): string[] {
  const options: CommandOptions = { shell, body, nagiosPluginsDir: '/usr/lib/nagios/plugins' };
  return compileCommand(line, options).argv(node);
}

function compileError(line: string, body: Record<string, unknown> = {}, shell = false): string {
  try {
    argvOf(line, body, shell);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`${line} compiled`);
}

describe('parseTemplate', () => {
  it('splits text and macros, $$ being a dollar', () => {
    expect(parseTemplate('-w $mailq.warning$ costs $$5 $a$$b$')).toEqual([
      { text: '-w ' },
      { macro: 'mailq.warning', index: 3 },
      { text: ' costs $5 ' },
      { macro: 'a', index: 29 },
      { macro: 'b', index: 32 },
    ]);
  });

  it('refuses a lone dollar', () => {
    expect(() => parseTemplate('price $5')).toThrow(/a lone \$ \(write \$\$ for a literal dollar/);
  });

  it('refuses a macro name with other characters', () => {
    expect(() => parseTemplate('$a b$')).toThrow(/\$a b\$ is not a macro name/);
    expect(() => parseTemplate('$a..b$')).toThrow(/is not a macro name/);
  });
});

describe('compileCommand without a shell', () => {
  it('runs the seed mailq example as written', () => {
    const body = { mailq: { warning: 1, critical: 2 } };
    expect(argvOf('$nagiosplugins$/check_mailq -w $mailq.warning$ -c $mailq.critical$', body)).toEqual([
      '/usr/lib/nagios/plugins/check_mailq',
      '-w',
      '1',
      '-c',
      '2',
    ]);
  });

  it('fills in the node macros at each run', () => {
    const command = compileCommand('check_ping -H $address$ --name=$hostname$/$name$', {
      shell: false,
      body: {},
      nagiosPluginsDir: '/p',
    });
    expect(command.argv(NODE)).toEqual(['check_ping', '-H', '10.0.0.7', '--name=web-1.example.org/web-1']);
    expect(command.argv({ name: 'db', hostname: 'db.lan', address: '10.0.0.9' })).toEqual([
      'check_ping',
      '-H',
      '10.0.0.9',
      '--name=db.lan/db',
    ]);
  });

  it('gives the node macros precedence over check values of the same name', () => {
    expect(argvOf('x $name$', { name: 'my-check' })).toEqual(['x', 'web-1']);
  });

  it('substitutes inside quotes too, after the quotes are gone', () => {
    expect(argvOf(`x '$a$ and $b$' "$$HOME"`, { a: 'one', b: true })).toEqual(['x', 'one and true', '$HOME']);
  });

  it('keeps every value one argument, whatever it holds', () => {
    const values = [
      'x; touch /tmp/pwned',
      '$(touch /tmp/pwned)',
      '`touch /tmp/pwned`',
      'a\nb',
      '*',
      'it\'s "quoted"',
      '  spaced  ',
      '$other$',
      '',
    ];
    for (const value of values)
      expect(argvOf('check -v $v$ end', { v: value })).toEqual(['check', '-v', value, 'end']);
  });

  it('refuses an unknown macro, and suggests the value meant', () => {
    const message = compileError('check -w $mailq.warnign$', { mailq: { warning: 1 } });
    expect(message).toContain('script: argument 2 ("$mailq.warnign$"): unknown macro $mailq.warnign$');
    expect(message).toContain('(did you mean $mailq.warning$?)');
    expect(message).toContain('$nagiosplugins$, $hostname$, $address$, $name$');
  });

  it('suggests the reserved names too', () => {
    expect(compileError('$nagiosplugin$/check_x')).toContain(
      'script: the program ("$nagiosplugin$/check_x"): unknown macro $nagiosplugin$ (did you mean $nagiosplugins$?)',
    );
    expect(compileError('check -H $HOSTNAME$')).toContain('(did you mean $hostname$?)');
  });

  it('refuses a macro that names a map, a list or null', () => {
    expect(compileError('check $mailq$', { mailq: { warning: 1 } })).toContain(
      'macro $mailq$ is a map, not a value: name one inside it, e.g. $mailq.warning$',
    );
    expect(compileError('check $ports$', { ports: [80, 443] })).toContain(
      'macro $ports$ is a list, not a value',
    );
    expect(compileError('check $x$', { x: null })).toContain('macro $x$ is null, not a value');
  });

  it('refuses a path through a value', () => {
    expect(compileError('check $a.b$', { a: 'text' })).toContain('unknown macro $a.b$');
  });

  it('reports the quoting errors of the line', () => {
    expect(compileError(`check 'open`)).toBe(`script: the quote ' is never closed (column 7)`);
    expect(compileError('check | grep')).toMatch(/^script: \| is shell syntax/);
  });
});

describe('compileCommand with shell: true', () => {
  it('runs the line with /bin/sh -c, each value quoted for its place', () => {
    const body = { v: "it's $(id)" };
    expect(argvOf(`check $v$ | grep '$v$' > "/tmp/$v$.log"`, body, true)).toEqual([
      '/bin/sh',
      '-c',
      String.raw`check 'it'\''s $(id)' | grep 'it'\''s $(id)' > "/tmp/it's \$(id).log"`,
    ]);
  });

  it('quotes the node macros too', () => {
    expect(argvOf('ping $address$', {}, true, { ...NODE, address: '1.2.3.4; reboot' })).toEqual([
      '/bin/sh',
      '-c',
      `ping '1.2.3.4; reboot'`,
    ]);
  });

  it('passes $$ on as a dollar for the shell', () => {
    expect(argvOf('echo $$HOME', {}, true)).toEqual(['/bin/sh', '-c', 'echo $HOME']);
  });

  it('refuses a macro after a backslash, whose quoting it would break', () => {
    expect(compileError('echo \\$v$', { v: 'x' }, true)).toContain('a macro cannot follow a backslash');
  });

  it('names the column of an unknown macro', () => {
    expect(compileError('echo ok; check $nope$', {}, true)).toMatch(
      /^script \(shell: true\): unknown macro \$nope\$.*\(column 16\)$/,
    );
  });
});

describe('the script check type', () => {
  const dependencies = {
    evaluator: {
      evaluate: () => Promise.reject(new Error('unused')),
      searchText: () => Promise.reject(new Error('unused')),
    },
    nagiosPluginsDir: '/usr/lib/nagios/plugins',
    pluginSpawner: IN_AGENT_SPAWNER,
  };
  const create = (body: Record<string, unknown>) =>
    SCRIPT_CHECK_TYPE.create({ name: 'mailq', body, packParameters: {} }, dependencies);

  it('is `type: script`, implied by a `script:` key', () => {
    expect(SCRIPT_CHECK_TYPE.type).toBe('script');
    expect(SCRIPT_CHECK_TYPE.impliedBy).toEqual(['script']);
  });

  it('accepts the seed example and refuses a script that is not text, or a shell that is not a boolean', () => {
    const seed = {
      if_group: 'linux',
      script: '$nagiosplugins$/check_mailq -w $mailq.warning$ -c $mailq.critical$',
      interval: '60s',
      mailq: { warning: 1, critical: 2 },
    };
    expect(Value.Check(SCRIPT_CHECK_TYPE.schema, seed)).toBe(true);
    expect(() => create(seed)).not.toThrow();
    expect(Value.Check(SCRIPT_CHECK_TYPE.schema, { script: 5 })).toBe(false);
    expect(Value.Check(SCRIPT_CHECK_TYPE.schema, { script: '' })).toBe(false);
    expect(Value.Check(SCRIPT_CHECK_TYPE.schema, { script: 'x', shell: 'yes' })).toBe(false);
  });

  it('refuses an unknown macro when the check is created, not at its first run', () => {
    expect(() => create({ script: 'check_mailq -w $mailq.warning$', mailq: {} })).toThrow(
      /^script: argument 2 \("\$mailq\.warning\$"\): unknown macro \$mailq\.warning\$/,
    );
  });
});
