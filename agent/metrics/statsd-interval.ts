// What a statsd reader process (statsd-readers.ts) gathers between two flushes, handed to the agent
// as a plain snapshot that the agent's aggregator merges (StatsdAggregator.merge) before it
// flushes. Only the interval's own operations are kept here: a gauge's running value lives in the
// agent's aggregator, so a reader records "set to v" or "add d", never a stale copy of its own.
import { readStatsdPacket, type StatsdSink } from './statsd-parser.js';

/** One interval of one reader: structured-clone friendly (the IPC channel's "advanced" mode). */
export interface StatsdIntervalSnapshot {
  packets: number;
  metricLines: number;
  badLines: number;
  /** Samples refused because the interval already held maxKeys keys. */
  droppedKeys: number;
  /** Key and sample-rate-weighted sum. */
  counters: Array<[key: string, sum: number]>;
  /** Key, the values, and the sample-rate-weighted count (statsd's timer_counters). */
  timers: Array<[key: string, values: number[], count: number]>;
  /** Key, value, and whether it adds to the gauge (a delta) or sets it. */
  gauges: Array<[key: string, value: number, delta: boolean]>;
  sets: Array<[key: string, members: string[]]>;
}

export class StatsdInterval implements StatsdSink {
  private packets = 0;
  private metricLines = 0;
  private badLines = 0;
  private droppedKeys = 0;
  private keys = 0;
  private counters = new Map<string, { sum: number }>();
  private timers = new Map<string, { values: number[]; count: number }>();
  private gauges = new Map<string, { value: number; delta: boolean }>();
  private sets = new Map<string, Set<string>>();

  /** `maxKeys`: distinct keys one interval holds (a stranger's endless new keys stop there). */
  constructor(private readonly maxKeys: number) {}

  ingest(packet: Uint8Array): void {
    this.packets++;
    const { badLines, metricLines } = readStatsdPacket(packet, this);
    this.metricLines += metricLines;
    this.badLines += badLines;
  }

  /** The interval so far, and a fresh one begun. */
  take(): StatsdIntervalSnapshot {
    const snapshot: StatsdIntervalSnapshot = {
      packets: this.packets,
      metricLines: this.metricLines,
      badLines: this.badLines,
      droppedKeys: this.droppedKeys,
      counters: [...this.counters].map(([key, { sum }]) => [key, sum]),
      timers: [...this.timers].map(([key, { values, count }]) => [key, values, count]),
      gauges: [...this.gauges].map(([key, { value, delta }]) => [key, value, delta]),
      sets: [...this.sets].map(([key, members]) => [key, [...members]]),
    };
    this.packets = this.metricLines = this.badLines = this.droppedKeys = this.keys = 0;
    this.counters = new Map();
    this.timers = new Map();
    this.gauges = new Map();
    this.sets = new Map();
    return snapshot;
  }

  counter(key: string, value: number, sampleRate: number): void {
    const counter = this.counters.get(key);
    // The aggregator's arithmetic, value * (1 / rate).
    if (counter !== undefined) counter.sum += value * (1 / sampleRate);
    else if (this.admit()) this.counters.set(key, { sum: 0 + value * (1 / sampleRate) });
  }

  timer(key: string, value: number, sampleRate: number): void {
    let timer = this.timers.get(key);
    if (timer === undefined) {
      if (!this.admit()) return;
      timer = { values: [], count: 0 };
      this.timers.set(key, timer);
    }
    timer.values.push(value);
    timer.count += 1 / sampleRate;
  }

  gauge(key: string, value: number, delta: boolean): void {
    const gauge = this.gauges.get(key);
    if (gauge === undefined) {
      if (this.admit()) this.gauges.set(key, { value, delta });
    } else if (delta) {
      // A delta after a set is still a set (of the sum); after deltas, one larger delta.
      gauge.value += value;
    } else {
      gauge.value = value;
      gauge.delta = false;
    }
  }

  set(key: string, member: string): void {
    let members = this.sets.get(key);
    if (members === undefined) {
      if (!this.admit()) return;
      members = new Set();
      this.sets.set(key, members);
    }
    members.add(member);
  }

  private admit(): boolean {
    if (this.keys >= this.maxKeys) {
      this.droppedKeys++;
      return false;
    }
    this.keys++;
    return true;
  }
}
