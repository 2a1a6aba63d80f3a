// The graphite plaintext line parser (carbon's rules, minus NaN and infinities) and the TCP line
// splitter (bounded: a line too long is skipped whole, never buffered past maxLineBytes).
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_LINE_BYTES,
  GraphiteLineSplitter,
  MAX_GRAPHITE_PATH_BYTES,
  parseAnyLine,
  parseGraphiteLine,
  parseGraphiteLineAt,
  readGraphiteLineAt,
} from '../../agent/metrics/graphite-parser.js';

const NOW_S = 1_700_000_000.75;
const encoder = new TextEncoder();

describe('parseGraphiteLine', () => {
  it.each([
    ['a.b.c 42 1600000000', { path: 'a.b.c', value: 42, timestamp: 1_600_000_000 }],
    ['a.b  \t -1.5e3\t\t1600000000.9', { path: 'a.b', value: -1500, timestamp: 1_600_000_000 }],
    ['  padded 1 1600000000  ', { path: 'padded', value: 1, timestamp: 1_600_000_000 }],
    ['no.timestamp .5', { path: 'no.timestamp', value: 0.5, timestamp: 1_700_000_000 }],
    ['minus.one +7 -1', { path: 'minus.one', value: 7, timestamp: 1_700_000_000 }],
    ['minus.one.float 7 -1.0', { path: 'minus.one.float', value: 7, timestamp: 1_700_000_000 }],
    ['zero 0 0', { path: 'zero', value: 0, timestamp: 0 }],
    [
      'odd-but/printable_chars~!{}[] 3 10',
      { path: 'odd-but/printable_chars~!{}[]', value: 3, timestamp: 10 },
    ],
    ['cpu.load;host=a;dc=eu-1 0.25 100', { path: 'cpu.load;host=a;dc=eu-1', value: 0.25, timestamp: 100 }],
    ['t;k=v~x;k2=a=b 1 100', { path: 't;k=v~x;k2=a=b', value: 1, timestamp: 100 }],
  ])('reads %j', (line, expected) => {
    expect(parseGraphiteLine(line, NOW_S)).toEqual(expected);
  });

  it('takes a path of 1024 bytes, not 1025', () => {
    expect(parseGraphiteLine(`${'a'.repeat(MAX_GRAPHITE_PATH_BYTES)} 1 2`, NOW_S)?.path).toHaveLength(1024);
    expect(parseGraphiteLine(`${'a'.repeat(MAX_GRAPHITE_PATH_BYTES + 1)} 1 2`, NOW_S)).toBeUndefined();
  });

  it.each([
    ['an empty line', ''],
    ['only spaces', '   \t '],
    ['one field', 'a.b'],
    ['four fields', 'a.b 1 2 3'],
    ['nan', 'a.b nan 1'],
    ['NaN', 'a.b NaN 1'],
    ['inf', 'a.b inf 1'],
    ['-inf', 'a.b -inf 1'],
    ['Infinity', 'a.b Infinity 1'],
    ['an overflowing value', 'a.b 1e999 1'],
    ['a hexadecimal value', 'a.b 0x10 1'],
    ['a word for a value', 'a.b high 1'],
    ['an empty exponent', 'a.b 1e 1'],
    ['a word for a timestamp', 'a.b 1 yesterday'],
    ['a NaN timestamp', 'a.b 1 nan'],
    ['a negative timestamp', 'a.b 1 -5'],
    ['an infinite timestamp', 'a.b 1 1e999'],
    ['a non-ASCII path', 'caf\u00e9.b 1 1'],
    ['a control character in the path', 'a\u0001b 1 1'],
    ['a path split by a newline', 'a\nb 1 1'],
    ['a tag without =', 'a;k 1 1'],
    ['a tag without a name', 'a;=v 1 1'],
    ['a tag without a value', 'a;k= 1 1'],
    ['a tag name with !', 'a;k!x=v 1 1'],
    ['a tag name with ^', 'a;k^=v 1 1'],
    ['a tag value starting with ~', 'a;k=~v 1 1'],
    ['an empty tag', 'a;k=v;;x=y 1 1'],
    ['tags without a name', ';k=v 1 1'],
  ])('refuses %s', (_what, line) => {
    expect(parseGraphiteLine(line, NOW_S)).toBeUndefined();
  });
});

describe('parseGraphiteLine, its common-shape reader against the general one', () => {
  // parseGraphiteLine reads `path value timestamp` without regular expressions and leaves every
  // other shape to parseAnyLine: on any line, both must give the same point (or none).
  it('agrees on random lines made of the pieces clients send, good and bad', () => {
    let seed = 5;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    const paths = [
      'a.b',
      'servers.web1.cpu',
      'x',
      'a;k=v',
      'caf\u00e9',
      'a\u0001b',
      'p'.repeat(1024),
      'p'.repeat(1025),
    ];
    const numbers = [
      '0',
      '-0',
      '42',
      '-1',
      '1.5',
      '-2.25',
      '.5',
      '5.',
      '.',
      '-',
      '1e3',
      '+7',
      '0x10',
      'nan',
      '123456789012345',
      '1234567890123456',
      '0.1',
      '3.14159',
      '99999999999999.9',
      '00012',
      '1.2.3',
      '1700000000',
      '1700000000.9',
      '-1.0',
      '-5',
    ];
    const separators = [' ', ' ', ' ', '  ', '\t'];
    for (let run = 0; run < 20_000; run++) {
      let line = pick(paths) + pick(separators) + pick(numbers);
      if (next() < 0.8) line += pick(separators) + pick(numbers);
      if (next() < 0.05) line += ' ';
      if (next() < 0.05) line = ' ' + line;
      const expected = parseAnyLine(line, NOW_S);
      expect(parseGraphiteLine(line, NOW_S), line).toEqual(expected);
      // And where the TCP listener reads it: in place, amid its chunk's other lines.
      const chunk = `x.y 1 2\n${line}\n9 9 9`;
      expect(parseGraphiteLineAt(chunk, 8, 8 + line.length, NOW_S), line).toEqual(expected);
      let read: unknown;
      const taken = readGraphiteLineAt(chunk, 8, 8 + line.length, NOW_S, (path, timestamp, value) => {
        read = { path, value, timestamp };
      });
      expect([taken, read], line).toEqual([expected !== undefined, expected]);
    }
  });
});

/** Feeds `chunks` to a splitter, checking its bound after each; returns the lines and the splitter. */
function split(
  chunks: Uint8Array[],
  maxLineBytes?: number,
): { lines: string[]; splitter: GraphiteLineSplitter } {
  const splitter = new GraphiteLineSplitter(maxLineBytes);
  const lines: string[] = [];
  for (const chunk of chunks) {
    lines.push(...splitter.push(chunk));
    expect(splitter.pendingBytes).toBeLessThanOrEqual(maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  }
  lines.push(...splitter.end());
  return { lines, splitter };
}

function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
  return chunks;
}

describe('GraphiteLineSplitter', () => {
  const stream = encoder.encode(
    'a.b 1 100\r\nc.d 2 200\n\n\r\nsmile.\u00e9\u263a 3 300\r\nmid\rcr 4 400\nlast 5 500\n',
  );
  const expected = ['a.b 1 100', 'c.d 2 200', 'smile.\u00e9\u263a 3 300', 'mid\rcr 4 400', 'last 5 500'];

  it('cuts lines at \\n and \\r\\n, skipping empty ones, a lone \\r kept', () => {
    expect(split([stream]).lines).toEqual(expected);
  });

  it('gives the same lines whatever byte the stream is cut at', () => {
    for (let at = 0; at <= stream.length; at++) {
      expect(split([stream.subarray(0, at), stream.subarray(at)]).lines).toEqual(expected);
    }
    expect(split(chunked(stream, 1)).lines).toEqual(expected);
    expect(split(chunked(stream, 3)).lines).toEqual(expected);
  });

  it('skips a 100 KB line between two good lines, counting it, holding at most maxLineBytes', () => {
    const bytes = encoder.encode(`good.one 1 1\n${'x'.repeat(100_000)} 2 2\r\ngood.two 3 3\n`);
    for (const size of [bytes.length, 4096, 1000, 97, 1]) {
      const { lines, splitter } = split(chunked(bytes, size));
      expect(lines).toEqual(['good.one 1 1', 'good.two 3 3']);
      expect(splitter.oversizedLines).toBe(1);
    }
  });

  it('keeps a line of exactly maxLineBytes, even with its \\r in another chunk', () => {
    const line = 'p'.repeat(DEFAULT_MAX_LINE_BYTES);
    const bytes = encoder.encode(`${line}\r\n${line}x\nok 1 1\n`);
    for (let at = DEFAULT_MAX_LINE_BYTES - 1; at <= DEFAULT_MAX_LINE_BYTES + 3; at++) {
      const { lines, splitter } = split([bytes.subarray(0, at), bytes.subarray(at)]);
      expect(lines).toEqual([line, 'ok 1 1']);
      expect(splitter.oversizedLines).toBe(1);
    }
  });

  it('takes its bound as a number', () => {
    const { lines, splitter } = split([encoder.encode('12345\n123456\n1234\r\n12345\r6\n')], 5);
    expect(lines).toEqual(['12345', '1234']);
    expect(splitter.oversizedLines).toBe(2);
    expect(() => new GraphiteLineSplitter(0)).toThrow(RangeError);
  });

  it('gives the last line without a newline at the end, but not an oversized one', () => {
    const splitter = new GraphiteLineSplitter(10);
    expect(splitter.push(encoder.encode('a 1 1\nb 2 2\r'))).toEqual(['a 1 1']);
    expect(splitter.end()).toEqual(['b 2 2']);
    expect(splitter.end()).toEqual([]);
    expect(splitter.push(encoder.encode('c 3 3\n0123456789abc'))).toEqual(['c 3 3']);
    expect(splitter.pendingBytes).toBe(0);
    expect(splitter.end()).toEqual([]);
    expect(splitter.oversizedLines).toBe(1);
    // The splitter is usable again after end().
    expect(splitter.push(encoder.encode('d 4 4\n'))).toEqual(['d 4 4']);
  });

  it('feeds the parser', () => {
    const points = split(chunked(stream, 7)).lines.map((line) => parseGraphiteLine(line, NOW_S));
    expect(points).toEqual([
      { path: 'a.b', value: 1, timestamp: 100 },
      { path: 'c.d', value: 2, timestamp: 200 },
      // Not ASCII, and a '\r' inside a path: refused.
      undefined,
      undefined,
      { path: 'last', value: 5, timestamp: 500 },
    ]);
  });
});

describe('GraphiteLineSplitter against a reference, on random streams cut at random', () => {
  /** What the splitter must give for a whole stream: segments between '\n's, by the same rules. */
  function reference(stream: Uint8Array, maxLineBytes: number): { lines: string[]; oversized: number } {
    const lines: string[] = [];
    let oversized = 0;
    let start = 0;
    for (;;) {
      const newline = stream.indexOf(0x0a, start);
      const end = newline < 0 ? stream.length : newline;
      let stop = end;
      if (newline >= 0 && stop > start && stream[stop - 1] === 0x0d) stop--;
      if (stop - start > maxLineBytes) oversized++;
      else if (stop > start) lines.push(new TextDecoder().decode(stream.subarray(start, stop)));
      if (newline < 0) break;
      start = newline + 1;
    }
    return { lines, oversized };
  }

  it('gives the same lines and the same count of oversized ones, whatever the cuts', () => {
    let seed = 11;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pieces = ['a.b 1 2', 'é.ü 3', '', '\r', 'x'.repeat(70), '\xff\xfe', 'c.d 4 -1'];
    for (let run = 0; run < 300; run++) {
      const parts: Buffer[] = [];
      const count = 1 + Math.floor(next() * 30);
      for (let i = 0; i < count; i++) {
        const piece = pieces[Math.floor(next() * pieces.length)]!;
        parts.push(piece === '\xff\xfe' ? Buffer.from([0xff, 0xfe]) : Buffer.from(piece));
        parts.push(Buffer.from(next() < 0.3 ? '\r\n' : '\n'));
      }
      const stream = Buffer.concat(parts);
      const splitter = new GraphiteLineSplitter(64);
      const got: string[] = [];
      for (let at = 0; at < stream.length;) {
        const size = 1 + Math.floor(next() * (next() < 0.5 ? 8 : 200));
        got.push(...splitter.push(stream.subarray(at, at + size)));
        at += size;
      }
      got.push(...splitter.end());
      const expected = reference(stream, 64);
      expect(got, stream.toString('hex')).toEqual(expected.lines);
      expect(splitter.oversizedLines).toBe(expected.oversized);
    }
  });
});
