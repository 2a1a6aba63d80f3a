// `opsbro checks show NAME`'s items table (a check's instances, members, workers), as a pure
// function: one aligned line per item, its state in capitals.
import { describe, expect, it } from 'vitest';
import { itemsTable } from '../../cli/commands/checks.js';

// eslint-disable-next-line no-control-regex -- the colours a TTY would get
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '');

describe('checks show: items', () => {
  it('is one line per item: name, state, output', () => {
    expect(
      plain(
        itemsTable([
          { name: 'web-1', id: 'i-01', state: 'ok', output: 'i-01 is running, t3.small in eu-west-1a' },
          { name: 'i-05', state: 'critical', output: 'i-05 is terminated' },
        ]),
      ),
    ).toBe(
      [
        'NAME   STATE     OUTPUT',
        'web-1  OK        i-01 is running, t3.small in eu-west-1a',
        'i-05   CRITICAL  i-05 is terminated',
        '',
      ].join('\n'),
    );
  });
});
