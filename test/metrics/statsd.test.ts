// The statsd parser and flush against values worked out by hand from Etsy statsd's algorithm
// (stats.js's packet handling, lib/process_metrics.js, backends/graphite.js with legacyNamespace
// false): if these move, a graph moves for whoever swapped statsd for the agent.
import { describe, expect, it } from 'vitest';
import { StatsdAggregator } from '../../agent/metrics/statsd-aggregator.js';
import {
  MAX_STATSD_LINE_BYTES,
  parseStatsdPacket,
  readStatsdPacket,
  type StatsdSample,
} from '../../agent/metrics/statsd-parser.js';
import { seededRandom } from '../helpers/seeded-random.js';

const INTERVAL_MS = 10_000;

function aggregator(
  options: Partial<ConstructorParameters<typeof StatsdAggregator>[0]> = {},
): StatsdAggregator {
  return new StatsdAggregator({ flushIntervalMs: INTERVAL_MS, ...options });
}

/** Packets into the aggregator the way the listener gives them: as bytes, through ingest(). */
function feed(agg: StatsdAggregator, ...packets: string[]): void {
  for (const packet of packets) agg.ingest(Buffer.from(packet));
}

/** A flush as a map, without the two timings (their values are the clock's). */
function flushMap(agg: StatsdAggregator, nowMs?: number): Map<string, number> {
  const out = new Map(agg.flush(nowMs));
  expect(out.get('stats.statsd.processing_time')).toBeGreaterThanOrEqual(0);
  expect(out.get('stats.statsd.graphiteStats.calculationtime')).toBeGreaterThanOrEqual(0);
  out.delete('stats.statsd.processing_time');
  out.delete('stats.statsd.graphiteStats.calculationtime');
  return out;
}

/** One timer's fields from a flush, in flush order. */
function timerFields(agg: StatsdAggregator, key: string): Array<[string, number]> {
  const prefix = `stats.timers.${key}.`;
  return agg
    .flush()
    .filter(([name]) => name.startsWith(prefix))
    .map(([name, value]): [string, number] => [name.slice(prefix.length), value]);
}

function timerPackets(key: string, values: number[], suffix = ''): string {
  return values.map((value) => `${key}:${value}|ms${suffix}`).join('\n');
}

/** 1..n in a scrambled order (the flush must sort). */
function scrambled(n: number): number[] {
  const values = Array.from({ length: n }, (_, i) => i + 1);
  for (let i = 0; i < n; i++) {
    const j = (i * 7 + 3) % n;
    [values[i], values[j]] = [values[j] as number, values[i] as number];
  }
  return values;
}

describe('parseStatsdPacket', () => {
  it('reads every type, and several lines a packet', () => {
    const result = parseStatsdPacket(
      'gorets:1|c\nglork:320|ms\ngaugor:333|g\nuniques:765|s\nh1:-2.5|h\nd1:7|d',
    );
    expect(result.badLines).toBe(0);
    expect(result.metricLines).toBe(6);
    expect(result.samples).toEqual([
      { kind: 'counter', key: 'gorets', value: 1, sampleRate: 1 },
      { kind: 'timer', key: 'glork', value: 320, sampleRate: 1 },
      { kind: 'gauge', key: 'gaugor', value: 333, delta: false },
      { kind: 'set', key: 'uniques', member: '765' },
      { kind: 'timer', key: 'h1', value: -2.5, sampleRate: 1 },
      { kind: 'timer', key: 'd1', value: 7, sampleRate: 1 },
    ]);
  });

  it('reads sample rates, gauge deltas, float counters and bytes', () => {
    const packet = new TextEncoder().encode('a:0.5|c|@0.1\nb:12|ms|@0.25\ng:+4|g\ng:-3|g\ng:-0.5|g\n');
    expect(parseStatsdPacket(packet).samples).toEqual([
      { kind: 'counter', key: 'a', value: 0.5, sampleRate: 0.1 },
      { kind: 'timer', key: 'b', value: 12, sampleRate: 0.25 },
      { kind: 'gauge', key: 'g', value: 4, delta: true },
      { kind: 'gauge', key: 'g', value: -3, delta: true },
      { kind: 'gauge', key: 'g', value: -0.5, delta: true },
    ]);
  });

  it('reads several values for one key, each with its own type', () => {
    const result = parseStatsdPacket('multi:1|c:2|c|@0.5:30|ms:x|c');
    expect(result.samples).toEqual([
      { kind: 'counter', key: 'multi', value: 1, sampleRate: 1 },
      { kind: 'counter', key: 'multi', value: 2, sampleRate: 0.5 },
      { kind: 'timer', key: 'multi', value: 30, sampleRate: 1 },
    ]);
    // The bad part costs itself only, as in statsd; the line is one metric line.
    expect(result.badLines).toBe(1);
    expect(result.metricLines).toBe(1);
  });

  it('sanitises keys as statsd does, keeping graphite tags', () => {
    const result = parseStatsdPacket('my key/with\t\tspaces!@#é:1|c\ncpu;host=a-1;dc=eu:5|g');
    expect(result.samples.map((sample) => sample.key)).toEqual(['my_key-with_spaces', 'cpu;host=a-1;dc=eu']);
  });

  it('folds DogStatsD tags into the key as sorted graphite tags', () => {
    const result = parseStatsdPacket(
      'req:1|c|@0.5|#region:eu west,env:prod,canary,bad;x:y=z\nreq:2|c|#env:prod',
    );
    expect(result.badLines).toBe(0);
    expect(result.samples).toEqual([
      { kind: 'counter', key: 'req;badx=yz;env=prod;region=eu_west', value: 1, sampleRate: 0.5 },
      { kind: 'counter', key: 'req;env=prod', value: 2, sampleRate: 1 },
    ]);
  });

  it('ignores empty lines and tolerates CRLF', () => {
    const result = parseStatsdPacket('\n\na:1|c\r\n\r\nu:x|s\r\n');
    expect(result).toEqual({
      samples: [
        { kind: 'counter', key: 'a', value: 1, sampleRate: 1 },
        { kind: 'set', key: 'u', member: 'x' },
      ],
      badLines: 0,
      metricLines: 2,
    });
    // statsd stores an empty set member as '0'.
    expect(parseStatsdPacket('u:|s').samples).toEqual([{ kind: 'set', key: 'u', member: '0' }]);
  });

  it.each([
    ['no value nor type', 'lonely'],
    ['a missing type', 'k:1'],
    ['an empty type', 'k:1|'],
    ['an unknown type', 'k:1|x'],
    ['a non-numeric value', 'k:abc|c'],
    ['an empty value', 'k:|ms'],
    ['a non-numeric gauge', 'k:+|g'],
    ['NaN', 'k:NaN|c'],
    ['Infinity', 'k:Infinity|g'],
    ['an overflowing value', 'k:1e999|c'],
    ['a hexadecimal value', 'k:0x10|c'],
    ['a negative duration', 'k:-5|ms'],
    ['a key empty after sanitising', '!!!@#é:1|c'],
    ['a key that is only tags', ';a=b:1|c'],
    ['a sample rate of 0', 'k:1|c|@0'],
    ['a sample rate above 1', 'k:1|c|@1.5'],
    ['a negative sample rate', 'k:1|c|@-0.5'],
    ['a non-numeric sample rate', 'k:1|c|@abc'],
    ['a rate without @', 'k:1|c|0.5'],
    ['two sample rates', 'k:1|c|@0.5|@0.5'],
    ['an empty field', 'k:1|c|'],
    ['an unknown field', 'k:1|c|T1700000000'],
  ])('counts %s as one bad line', (_what, line) => {
    const result = parseStatsdPacket(`ok:1|c\n${line}\nok:2|c`);
    expect(result.badLines).toBe(1);
    expect(result.samples).toEqual([
      { kind: 'counter', key: 'ok', value: 1, sampleRate: 1 },
      { kind: 'counter', key: 'ok', value: 2, sampleRate: 1 },
    ]);
    expect(result.metricLines).toBe(3);
  });

  it('refuses a line over 8 KiB, counting bytes, not characters', () => {
    const fits = `k:${'x'.repeat(MAX_STATSD_LINE_BYTES - 4)}|s`;
    expect(Buffer.byteLength(fits)).toBe(MAX_STATSD_LINE_BYTES);
    expect(parseStatsdPacket(fits).samples).toHaveLength(1);
    expect(parseStatsdPacket(`${fits}x`)).toEqual({ samples: [], badLines: 1, metricLines: 1 });
    // 4099 characters, 8194 bytes in UTF-8.
    const wide = `k:${'é'.repeat(4095)}|s`;
    expect(wide.length).toBeLessThan(MAX_STATSD_LINE_BYTES);
    expect(Buffer.byteLength(wide)).toBe(MAX_STATSD_LINE_BYTES + 2);
    expect(parseStatsdPacket(`${wide}\nok:1|c`).badLines).toBe(1);
    expect(parseStatsdPacket(`${'a'.repeat(100_000)}\nok:1|c`).samples).toHaveLength(1);
  });

  it('never throws on mangled input, and what it keeps is well-formed', () => {
    const random = seededRandom(42);
    const pick = (text: string): string => text[Math.floor(random() * text.length)] ?? '';
    const templates = ['a.b:1|c', 'g:+2|g', 't:3|ms|@0.1|#env:prod', 'u:x|s', 'k:1|c:2|ms', 'h:-1.5e2|h'];
    const alphabet = 'ab:|@#.,;=+-0123456789e\n\r \t/cgmsdh\u00e9\u0000';
    let good = 0;
    let bad = 0;
    for (let round = 0; round < 3000; round++) {
      const lines: string[] = [];
      for (let l = 0; l < 1 + random() * 4; l++) {
        const chars = [...(templates[Math.floor(random() * templates.length)] ?? '')];
        for (let m = Math.floor(random() * 3); m > 0; m--)
          chars[Math.floor(random() * chars.length)] = pick(alphabet);
        lines.push(chars.join(''));
      }
      const result = parseStatsdPacket(lines.join('\n'));
      good += result.samples.length;
      bad += result.badLines;
      for (const sample of result.samples) {
        expect(sample.key).toMatch(/^[a-zA-Z0-9_.\-=][a-zA-Z0-9_.\-;=]*$/);
        if (sample.kind !== 'set') expect(Number.isFinite(sample.value)).toBe(true);
        if (sample.kind === 'counter' || sample.kind === 'timer') {
          expect(sample.sampleRate > 0 && sample.sampleRate <= 1).toBe(true);
        }
      }
      const bytes = Uint8Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256));
      expect(() => parseStatsdPacket(bytes)).not.toThrow();
    }
    // Both paths were exercised.
    expect(good).toBeGreaterThan(1000);
    expect(bad).toBeGreaterThan(1000);
  });
});

describe('readStatsdPacket against parseStatsdPacket', () => {
  // The listener reads packets with readStatsdPacket, whose hand-written reader takes the common
  // lines and leaves the rest to the general parser: on any packet, the sink must get exactly the
  // samples parseStatsdPacket makes, in order, with the same counts.
  it('gives the same samples and counts on random packets of good, odd and bad lines', () => {
    const random = seededRandom(15);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const keys = [
      'a',
      'web.hits',
      'k;env=prod',
      ';tag=x',
      'with space',
      'sl/ash',
      'caf\u00e9',
      '',
      'x'.repeat(40),
    ];
    const values = [
      '1',
      '+3',
      '-2',
      '-0',
      '0.5',
      '.25',
      '12.',
      '1e3',
      '0x10',
      'abc',
      '',
      ' 4',
      '123456789012345',
      '1234567890123456',
      '-1.5',
    ];
    const types = [
      'c',
      'ms',
      'h',
      'd',
      'g',
      's',
      'x',
      'c ',
      '',
      'ms|@0.1',
      'c|@0.5',
      'c|@0',
      'c|@2',
      'c|#env:prod',
      'g|@.5',
      'c|',
      'c:2|ms',
      'ms|@0.1|#a:b',
    ];
    for (let run = 0; run < 3000; run++) {
      const lines = Array.from({ length: 1 + Math.floor(random() * 6) }, () =>
        random() < 0.05 ? pick(keys) : `${pick(keys)}:${pick(values)}|${pick(types)}`,
      );
      const packet = lines.join(random() < 0.2 ? '\r\n' : '\n') + (random() < 0.2 ? '\n' : '');
      const got: StatsdSample[] = [];
      const counts = readStatsdPacket(Buffer.from(packet), {
        counter: (key, value, sampleRate) => got.push({ kind: 'counter', key, value, sampleRate }),
        timer: (key, value, sampleRate) => got.push({ kind: 'timer', key, value, sampleRate }),
        gauge: (key, value, delta) => got.push({ kind: 'gauge', key, value, delta }),
        set: (key, member) => got.push({ kind: 'set', key, member }),
      });
      const expected = parseStatsdPacket(packet);
      expect({ samples: got, ...counts }, JSON.stringify(packet)).toEqual(expected);
    }
  });
});

describe('StatsdAggregator: counters', () => {
  it('scales by the sample rate and divides by the interval for the rate', () => {
    const agg = aggregator();
    feed(agg, 'gorets:1|c|@0.1', 'gorets:2|c', 'f:0.5|c\nf:0.25|c');
    const out = flushMap(agg);
    // 1 * (1 / 0.1) + 2 = 12 in 10 s.
    expect(out.get('stats.counters.gorets.count')).toBe(12);
    expect(out.get('stats.counters.gorets.rate')).toBe(1.2);
    expect(out.get('stats.counters.f.count')).toBe(0.75);
    expect(out.get('stats.counters.f.rate')).toBe(0.075);
  });

  it('sends a counter idle this interval as 0, and counts it in numStats', () => {
    const agg = aggregator();
    feed(agg, 'gorets:5|c');
    expect(flushMap(agg).get('stats.counters.gorets.count')).toBe(5);
    const idle = flushMap(agg);
    expect(idle.get('stats.counters.gorets.count')).toBe(0);
    expect(idle.get('stats.counters.gorets.rate')).toBe(0);
    // statsd's 3 own counters and gorets.
    expect(idle.get('stats.statsd.numStats')).toBe(4);
  });

  it('names a tagged key with its tags after the field, as the graphite backend does', () => {
    const agg = aggregator();
    feed(agg, 'req;env=prod:3|c', 'lat:5|ms|#env:prod');
    const out = flushMap(agg);
    expect(out.get('stats.counters.req.count;env=prod')).toBe(3);
    expect(out.get('stats.counters.req.rate;env=prod')).toBe(0.3);
    expect(out.get('stats.timers.lat.upper_90;env=prod')).toBe(5);
  });
});

describe('StatsdAggregator: statsd its own stats', () => {
  it('flushes exactly what the graphite backend sends, in its order', () => {
    const agg = aggregator({ percentThresholds: [90] });
    feed(agg, 'a:1|c\nbad\nt:4|ms', 'g:2|g\nu:x|s\nu:y|s\n\n');
    const out = agg.flush();
    const names = out.map(([name]) => name);
    const timings = ['stats.statsd.graphiteStats.calculationtime', 'stats.statsd.processing_time'];
    expect(names.slice(-2)).toEqual(timings);
    expect(out.slice(0, -2)).toEqual([
      ['stats.counters.statsd.bad_lines_seen.rate', 0.1],
      ['stats.counters.statsd.bad_lines_seen.count', 1],
      ['stats.counters.statsd.packets_received.rate', 0.2],
      ['stats.counters.statsd.packets_received.count', 2],
      ['stats.counters.statsd.metrics_received.rate', 0.6],
      ['stats.counters.statsd.metrics_received.count', 6],
      ['stats.counters.a.rate', 0.1],
      ['stats.counters.a.count', 1],
      ['stats.timers.t.count_90', 1],
      ['stats.timers.t.mean_90', 4],
      ['stats.timers.t.upper_90', 4],
      ['stats.timers.t.sum_90', 4],
      ['stats.timers.t.sum_squares_90', 16],
      ['stats.timers.t.std', 0],
      ['stats.timers.t.upper', 4],
      ['stats.timers.t.lower', 4],
      ['stats.timers.t.count', 1],
      ['stats.timers.t.count_ps', 0.1],
      ['stats.timers.t.sum', 4],
      ['stats.timers.t.sum_squares', 16],
      ['stats.timers.t.mean', 4],
      ['stats.timers.t.median', 4],
      ['stats.gauges.g', 2],
      ['stats.sets.u.count', 2],
      // 3 own counters, a, t, g, u.
      ['stats.statsd.numStats', 7],
    ]);
  });

  it('counts through countPacket / countBadLines / add too', () => {
    const agg = aggregator();
    const parsed = parseStatsdPacket('a:1|c:2|c\nb:x|c');
    agg.countPacket();
    agg.countBadLines(parsed.badLines);
    agg.add(parsed.samples, parsed.metricLines);
    agg.add(parseStatsdPacket('c:1|c').samples);
    const out = flushMap(agg);
    expect(out.get('stats.counters.statsd.packets_received.count')).toBe(1);
    expect(out.get('stats.counters.statsd.bad_lines_seen.count')).toBe(1);
    // 2 lines from the first packet, and 1 sample counted as a line without metricLines.
    expect(out.get('stats.counters.statsd.metrics_received.count')).toBe(3);
    expect(out.get('stats.counters.a.count')).toBe(3);
    // Reset like the others.
    expect(flushMap(agg).get('stats.counters.statsd.packets_received.count')).toBe(0);
  });

  it('adds statsd.timestamp_lag from the second flush given the clock', () => {
    const agg = aggregator();
    expect(flushMap(agg, 1_700_000_000_000).has('stats.gauges.statsd.timestamp_lag')).toBe(false);
    const late = flushMap(agg, 1_700_000_012_000);
    // 12 s after the previous flush, for a 10 s interval.
    expect(late.get('stats.gauges.statsd.timestamp_lag')).toBe(2);
    expect(late.get('stats.statsd.numStats')).toBe(4);
    expect(agg.keyCount).toBe(0);
  });
});

describe('StatsdAggregator: timers', () => {
  it('summarises one value: every threshold covers it', () => {
    const agg = aggregator({ percentThresholds: [90, -10, 99.9] });
    feed(agg, 't:100|ms');
    expect(timerFields(agg, 't')).toEqual([
      ['count_90', 1],
      ['mean_90', 100],
      ['upper_90', 100],
      ['sum_90', 100],
      ['sum_squares_90', 10000],
      ['count_top10', 1],
      ['mean_top10', 100],
      ['lower_top10', 100],
      ['sum_top10', 100],
      ['sum_squares_top10', 10000],
      ['count_99_9', 1],
      ['mean_99_9', 100],
      ['upper_99_9', 100],
      ['sum_99_9', 100],
      ['sum_squares_99_9', 10000],
      ['std', 0],
      ['upper', 100],
      ['lower', 100],
      ['count', 1],
      ['count_ps', 0.1],
      ['sum', 100],
      ['sum_squares', 10000],
      ['mean', 100],
      ['median', 100],
    ]);
  });

  it('summarises two values, skipping a threshold that holds none', () => {
    const agg = aggregator({ percentThresholds: [90, 50, -50, -90, 10] });
    feed(agg, 't:3|ms\nt:1|ms');
    // Sorted [1, 3]; running sums [1, 4], of squares [1, 10].
    expect(timerFields(agg, 't')).toEqual([
      // round(0.9 * 2) = 2 lowest values.
      ['count_90', 2],
      ['mean_90', 2],
      ['upper_90', 3],
      ['sum_90', 4],
      ['sum_squares_90', 10],
      // round(0.5 * 2) = 1.
      ['count_50', 1],
      ['mean_50', 1],
      ['upper_50', 1],
      ['sum_50', 1],
      ['sum_squares_50', 1],
      // The highest value: lower bound 3, sum 4 - 1.
      ['count_top50', 1],
      ['mean_top50', 3],
      ['lower_top50', 3],
      ['sum_top50', 3],
      ['sum_squares_top50', 9],
      // round(1.8) = 2 highest values, all of them: statsd computes NaN here (it reads the running
      // sum at index -1); the sum of every value is meant.
      ['count_top90', 2],
      ['mean_top90', 2],
      ['lower_top90', 1],
      ['sum_top90', 4],
      ['sum_squares_top90', 10],
      // 10: round(0.2) = 0 values, no fields at all.
      ['std', 1],
      ['upper', 3],
      ['lower', 1],
      ['count', 2],
      ['count_ps', 0.2],
      ['sum', 4],
      ['sum_squares', 10],
      ['mean', 2],
      ['median', 2],
    ]);
  });

  it('summarises ten values', () => {
    const agg = aggregator({ percentThresholds: [90, -10, 50, 95, -30, 99.9] });
    feed(agg, timerPackets('t', scrambled(10)));
    const fields = new Map(timerFields(agg, 't'));
    // Sorted 1..10. Running sums 1 3 6 10 15 21 28 36 45 55; of squares 1 5 14 30 55 91 140 204 285 385.
    const expected: Array<[string, number]> = [
      ['count_90', 9],
      ['mean_90', 5],
      ['upper_90', 9],
      ['sum_90', 45],
      ['sum_squares_90', 285],
      ['count_top10', 1],
      ['mean_top10', 10],
      ['lower_top10', 10],
      ['sum_top10', 10],
      ['sum_squares_top10', 100],
      ['count_50', 5],
      ['mean_50', 3],
      ['upper_50', 5],
      ['sum_50', 15],
      ['sum_squares_50', 55],
      // 0.95 * 10 = 9.5, rounded up: all ten.
      ['count_95', 10],
      ['mean_95', 5.5],
      ['upper_95', 10],
      ['sum_95', 55],
      ['sum_squares_95', 385],
      // The 3 highest: 8, 9, 10.
      ['count_top30', 3],
      ['mean_top30', 9],
      ['lower_top30', 8],
      ['sum_top30', 27],
      ['sum_squares_top30', 245],
      ['count_99_9', 10],
      ['mean_99_9', 5.5],
      ['upper_99_9', 10],
      ['sum_99_9', 55],
      ['sum_squares_99_9', 385],
      // Population deviation: squared distances to 5.5 sum to 82.5.
      ['std', Math.sqrt(8.25)],
      ['upper', 10],
      ['lower', 1],
      ['count', 10],
      ['count_ps', 1],
      ['sum', 55],
      ['sum_squares', 385],
      ['mean', 5.5],
      ['median', 5.5],
    ];
    expect([...fields]).toEqual(expected);
  });

  it('summarises a hundred values sent at a sample rate', () => {
    const agg = aggregator({ percentThresholds: [90, -10, 99.9, 95, 50] });
    feed(agg, timerPackets('t', scrambled(100), '|@0.5'));
    const fields = new Map(timerFields(agg, 't'));
    // Sum of 1..k is k(k+1)/2, of squares k(k+1)(2k+1)/6.
    const expected: Record<string, number> = {
      count_90: 90,
      mean_90: 45.5,
      upper_90: 90,
      sum_90: 4095,
      sum_squares_90: 247065,
      count_top10: 10,
      mean_top10: 95.5,
      lower_top10: 91,
      sum_top10: 955,
      sum_squares_top10: 91285,
      count_99_9: 100,
      mean_99_9: 50.5,
      upper_99_9: 100,
      sum_99_9: 5050,
      sum_squares_99_9: 338350,
      count_95: 95,
      mean_95: 48,
      upper_95: 95,
      sum_95: 4560,
      sum_squares_95: 290320,
      count_50: 50,
      mean_50: 25.5,
      upper_50: 50,
      sum_50: 1275,
      sum_squares_50: 42925,
      std: Math.sqrt(833.25),
      upper: 100,
      lower: 1,
      // Each value sent at @0.5 stands for 2.
      count: 200,
      count_ps: 20,
      sum: 5050,
      sum_squares: 338350,
      mean: 50.5,
      median: 50.5,
    };
    expect(Object.fromEntries(fields)).toEqual(expected);
  });

  it('sums in statsd order (sorted, running), float errors included', () => {
    const agg = aggregator();
    feed(agg, 't:0.3|ms\nt:0.1|ms\nt:0.2|ms');
    const fields = new Map(timerFields(agg, 't'));
    expect(fields.get('sum')).toBe(0.6000000000000001);
    expect(fields.get('mean')).toBe(0.20000000000000004);
    expect(fields.get('median')).toBe(0.2);
    // round(0.9 * 3) = 3: the threshold sum is the running sum at index 2.
    expect(fields.get('sum_90')).toBe(0.6000000000000001);
  });

  it('sends an idle timer as count_ps 0 and count 0 only', () => {
    const agg = aggregator();
    feed(agg, 't:5|ms|@0.1');
    const first = new Map(timerFields(agg, 't'));
    expect(first.get('count')).toBe(10);
    expect(first.get('count_ps')).toBe(1);
    const idle = flushMap(agg);
    expect([...idle].filter(([name]) => name.startsWith('stats.timers.'))).toEqual([
      ['stats.timers.t.count_ps', 0],
      ['stats.timers.t.count', 0],
    ]);
    expect(idle.get('stats.statsd.numStats')).toBe(4);
  });

  it('sends a repeated threshold once, and refuses meaningless ones', () => {
    const agg = aggregator({ percentThresholds: [90, 90] });
    feed(agg, 't:1|ms');
    expect(timerFields(agg, 't').filter(([field]) => field === 'count_90')).toHaveLength(1);
    expect(() => aggregator({ percentThresholds: [0] })).toThrow(RangeError);
    expect(() => aggregator({ percentThresholds: [101] })).toThrow(RangeError);
    expect(() => aggregator({ percentThresholds: [Number.NaN] })).toThrow(RangeError);
    expect(() => aggregator({ flushIntervalMs: 0 })).toThrow(RangeError);
    expect(() => aggregator({ maxKeys: -1 })).toThrow(RangeError);
  });
});

describe('StatsdAggregator: gauges and sets', () => {
  it('keeps gauges across flushes and applies deltas, from 0 on an unknown gauge', () => {
    const agg = aggregator();
    feed(agg, 'g:10|g', 'fresh:-3|g\nup:+2.5|g');
    let out = flushMap(agg);
    expect(out.get('stats.gauges.g')).toBe(10);
    expect(out.get('stats.gauges.fresh')).toBe(-3);
    expect(out.get('stats.gauges.up')).toBe(2.5);
    feed(agg, 'g:+5|g\ng:-20|g');
    expect(flushMap(agg).get('stats.gauges.g')).toBe(-5);
    // Idle: the last value again.
    out = flushMap(agg);
    expect(out.get('stats.gauges.g')).toBe(-5);
    expect(out.get('stats.gauges.fresh')).toBe(-3);
    feed(agg, 'g:7|g\ng:+1|g');
    expect(flushMap(agg).get('stats.gauges.g')).toBe(8);
  });

  it('with deleteIdleGauges, sends a gauge only in the intervals it was written in', () => {
    const agg = aggregator({ deleteIdleGauges: true });
    feed(agg, 'g:10|g');
    expect(flushMap(agg).get('stats.gauges.g')).toBe(10);
    const idle = flushMap(agg);
    expect(idle.has('stats.gauges.g')).toBe(false);
    expect(idle.get('stats.statsd.numStats')).toBe(3);
    expect(agg.keyCount).toBe(0);
    // Forgotten: a delta starts from 0 again.
    feed(agg, 'g:+2|g');
    expect(flushMap(agg).get('stats.gauges.g')).toBe(2);
  });

  it('counts distinct set members per interval, and 0 when idle', () => {
    const agg = aggregator();
    feed(agg, 'u:alice|s\nu:bob|s', 'u:alice|s\nv:1|s\nv:1.0|s');
    let out = flushMap(agg);
    expect(out.get('stats.sets.u.count')).toBe(2);
    // Members are strings: '1' and '1.0' differ.
    expect(out.get('stats.sets.v.count')).toBe(2);
    out = flushMap(agg);
    expect(out.get('stats.sets.u.count')).toBe(0);
    feed(agg, 'u:carol|s');
    expect(flushMap(agg).get('stats.sets.u.count')).toBe(1);
  });
});

describe('StatsdAggregator: maxKeys', () => {
  it('drops samples for new keys beyond maxKeys, still updating existing ones', () => {
    const agg = aggregator({ maxKeys: 3 });
    feed(agg, 'a:1|c\nb:1|c\ng:1|g', 't:5|ms\nu:x|s\na:1|c\ng:+1|g\nt:6|ms');
    expect(agg.droppedKeys).toBe(3);
    expect(agg.keyCount).toBe(3);
    const out = flushMap(agg);
    expect(out.get('stats.counters.a.count')).toBe(2);
    expect(out.get('stats.gauges.g')).toBe(2);
    expect(
      [...out.keys()].some((name) => name.startsWith('stats.timers.') || name.startsWith('stats.sets.')),
    ).toBe(false);
    // statsd's own counters are not keys of the limit: they still count.
    expect(out.get('stats.counters.statsd.packets_received.count')).toBe(2);
    expect(out.get('stats.statsd.numStats')).toBe(6);
  });

  it('frees the keys of deleted idle gauges', () => {
    const agg = aggregator({ maxKeys: 1, deleteIdleGauges: true });
    feed(agg, 'g:1|g\nc:1|c');
    expect(agg.droppedKeys).toBe(1);
    flushMap(agg);
    feed(agg, 'c:1|c');
    expect(agg.droppedKeys).toBe(1);
    expect(flushMap(agg).get('stats.counters.c.count')).toBe(1);
  });

  it('holds 100 000 keys by default', () => {
    const agg = aggregator();
    const lines: string[] = [];
    for (let i = 0; i < 100_010; i++) lines.push(`k${i}:1|c`);
    agg.add(parseStatsdPacket(lines.join('\n')).samples);
    expect(agg.keyCount).toBe(100_000);
    expect(agg.droppedKeys).toBe(10);
  });
});
