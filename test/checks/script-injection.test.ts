// A macro value can never add words or commands: a real plugin (a script that prints the
// arguments it got) receives each hostile value as one literal argument, and the file the value
// tries to create never exists; with `shell: true` too, where values are quoted for the shell.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeEach, describe, expect, it } from 'vitest';

import { cleanupAll, tempDir } from '../helpers/agent-process.js';
import { NODE, runCheck, writePlugin } from './script-fixtures.js';

const dir = tempDir('opsbro-injection-');
afterAll(cleanupAll);

const pwned = join(dir, 'pwned');
const HOSTILE_VALUES = [
  `x; touch ${pwned}`,
  `$(touch ${pwned})`,
  `\`touch ${pwned}\``,
  `x\ntouch ${pwned}`,
  `x && touch ${pwned}`,
  `x | touch ${pwned}`,
  `x > ${pwned}`,
  `'; touch ${pwned}; '`,
  `"; touch ${pwned}; "`,
  `\\"; touch ${pwned}; \\"`,
  `${dir}/*`,
  '$HOME ~ $$',
];

/** Writes the arguments it got to `received`, each ended by a NUL, and says how many there were. */
const received = join(dir, 'received');
const printArgs = writePlugin(dir, 'print-args', `printf '%s\\0' "$@" > ${received}\necho "$# arguments"`);

/** The arguments the plugin last received. */
function receivedArgs(): string[] {
  return readFileSync(received, 'utf8').split('\0').slice(0, -1);
}

beforeEach(() => {
  expect(existsSync(pwned)).toBe(false);
  rmSync(received, { force: true });
});

describe('without a shell', () => {
  it.each(HOSTILE_VALUES)('a check value %j is one literal argument', async (value) => {
    const result = await runCheck({ script: `${printArgs} -v $evil.value$ end`, evil: { value } });
    expect(result).toMatchObject({ state: 'ok', output: '3 arguments' });
    expect(receivedArgs()).toEqual(['-v', value, 'end']);
    expect(existsSync(pwned)).toBe(false);
  });

  it.each(HOSTILE_VALUES)('a node value %j is one literal argument', async (value) => {
    const result = await runCheck(
      { script: `${printArgs} $hostname$` },
      { node: { ...NODE, hostname: value } },
    );
    expect(result).toMatchObject({ state: 'ok', output: '1 arguments' });
    expect(receivedArgs()).toEqual([value]);
    expect(existsSync(pwned)).toBe(false);
  });
});

describe('with shell: true', () => {
  it.each(HOSTILE_VALUES)('a value %j stays literal wherever it lands', async (value) => {
    // The same value bare, in single quotes and in double quotes: each time one argument.
    const script = `${printArgs} $v$ '$v$' "$v$" | cat`;
    const result = await runCheck({ script, shell: true, v: value });
    expect(result).toMatchObject({ state: 'ok', output: '3 arguments' });
    expect(receivedArgs()).toEqual([value, value, value]);
    expect(existsSync(pwned)).toBe(false);
  });

  it('still runs what the line itself says (the shell is really there)', async () => {
    const made = join(dir, 'made-by-the-line');
    const result = await runCheck({ script: `touch ${made} && echo "made"`, shell: true });
    expect(result).toMatchObject({ state: 'ok', output: 'made' });
    expect(existsSync(made)).toBe(true);
  });
});
