// The metrics store's parts: the XOR chunk codec on its own (exact round trips, bytes per point),
// retention parsing, and the series store on a real LevelDB in a temp dir (slots, rollups and their
// aggregation, archive choice, flush and reopen, sealed blocks, expiry, the series limit).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from '../../agent/store/index.js';
import { parseRetention, RetentionPolicy } from '../../agent/metrics/tsdb/retention.js';
import { POINTS_PER_BLOCK, SeriesStore } from '../../agent/metrics/tsdb/series-store.js';
import { decodeXorChunk, XorChunk } from '../../agent/metrics/tsdb/xor-chunk.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';

const opened: Store[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close().catch(() => undefined);
  cleanupAll();
});

/** A deterministic pseudo-random sequence (the tests must fail the same way twice). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 0x1_0000_0000;
  };
}

describe('XOR chunk', () => {
  it('round-trips a regular series exactly, in under 3 bytes a point', () => {
    const chunk = new XorChunk();
    const points: Array<[number, number]> = [];
    const next = random(1);
    let value = 42.5;
    for (let index = 0; index < 1000; index++) {
      // A gauge that often stays put and otherwise moves a little, as collector values do.
      if (next() < 0.3) value = Math.round((value + (next() - 0.5) * 4) * 100) / 100;
      points.push([1_700_000_000 + index * 10, value]);
    }
    for (const [timestamp, v] of points) chunk.append(timestamp, v);
    expect([...chunk.points()]).toEqual(points);
    expect([...decodeXorChunk(chunk.encode())]).toEqual(points);
    expect(chunk.byteLength / points.length).toBeLessThan(3);
  });

  it('round-trips irregular times and arbitrary doubles exactly', () => {
    const next = random(7);
    for (let run = 0; run < 50; run++) {
      const chunk = new XorChunk();
      const points: Array<[number, number]> = [];
      let timestamp = Math.floor(next() * 2_000_000_000);
      const count = 1 + Math.floor(next() * 300);
      for (let index = 0; index < count; index++) {
        const gapKind = next();
        timestamp +=
          gapKind < 0.5
            ? 10
            : gapKind < 0.7
              ? 1 + Math.floor(next() * 100)
              : gapKind < 0.9
                ? 1 + Math.floor(next() * 5000)
                : 1 + Math.floor(next() * 50_000_000);
        if (timestamp > 0xffff_ffff) break;
        const valueKind = next();
        const value =
          valueKind < 0.3
            ? (points[points.length - 1]?.[1] ?? 0)
            : valueKind < 0.5
              ? Math.floor(next() * 1000) - 500
              : valueKind < 0.7
                ? (next() - 0.5) * 1e300
                : valueKind < 0.8
                  ? Number.MIN_VALUE * Math.floor(next() * 10)
                  : next();
        points.push([timestamp, value]);
        chunk.append(timestamp, value);
      }
      expect([...XorChunk.decode(chunk.encode()).points()]).toEqual(points);
    }
  });

  it('refuses time going backwards, and bytes cut short', () => {
    const chunk = new XorChunk();
    chunk.append(100, 1);
    expect(() => chunk.append(100, 2)).toThrow(/not after/);
    chunk.append(110, 2.5);
    chunk.append(120, 3.75);
    const bytes = chunk.encode();
    expect(() => [...decodeXorChunk(bytes.subarray(0, bytes.byteLength - 3))]).toThrow(/ends mid-point/);
  });
});

describe('retention', () => {
  it("parses graphite's syntax, finest first, and refuses what cannot be", () => {
    expect(parseRetention('10s:6h,1m:7d,10m:1y')).toEqual([
      { stepSeconds: 10, retentionSeconds: 6 * 3600 },
      { stepSeconds: 60, retentionSeconds: 7 * 86_400 },
      { stepSeconds: 600, retentionSeconds: 365 * 86_400 },
    ]);
    expect(parseRetention('60:1440')).toEqual([{ stepSeconds: 60, retentionSeconds: 86_400 }]);
    expect(() => parseRetention('10s:6h,15s:7d')).toThrow(/multiple/);
    expect(() => parseRetention('10s:6h,1m:1h')).toThrow(/longer/);
    expect(() => parseRetention('10q:6h')).toThrow(/unknown unit q/);
    expect(() => parseRetention('ten:6h')).toThrow(/STEP:KEEP/);
    // 16 archives are taken (each step twice the last, each keeping twice as long); a 17th is not.
    const archives = (n: number): string =>
      Array.from({ length: n }, (_, i) => `${2 ** i}s:${2 ** (i + 1)}s`).join(',');
    expect(parseRetention(archives(16))).toHaveLength(16);
    expect(() => parseRetention(archives(17))).toThrow(/at most 16 archives/);
  });

  it('aggregates counts by sum, lower by min, upper by max, gauges by last, the rest by average', () => {
    const policy = new RetentionPolicy(parseRetention('10s:1h'));
    expect(policy.aggregationFor('stats.counters.hits.count')).toBe('sum');
    expect(policy.aggregationFor('stats.timers.db.lower')).toBe('min');
    expect(policy.aggregationFor('stats.timers.db.upper_90')).toBe('max');
    expect(policy.aggregationFor('stats.gauges.queue')).toBe('last');
    expect(policy.aggregationFor('web1.cpu.user')).toBe('average');
  });
});

describe('series store', () => {
  const T0 = 1_700_000_000;
  const BASE = T0 - (T0 % 600); // a slot start in every archive

  async function makeStore(options: { dataDir?: string; maxSeries?: number; retention?: string } = {}) {
    const dataDir = options.dataDir ?? tempDir('opsbro-tsdb-');
    const store = await openStore(dataDir);
    opened.push(store);
    const clock = { ms: (BASE + 3600) * 1000 };
    const warnings: string[] = [];
    const namespace = store.sublevel('metrics');
    const series = new SeriesStore({
      namespace,
      policy: new RetentionPolicy(parseRetention(options.retention ?? '10s:6h,1m:7d,10m:1y')),
      maxSeries: options.maxSeries ?? 1000,
      now: () => clock.ms,
      onSeriesLimit: (name) => warnings.push(name),
    });
    await series.open();
    return { series, clock, store, dataDir, warnings, namespace };
  }

  /** Every key the store holds in the metrics namespace. */
  async function keysOf(store: Store): Promise<string[]> {
    const keys: string[] = [];
    for await (const key of store.sublevel('metrics').keys()) keys.push(key);
    return keys;
  }

  async function closeStore(store: Store): Promise<void> {
    opened.splice(opened.indexOf(store), 1);
    await store.close();
  }

  it('answers whisper-style windows with nulls where nothing landed, and averages a slot', async () => {
    const { series } = await makeStore();
    series.add('web.load', BASE + 10, 1);
    series.add('web.load', BASE + 20, 2);
    series.add('web.load', BASE + 25, 4); // same 10 s slot as +20: averaged
    series.add('web.load', BASE + 40, 5);
    const fetched = await series.fetch('web.load', BASE, BASE + 50);
    expect(fetched).toMatchObject({ start: BASE + 10, end: BASE + 60, stepSeconds: 10 });
    expect(fetched!.values).toEqual([1, 3, null, 5, null]);
    expect(await series.fetch('nope', BASE, BASE + 50)).toBeUndefined();
  });

  it('rolls points up by the series aggregation into the coarser archives', async () => {
    const { series, clock } = await makeStore();
    for (let index = 0; index < 12; index++) {
      const at = BASE + index * 10; // two minutes of 10 s points
      for (const name of ['app.req.count', 'app.lat.upper', 'app.lat.lower', 'stats.gauges.queue', 'app.cpu'])
        series.add(name, at, index);
    }
    const now = clock.ms / 1000;
    /** The slots from BASE on, of the archive a window reaching `ageSeconds` back reads. */
    const slots = async (name: string, ageSeconds: number, step: number, count: number) => {
      const fetched = (await series.fetch(name, now - ageSeconds, now))!;
      expect(fetched.stepSeconds).toBe(step);
      const first = (BASE - fetched.start) / step;
      return fetched.values.slice(first, first + count);
    };
    // Within 6 h: the 10 s archive, every point as it came.
    expect(await slots('app.cpu', 3600 + 60, 10, 12)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    // 7 hours back: the 1 m archive.
    expect(await slots('app.req.count', 7 * 3600, 60, 2)).toEqual([15, 51]);
    expect(await slots('app.lat.upper', 7 * 3600, 60, 2)).toEqual([5, 11]);
    expect(await slots('app.lat.lower', 7 * 3600, 60, 2)).toEqual([0, 6]);
    expect(await slots('stats.gauges.queue', 7 * 3600, 60, 2)).toEqual([5, 11]);
    expect(await slots('app.cpu', 7 * 3600, 60, 2)).toEqual([2.5, 8.5]);
    // 8 days back: the 10 m archive.
    expect(await slots('app.req.count', 8 * 86_400, 600, 1)).toEqual([66]);
    expect(await slots('app.cpu', 8 * 86_400, 600, 1)).toEqual([5.5]);
  });

  it('keeps heads, open slots and sealed blocks across a flush and a reopen', async () => {
    const first = await makeStore();
    const count = POINTS_PER_BLOCK * 2 + 7;
    for (let index = 0; index < count; index++) first.series.add('db.qps', BASE + index * 10, index * 1.5);
    first.clock.ms = (BASE + count * 10) * 1000;
    await first.series.flush();
    expect(first.series.stats().blocks_written).toBeGreaterThanOrEqual(2);
    const before = await first.series.fetch('db.qps', BASE - 10, BASE + count * 10);
    await closeStore(first.store);
    const second = await makeStore({ dataDir: first.dataDir });
    second.clock.ms = first.clock.ms;
    const after = await second.series.fetch('db.qps', BASE - 10, BASE + count * 10);
    expect(after).toEqual(before);
    expect(after!.values.filter((value) => value !== null)).toHaveLength(count);
    expect(after!.values[count - 1]).toBe((count - 1) * 1.5);
    // And it goes on from there.
    second.series.add('db.qps', BASE + count * 10, -1);
    expect((await second.series.fetch('db.qps', BASE - 10, BASE + count * 10 + 10))!.values[count]).toBe(-1);
  });

  it('writes one record per series, in slices, and reopens every series of a large flush', async () => {
    const first = await makeStore({ maxSeries: 2000 });
    // More series than a flush writes per batch (500), so the flush takes several batches.
    for (let index = 0; index < 1203; index++) {
      first.series.add(`svc.${index}.time`, BASE + 10, index);
      first.series.add(`svc.${index}.time`, BASE + 20, index + 0.5);
    }
    first.clock.ms = (BASE + 30) * 1000;
    const writes = vi.spyOn(first.namespace, 'write');
    await first.series.flush();
    // 500 series a batch: 500, 500, 203.
    expect(writes.mock.calls.map(([ops]) => ops.length)).toEqual([500, 500, 203]);
    const keys = await keysOf(first.store);
    // Heads live in the series' own record: no other key until a head is sealed.
    expect(keys).toHaveLength(1203);
    expect(keys.every((key) => key.startsWith('s:'))).toBe(true);
    await closeStore(first.store);
    const second = await makeStore({ dataDir: first.dataDir, maxSeries: 2000 });
    second.clock.ms = first.clock.ms;
    expect(second.series.size).toBe(1203);
    for (const index of [0, 499, 500, 1202]) {
      const fetched = await second.series.fetch(`svc.${index}.time`, BASE, BASE + 30);
      expect(fetched!.values.slice(0, 2)).toEqual([index, index + 0.5]);
    }
  });

  it('reads the heads of a store written with one record per head, and moves them at the next flush', async () => {
    const first = await makeStore();
    first.series.add('old.layout', BASE + 10, 4);
    first.series.add('old.layout', BASE + 20, 6);
    first.series.add('old.layout', BASE + 70, 8);
    first.clock.ms = (BASE + 80) * 1000;
    await first.series.flush();
    // Rewrite the record as the previous layout had it: the series without heads, a record per head.
    const { namespace } = first;
    const record = (await namespace.get<{ heads: unknown[] }>('s:old.layout'))!;
    await namespace.write([
      { type: 'put', key: 's:old.layout', value: { ...record, heads: undefined } },
      ...record.heads.map((head, archive) => ({
        type: 'put' as const,
        key: `h:old.layout\0${archive}`,
        value: head,
      })),
    ]);
    const before = await first.series.fetch('old.layout', BASE, BASE + 80);
    await closeStore(first.store);
    const second = await makeStore({ dataDir: first.dataDir });
    second.clock.ms = first.clock.ms;
    expect(await second.series.fetch('old.layout', BASE, BASE + 80)).toEqual(before);
    await second.series.flush();
    expect(await keysOf(second.store)).toEqual(['s:old.layout']);
    await closeStore(second.store);
    const third = await makeStore({ dataDir: first.dataDir });
    third.clock.ms = first.clock.ms;
    expect(await third.series.fetch('old.layout', BASE, BASE + 80)).toEqual(before);
  });

  it('drops blocks past their retention and series silent past the longest', async () => {
    const { series, clock, store } = await makeStore({ retention: '10s:1h,1m:2h' });
    for (let index = 0; index < POINTS_PER_BLOCK * 3; index++)
      series.add('old.one', BASE + index * 10, index);
    await series.flush();
    clock.ms = (BASE + POINTS_PER_BLOCK * 30 + 3600) * 1000;
    series.add('fresh.one', clock.ms / 1000 - 10, 1);
    const expired = await series.expire();
    expect(expired.blocks).toBeGreaterThan(0);
    clock.ms += 3 * 3600 * 1000;
    expect((await series.expire()).series).toBe(2);
    expect(series.has('old.one')).toBe(false);
    expect(await keysOf(store)).toEqual([]);
  });

  it('refuses new series past the limit, warning once a minute, and counts late points', async () => {
    const { series, clock, warnings } = await makeStore({ maxSeries: 2 });
    series.add('a', BASE, 1);
    series.add('b', BASE, 1);
    series.add('c', BASE, 1);
    series.add('d', BASE, 1);
    expect(warnings).toEqual(['c']);
    clock.ms += 60_000;
    series.add('e', BASE, 1);
    expect(warnings).toEqual(['c', 'e']);
    series.add('a', BASE + 60, 2);
    series.add('a', BASE + 30, 3); // before the finest archive's open slot (the 10 m one takes it)
    series.add('a', BASE - 7 * 3600, 3); // older than the finest archive keeps: only the coarser take it
    series.add('a', BASE - 400 * 86_400, 3); // older than any archive keeps: dropped
    expect(series.stats()).toMatchObject({ series: 2, dropped_series_points: 3, dropped_late_points: 3 });
  });
});
