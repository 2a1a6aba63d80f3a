// Reading a plugin's stdout (first line, long output, perfdata where the guidelines put it) and
// turning an outcome into a check result, without processes.
import { describe, expect, it } from 'vitest';

import { parsePluginText, pluginResult } from '../../agent/checks/nagios/plugin-output.js';
import type { CappedText } from '../../agent/checks/nagios/run-plugin.js';

function stream(text: string, droppedBytes = 0, limitBytes = 4096): CappedText {
  return { text, droppedBytes, limitBytes };
}
const EMPTY = stream('', 0, 1024);

describe('parsePluginText', () => {
  it.each([
    ['one line', 'OK - fine\n', { output: 'OK - fine', perfdata: [] }],
    [
      'perfdata on the first line',
      'OK - fine | a=1',
      { output: 'OK - fine', perfdata: [{ label: 'a', value: 1, uom: '' }] },
    ],
    ['a bar with nothing after it', 'OK |', { output: 'OK', perfdata: [] }],
    ['long output', 'OK\nline 1\nline 2\n', { output: 'OK', longOutput: 'line 1\nline 2', perfdata: [] }],
    [
      'perfdata continuing on the lines after a bar in the long output',
      'OK | a=1\nline 1 | b=2\nc=3\nd=4 e=5',
      {
        output: 'OK',
        longOutput: 'line 1',
        perfdata: ['a', 'b', 'c', 'd', 'e'].map((label, index) => ({ label, value: index + 1, uom: '' })),
      },
    ],
    [
      'a long output line that is only a bar',
      'OK\ntext\n| b=2',
      { output: 'OK', longOutput: 'text', perfdata: [{ label: 'b', value: 2, uom: '' }] },
    ],
    ['CRLF line ends', 'OK\r\nline 1\r\n', { output: 'OK', longOutput: 'line 1', perfdata: [] }],
    ['blank lines before the output', '\n\nOK\n', { output: 'OK', perfdata: [] }],
    ['nothing', '', { output: '', perfdata: [] }],
  ])('%s', (_name, text, expected) => {
    expect(parsePluginText(text)).toEqual(expected);
  });
});

describe('pluginResult', () => {
  it('a timeout is UNKNOWN and keeps what was printed as long output', () => {
    const outcome = {
      kind: 'stopped',
      why: 'timeout',
      stdout: stream('half | x=1\nmore'),
      stderr: EMPTY,
    } as const;
    expect(pluginResult(outcome, '/p/check_slow', 2500)).toEqual({
      state: 'unknown',
      output: '/p/check_slow timed out after 2.5 s: it and its children were killed',
      longOutput: 'half | x=1\nmore',
      perfdata: [],
    });
  });

  it('an exit with no output at all says so', () => {
    const outcome = { kind: 'exited', code: 2, stdout: EMPTY, stderr: EMPTY } as const;
    expect(pluginResult(outcome, 'x', 1000)).toEqual({
      state: 'critical',
      output: '(no output)',
      perfdata: [],
    });
  });

  it('a signal keeps the long output and the cut marker', () => {
    const outcome = {
      kind: 'signaled',
      signal: 'SIGKILL',
      stdout: stream('a\nb', 10),
      stderr: EMPTY,
    } as const;
    expect(pluginResult(outcome, 'x', 1000)).toEqual({
      state: 'unknown',
      output: 'killed by SIGKILL: a',
      longOutput: 'b\n... (output cut at 4 KiB)',
      perfdata: [],
    });
  });
});
