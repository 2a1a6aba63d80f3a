// The statsd listener's state between two flushes, and the flush itself: what Etsy statsd's
// lib/process_metrics.js computes from an interval's raw samples, named as its graphite backend
// names it (legacyNamespace false, globalPrefix 'stats', prefixStats 'statsd', flush_counts on),
// then reset as its stats.js resets (deleteCounters, deleteTimers and deleteSets off). Pure: the
// caller owns the socket and the flush timer, so the same inputs give the same outputs in tests.
//
// Values are meant to be identical to statsd's, not just close: the timer summaries below follow
// its order of float operations (cumulative sums over the sorted values, its rounding of the
// threshold count), because a graph that moves when someone swaps statsd for this agent is a bug.

import type { StatsdIntervalSnapshot } from './statsd-interval.js';
import { readStatsdPacket, sampleToSink, type StatsdSample, type StatsdSink } from './statsd-parser.js';

export interface StatsdAggregatorOptions {
  /**
   * statsd's percentThreshold (default [90]): 90 summarises the lowest 90% of an interval's timings
   * (`upper_90`...), -10 the highest 10% (`lower_top10`...: statsd's "top", not the lowest values).
   */
  percentThresholds?: number[];
  /** The flush period: counters' and timers' per-second rates divide by it. */
  flushIntervalMs: number;
  /** statsd's deleteGauges: a gauge is sent only in the intervals it was written in. */
  deleteIdleGauges?: boolean;
  /** Distinct keys kept, all kinds together; a sample for a new key beyond it is dropped. */
  maxKeys?: number;
}

export const DEFAULT_PERCENT_THRESHOLDS: readonly number[] = [90];
export const DEFAULT_MAX_KEYS = 100_000;

// statsd's own counters live in its counter table (so they are flushed as counters, rate and
// count); they are created first, so they come first in a flush, as in statsd.
const BAD_LINES_SEEN = 'statsd.bad_lines_seen';
const PACKETS_RECEIVED = 'statsd.packets_received';
const METRICS_RECEIVED = 'statsd.metrics_received';
const OWN_COUNTERS = [BAD_LINES_SEEN, PACKETS_RECEIVED, METRICS_RECEIVED];
const TIMESTAMP_LAG = 'statsd.timestamp_lag';

interface TimerState {
  values: number[];
  /** Samples received, each worth 1/sampleRate (statsd's timer_counters). */
  count: number;
}

/** A threshold and the name statsd gives its fields ('90', 'top10', '99_9'). */
interface Threshold {
  percent: number;
  suffix: string;
}

/**
 * The graphite name of `key` with `fields` appended. As statsd's graphite backend does, graphite
 * tags in the key (`name;tag=value`) go after the fields, so the fields stay part of the name.
 */
function metricName(namespace: string, key: string, ...fields: string[]): string {
  const semicolon = key.indexOf(';');
  const name = semicolon < 0 ? key : key.slice(0, semicolon);
  const tags = semicolon < 0 ? '' : key.slice(semicolon);
  const path = [namespace, name, ...fields].join('.');
  return path + tags;
}

function checkThresholds(percents: readonly number[]): Threshold[] {
  const thresholds: Threshold[] = [];
  const suffixes = new Set<string>();
  for (const percent of percents) {
    // 0 would name fields `count_0` and say nothing; beyond ±100 the index math reads past the values.
    if (!Number.isFinite(percent) || percent === 0 || Math.abs(percent) > 100) {
      throw new RangeError(`percent threshold ${percent}: must be in [-100, 0) or (0, 100]`);
    }
    // statsd's naming: the decimal point becomes '_', the minus sign 'top' (so -10 is `top10`).
    const suffix = String(percent).replace('.', '_').replace('-', 'top');
    // statsd writes the fields into one object per timer: a repeated threshold is sent once.
    if (suffixes.has(suffix)) continue;
    suffixes.add(suffix);
    thresholds.push({ percent, suffix });
  }
  return thresholds;
}

/**
 * An interval's timings summarised as statsd's process_metrics does, in its field order. `values`
 * is sorted in place (ascending). `count` is the sample-rate-weighted count.
 */
function summariseTimer(
  values: number[],
  count: number,
  thresholds: readonly Threshold[],
  flushIntervalMs: number,
): Array<[field: string, value: number]> {
  const fields: Array<[string, number]> = [];
  if (values.length === 0) {
    // An idle timer: statsd sends only its counts, as zeros (count_ps first: its
    // `data.count = data.count_ps = 0` defines count_ps first, and a flush lists fields in that order).
    fields.push(['count_ps', 0], ['count', 0]);
    return fields;
  }
  values.sort((a, b) => a - b);
  const n = values.length;
  const min = values[0] as number;
  const max = values[n - 1] as number;

  // Running sums over the sorted values: statsd's cumulativeValues and cumulSumSquaresValues.
  const cumulative = new Float64Array(n);
  const cumulativeSquares = new Float64Array(n);
  cumulative[0] = min;
  cumulativeSquares[0] = min * min;
  for (let i = 1; i < n; i++) {
    const v = values[i] as number;
    cumulative[i] = v + (cumulative[i - 1] as number);
    cumulativeSquares[i] = v * v + (cumulativeSquares[i - 1] as number);
  }
  // The running sum before index i (statsd reads cumulative[-1] there, which is undefined and makes
  // its sum NaN when a negative threshold covers every value; the sum of nothing is meant).
  const before = (sums: Float64Array, i: number): number => (i > 0 ? (sums[i - 1] as number) : 0);

  for (const { percent, suffix } of thresholds) {
    let inThreshold = n;
    let boundary = max;
    let sum = min;
    let sumSquares = min * min;
    let mean = min;
    if (n > 1) {
      inThreshold = Math.round((Math.abs(percent) / 100) * n);
      // Too few values for this threshold to hold one: statsd sends none of its fields.
      if (inThreshold === 0) continue;
      if (percent > 0) {
        boundary = values[inThreshold - 1] as number;
        sum = cumulative[inThreshold - 1] as number;
        sumSquares = cumulativeSquares[inThreshold - 1] as number;
      } else {
        boundary = values[n - inThreshold] as number;
        sum = (cumulative[n - 1] as number) - before(cumulative, n - inThreshold);
        sumSquares = (cumulativeSquares[n - 1] as number) - before(cumulativeSquares, n - inThreshold);
      }
      mean = sum / inThreshold;
    }
    fields.push(
      [`count_${suffix}`, inThreshold],
      [`mean_${suffix}`, mean],
      [`${percent > 0 ? 'upper' : 'lower'}_${suffix}`, boundary],
      [`sum_${suffix}`, sum],
      [`sum_squares_${suffix}`, sumSquares],
    );
  }

  const sum = cumulative[n - 1] as number;
  const sumSquares = cumulativeSquares[n - 1] as number;
  const mean = sum / n;
  let sumOfDiffs = 0;
  for (let i = 0; i < n; i++) {
    const diff = (values[i] as number) - mean;
    sumOfDiffs += diff * diff;
  }
  const mid = Math.floor(n / 2);
  const median =
    n % 2 ? (values[mid] as number) : ((values[mid - 1] as number) + (values[mid] as number)) / 2;

  fields.push(
    ['std', Math.sqrt(sumOfDiffs / n)],
    ['upper', max],
    ['lower', min],
    ['count', count],
    ['count_ps', count / (flushIntervalMs / 1000)],
    ['sum', sum],
    ['sum_squares', sumSquares],
    ['mean', mean],
    ['median', median],
  );
  return fields;
}

export class StatsdAggregator implements StatsdSink {
  private readonly thresholds: Threshold[];
  private readonly flushIntervalMs: number;
  private readonly deleteIdleGauges: boolean;
  private readonly maxKeys: number;

  // Maps keep insertion order: a flush lists keys in the order they first appeared, as statsd's
  // objects do (but for integer-like keys, which a JS object sorts first).
  // Counters are boxed so that a sample costs one map lookup, not a get and a set.
  private readonly counters = new Map<string, { value: number }>(
    OWN_COUNTERS.map((key) => [key, { value: 0 }]),
  );
  private readonly timers = new Map<string, TimerState>();
  private readonly gauges = new Map<string, number>();
  private readonly sets = new Map<string, Set<string>>();
  private userKeys = 0;
  private dropped = 0;
  private lastFlushSeconds = 0;

  constructor(options: StatsdAggregatorOptions) {
    if (!Number.isFinite(options.flushIntervalMs) || options.flushIntervalMs <= 0) {
      throw new RangeError(`flushIntervalMs ${options.flushIntervalMs}: must be a positive number`);
    }
    const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!Number.isInteger(maxKeys) || maxKeys < 0) {
      throw new RangeError(`maxKeys ${maxKeys}: must be a non-negative integer`);
    }
    this.thresholds = checkThresholds(options.percentThresholds ?? DEFAULT_PERCENT_THRESHOLDS);
    this.flushIntervalMs = options.flushIntervalMs;
    this.deleteIdleGauges = options.deleteIdleGauges ?? false;
    this.maxKeys = maxKeys;
  }

  /** Samples refused since construction because their key would have gone beyond maxKeys. */
  get droppedKeys(): number {
    return this.dropped;
  }

  /** Distinct keys held now, all kinds together (statsd's own metrics not included). */
  get keyCount(): number {
    return this.userKeys;
  }

  /**
   * Adds parsed samples. `metricLines` is what statsd.metrics_received counts: statsd counts lines
   * (bad ones too), not values; without it, each sample counts as one line.
   */
  add(samples: readonly StatsdSample[], metricLines: number = samples.length): void {
    this.bump(METRICS_RECEIVED, metricLines);
    for (const sample of samples) sampleToSink(sample, this);
  }

  /**
   * One received datagram, read straight into this interval (readStatsdPacket: the samples
   * parseStatsdPacket makes, without making them). Returns its bad lines.
   */
  ingest(packet: Uint8Array | string): number {
    this.countPacket();
    const { badLines, metricLines } = readStatsdPacket(packet, this);
    this.bump(METRICS_RECEIVED, metricLines);
    this.countBadLines(badLines);
    return badLines;
  }

  /**
   * A reader process's interval (statsd-interval.ts) into this one: its counts, sums, timings, gauge
   * writes and set members, as if its packets had come here (the order of packets between two
   * readers is the network's, as it already is between two clients).
   */
  merge(snapshot: StatsdIntervalSnapshot): void {
    this.bump(PACKETS_RECEIVED, snapshot.packets);
    this.bump(METRICS_RECEIVED, snapshot.metricLines);
    this.countBadLines(snapshot.badLines);
    this.dropped += snapshot.droppedKeys;
    for (const [key, sum] of snapshot.counters) this.counter(key, sum, 1);
    for (const [key, values, count] of snapshot.timers) {
      let timer = this.timers.get(key);
      if (timer === undefined) {
        if (!this.admitNewKey()) continue;
        timer = { values: [], count: 0 };
        this.timers.set(key, timer);
      }
      for (const value of values) timer.values.push(value);
      timer.count += count;
    }
    for (const [key, value, delta] of snapshot.gauges) this.gauge(key, value, delta);
    for (const [key, members] of snapshot.sets) for (const member of members) this.set(key, member);
  }

  countBadLines(n: number): void {
    this.bump(BAD_LINES_SEEN, n);
  }

  countPacket(): void {
    this.bump(PACKETS_RECEIVED, 1);
  }

  /**
   * Ends the interval: the stats statsd's graphite backend would send for it, then the reset. With
   * `nowMs` (the wall clock at the flush), also statsd's statsd.timestamp_lag gauge: how late this
   * flush is against the previous one plus the interval (from the second flush on, as statsd).
   * The backend's connection stats (graphiteStats.last_flush, flush_time...) are the sender's.
   */
  flush(nowMs?: number): Array<[name: string, value: number]> {
    const processStartMs = Date.now();
    if (nowMs !== undefined) {
      const nowSeconds = Math.round(nowMs / 1000);
      if (this.lastFlushSeconds > 0) {
        // Like statsd, straight into the gauges table (not a user key, never refused).
        this.gauges.set(TIMESTAMP_LAG, nowSeconds - this.lastFlushSeconds - this.flushIntervalMs / 1000);
      }
      this.lastFlushSeconds = nowSeconds;
    }

    const intervalSeconds = this.flushIntervalMs / 1000;
    const timerFields = new Map<string, Array<[string, number]>>();
    for (const [key, timer] of this.timers) {
      timerFields.set(key, summariseTimer(timer.values, timer.count, this.thresholds, this.flushIntervalMs));
    }
    const processingTimeMs = Date.now() - processStartMs;

    const backendStartMs = Date.now();
    const out: Array<[string, number]> = [];
    let numStats = 0;
    for (const [key, { value: count }] of this.counters) {
      out.push([metricName('stats.counters', key, 'rate'), count / intervalSeconds]);
      out.push([metricName('stats.counters', key, 'count'), count]);
      numStats++;
    }
    for (const [key, fields] of timerFields) {
      for (const [field, value] of fields) out.push([metricName('stats.timers', key, field), value]);
      numStats++;
    }
    for (const [key, value] of this.gauges) {
      out.push([metricName('stats.gauges', key), value]);
      numStats++;
    }
    for (const [key, members] of this.sets) {
      out.push([metricName('stats.sets', key, 'count'), members.size]);
      numStats++;
    }
    out.push(['stats.statsd.numStats', numStats]);
    out.push(['stats.statsd.graphiteStats.calculationtime', Date.now() - backendStartMs]);
    out.push(['stats.statsd.processing_time', processingTimeMs]);

    this.reset();
    return out;
  }

  private reset(): void {
    // Idle keys stay and are sent as zeros next time (statsd's deleteCounters/Timers/Sets off).
    for (const counter of this.counters.values()) counter.value = 0;
    for (const timer of this.timers.values()) {
      timer.values = [];
      timer.count = 0;
    }
    for (const members of this.sets.values()) members.clear();
    if (this.deleteIdleGauges) {
      // statsd's deleteGauges with its default gaugesMaxTTL of 1: every gauge written this interval
      // has been sent and is now forgotten (a later delta starts from 0 again); its lag gauge stays.
      for (const key of this.gauges.keys()) {
        if (key === TIMESTAMP_LAG) continue;
        this.gauges.delete(key);
        this.userKeys--;
      }
    }
  }

  private bump(counter: string, n: number): void {
    if (!Number.isFinite(n) || n <= 0) return;
    const box = this.counters.get(counter);
    if (box) box.value += n;
    else this.counters.set(counter, { value: n });
  }

  /** Whether a new key may be created; counts the refusal if not. */
  private admitNewKey(): boolean {
    if (this.userKeys >= this.maxKeys) {
      this.dropped++;
      return false;
    }
    this.userKeys++;
    return true;
  }

  counter(key: string, value: number, sampleRate: number): void {
    // statsd's arithmetic, value * (1 / rate), so the float result is the same as its.
    const counter = this.counters.get(key);
    if (counter !== undefined) counter.value += value * (1 / sampleRate);
    else if (this.admitNewKey()) this.counters.set(key, { value: 0 + value * (1 / sampleRate) });
  }

  timer(key: string, value: number, sampleRate: number): void {
    let timer = this.timers.get(key);
    if (timer === undefined) {
      if (!this.admitNewKey()) return;
      timer = { values: [], count: 0 };
      this.timers.set(key, timer);
    }
    timer.values.push(value);
    timer.count += 1 / sampleRate;
  }

  gauge(key: string, value: number, delta: boolean): void {
    const current = this.gauges.get(key);
    // statsd's lag gauge shares the table; it is not a user key (see reset()).
    if (current === undefined && key !== TIMESTAMP_LAG && !this.admitNewKey()) return;
    // A delta on a gauge never set (or deleted as idle) starts from 0, as in statsd.
    this.gauges.set(key, delta ? (current ?? 0) + value : value);
  }

  set(key: string, member: string): void {
    let members = this.sets.get(key);
    if (members === undefined) {
      if (!this.admitNewKey()) return;
      members = new Set();
      this.sets.set(key, members);
    }
    members.add(member);
  }
}
