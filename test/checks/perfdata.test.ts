// The perfdata parser on the plugin guidelines' examples and on what real plugins print, and on
// items that do not read (skipped, the rest kept).
import { describe, expect, it } from 'vitest';

import type { PerfDatum } from '../../agent/checks/check-type.js';
import { parsePerfdata } from '../../agent/checks/nagios/perfdata.js';

describe('parsePerfdata', () => {
  it.each<[string, string, PerfDatum[]]>([
    // The guidelines' format line, every field given.
    [
      'all fields',
      'label=1;2;3;4;5',
      [{ label: 'label', value: 1, uom: '', warn: '2', crit: '3', min: 4, max: 5 }],
    ],
    // The guidelines' DISK example: `| /=2643MB;5948;5958;0;5968`.
    [
      'guidelines: check_disk',
      '/=2643MB;5948;5958;0;5968',
      [{ label: '/', value: 2643, uom: 'MB', warn: '5948', crit: '5958', min: 0, max: 5968 }],
    ],
    // The guidelines' ping example (Icinga's docs quote the same): thresholds with decimals.
    [
      'check_ping',
      'rta=12.445000ms;100.000000;200.000000;0.000000 pl=0%;5;15;0',
      [
        { label: 'rta', value: 12.445, uom: 'ms', warn: '100.000000', crit: '200.000000', min: 0 },
        { label: 'pl', value: 0, uom: '%', warn: '5', crit: '15', min: 0 },
      ],
    ],
    // check_http: empty warn and crit, trailing fields.
    [
      'check_http',
      'time=0.002722s;;;0.000000 size=11718B;;;0',
      [
        { label: 'time', value: 0.002722, uom: 's', min: 0 },
        { label: 'size', value: 11718, uom: 'B', min: 0 },
      ],
    ],
    // check_load: a trailing `;` after min.
    [
      'check_load',
      'load1=0.000;5.000;10.000;0; load5=0.010;4.000;6.000;0; load15=0.050;3.000;4.000;0; ',
      [
        { label: 'load1', value: 0, uom: '', warn: '5.000', crit: '10.000', min: 0 },
        { label: 'load5', value: 0.01, uom: '', warn: '4.000', crit: '6.000', min: 0 },
        { label: 'load15', value: 0.05, uom: '', warn: '3.000', crit: '4.000', min: 0 },
      ],
    ],
    ['check_procs', 'procs=97;1:;;0;', [{ label: 'procs', value: 97, uom: '', warn: '1:', min: 0 }]],
    ['value only', 'users=3', [{ label: 'users', value: 3, uom: '' }]],
    // Quoted labels: spaces, `=`, and '' for a quote.
    [
      'quoted labels',
      `'label with spaces'=1s 'a=b'=2 'it''s'=3c '''quoted'''=4`,
      [
        { label: 'label with spaces', value: 1, uom: 's' },
        { label: 'a=b', value: 2, uom: '' },
        { label: "it's", value: 3, uom: 'c' },
        { label: "'quoted'", value: 4, uom: '' },
      ],
    ],
    // Every unit of the guidelines (and GB).
    [
      'units',
      'a=1s b=2ms c=3us d=4% e=5B f=6KB g=7MB h=8GB i=9TB j=10c k=11',
      [
        { label: 'a', value: 1, uom: 's' },
        { label: 'b', value: 2, uom: 'ms' },
        { label: 'c', value: 3, uom: 'us' },
        { label: 'd', value: 4, uom: '%' },
        { label: 'e', value: 5, uom: 'B' },
        { label: 'f', value: 6, uom: 'KB' },
        { label: 'g', value: 7, uom: 'MB' },
        { label: 'h', value: 8, uom: 'GB' },
        { label: 'i', value: 9, uom: 'TB' },
        { label: 'j', value: 10, uom: 'c' },
        { label: 'k', value: 11, uom: '' },
      ],
    ],
    // The guidelines' range formats, kept as written.
    [
      'ranges',
      'a=1;10;20 b=1;10:;~:20 c=1;10:20;@10:20 d=-1.5;-5:-1;@~:0',
      [
        { label: 'a', value: 1, uom: '', warn: '10', crit: '20' },
        { label: 'b', value: 1, uom: '', warn: '10:', crit: '~:20' },
        { label: 'c', value: 1, uom: '', warn: '10:20', crit: '@10:20' },
        { label: 'd', value: -1.5, uom: '', warn: '-5:-1', crit: '@~:0' },
      ],
    ],
    [
      'negative and decimal values',
      'a=-3 b=.5 c=2.',
      [
        { label: 'a', value: -3, uom: '' },
        { label: 'b', value: 0.5, uom: '' },
        { label: 'c', value: 2, uom: '' },
      ],
    ],
    [
      'newlines separate items too',
      'a=1\nb=2',
      [
        { label: 'a', value: 1, uom: '' },
        { label: 'b', value: 2, uom: '' },
      ],
    ],
    ['nothing', '', []],
    ['blanks only', '   \n ', []],
  ])('%s', (_name, text, expected) => {
    expect(parsePerfdata(text)).toEqual(expected);
  });

  // Bad items are skipped; the good ones around them are kept.
  it.each<[string, string]>([
    ['no value', 'bad='],
    ['no equals sign', 'bad'],
    ['an empty label', '=5'],
    ['an empty quoted label', `''=5`],
    ['a value that is not a number', 'bad=abc'],
    ['U, the guidelines\' "could not be determined"', 'bad=U'],
    ['an unknown unit', 'bad=5parsecs'],
    ['too many fields', 'bad=1;2;3;4;5;6'],
    ['a threshold that is no range', 'bad=1;high'],
    ['a lone @ as threshold', 'bad=1;@'],
    ['a lone : as threshold', 'bad=1;:'],
    ['a min with a unit', 'bad=1;;;0B'],
    ['a max that is not a number', 'bad=1;;;;lots'],
    ['a comma decimal', 'bad=1,5'],
    ['a label without its quote', `'bad label=1`],
  ])('skips an item with %s', (_name, bad) => {
    const parsed = parsePerfdata(`good1=1 ${bad} good2=2`);
    expect(parsed.map((datum) => datum.label)).toEqual(
      // An unclosed quote eats the rest of the text: nothing after it reads.
      bad.startsWith(`'bad`) ? ['good1'] : ['good1', 'good2'],
    );
  });

  it('reads unquoted label words that end in spaces as separate, broken items', () => {
    // Guidelines: a label with spaces needs quotes; without them only the last word is a label.
    expect(parsePerfdata('free space=5')).toEqual([{ label: 'space', value: 5, uom: '' }]);
  });
});
