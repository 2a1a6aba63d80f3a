// The time-series store: every series' archives (retention.ts), each a run of compressed chunks
// (xor-chunk.ts). A point lands in each archive's open slot (combined with the points sharing the
// slot by the series' aggregation); a slot is closed into the archive's head chunk when a later
// slot opens. Head chunks and open slots live in memory and are written to the store at each
// flush (so a crash loses at most one flush interval), one record per series (`s:<name>`: its
// archives and every head), so a flush of 10,000 series is 10,000 puts, not 40,000; a head full of
// points is sealed as a block under `b:<name>\0<archive>\0<last timestamp>`, read back by range
// and dropped once older than its archive keeps. A flush writes a slice of series at a time, so
// the event loop is not held for the whole store (a single batch of 10,000 series held it ~600 ms).
import type { Namespace } from '../../store/index.js';
import type { Aggregation, Archive, RetentionPolicy } from './retention.js';
import { XorChunk, forEachXorPoint } from './xor-chunk.js';

/** Points a head chunk takes before it is sealed as a block (20 minutes of 10 s points). */
export const POINTS_PER_BLOCK = 120;

/** The points of one series over a window, on its archive's step (whisper's fetch semantics). */
export interface FetchedSeries {
  name: string;
  /** The first slot's timestamp (seconds). */
  start: number;
  /** After the last slot. */
  end: number;
  stepSeconds: number;
  values: Array<number | null>;
  aggregation: Aggregation;
}

/** The points that share one slot of an archive, combined as they come. */
interface OpenSlot {
  slot: number;
  sum: number;
  count: number;
  min: number;
  max: number;
  last: number;
}

interface SeriesState {
  archives: Archive[];
  aggregation: Aggregation;
  heads: XorChunk[];
  open: Array<OpenSlot | undefined>;
  /** A head or open slot changed since the last flush: the series' record is written again. */
  dirty: boolean;
  /** Sealed blocks not yet written: [archive, bytes, last timestamp]. */
  sealed: Array<[number, Uint8Array, number]>;
  /** The series is not yet in the store's index. */
  isNew: boolean;
  /** Its heads were read from `h:` records (an older store): the next flush deletes them. */
  legacyHeads: boolean;
  /** The newest point's time (seconds): a series silent for longer than it keeps anything is dropped. */
  lastPointSeconds: number;
}

/** What is kept of a head in the store: its chunk and its open slot. */
interface StoredHead {
  chunk: Uint8Array;
  open?: OpenSlot;
}

interface StoredSeries {
  archives: Archive[];
  aggregation: Aggregation;
  last: number;
  /** One per archive. Absent in stores written before heads moved here (they were `h:` records). */
  heads?: StoredHead[];
}

/** Series written per batch in a flush; the event loop runs between batches. */
const FLUSH_SLICE_SERIES = 500;

export interface SeriesStoreStats {
  series: number;
  points: number;
  /** Points that missed the finest archive: older than its open slot, or than it keeps. */
  dropped_late_points: number;
  /** Points of new series refused at the series limit. */
  dropped_series_points: number;
  blocks_written: number;
  /** Flushes completed (what a crash could lose is what came after the last one). */
  flushes: number;
}

export interface SeriesStoreOptions {
  namespace: Namespace;
  policy: RetentionPolicy;
  /** Series kept at most; points of new series beyond it are dropped (and counted). */
  maxSeries: number;
  now: () => number;
  /** Told (at most once a minute) when a new series was refused at the limit. */
  onSeriesLimit?: (name: string, maxSeries: number) => void;
}

export class SeriesStore {
  private readonly series = new Map<string, SeriesState>();
  private readonly counters = {
    points: 0,
    dropped_late_points: 0,
    dropped_series_points: 0,
    blocks_written: 0,
    flushes: 0,
  };
  private lastLimitWarningMs = -Infinity;
  /** The flush under way or the last one: the next starts after it. */
  private lastFlush: Promise<void> = Promise.resolve();

  constructor(private readonly options: SeriesStoreOptions) {}

  /** Loads the index and the heads the last flush wrote. */
  async open(): Promise<void> {
    const { namespace } = this.options;
    for await (const [key, stored] of namespace.entries<StoredSeries>({ prefix: 's:' })) {
      const name = key.slice(2);
      const heads = stored.heads;
      this.series.set(name, {
        archives: stored.archives,
        aggregation: stored.aggregation,
        heads: stored.archives.map((_, archive) =>
          heads?.[archive] ? XorChunk.decode(heads[archive].chunk) : new XorChunk(),
        ),
        open: stored.archives.map((_, archive) => heads?.[archive]?.open),
        dirty: false,
        sealed: [],
        isNew: false,
        legacyHeads: false,
        lastPointSeconds: stored.last,
      });
    }
    // A store written before heads moved into the series record: read them; the series' next
    // flush writes them in the new place and deletes these.
    for await (const [key, head] of namespace.entries<StoredHead>({ prefix: 'h:' })) {
      const [name, archive] = splitHeadKey(key);
      const state = this.series.get(name);
      if (!state || archive >= state.archives.length) continue;
      state.heads[archive] = XorChunk.decode(head.chunk);
      state.open[archive] = head.open;
      state.legacyHeads = true;
      state.dirty = true;
    }
  }

  /** Series names known, in no particular order. */
  names(): IterableIterator<string> {
    return this.series.keys();
  }

  has(name: string): boolean {
    return this.series.has(name);
  }

  get size(): number {
    return this.series.size;
  }

  stats(): SeriesStoreStats {
    return { series: this.series.size, ...this.counters };
  }

  /**
   * Adds one point (`timestamp` in seconds; fractions are dropped). `nowSeconds`: the clock read
   * once for a batch of points (a TCP chunk holds thousands), rather than once a point.
   */
  add(
    name: string,
    timestampSeconds: number,
    value: number,
    nowSeconds: number = Math.floor(this.options.now() / 1000),
  ): void {
    if (!Number.isFinite(value)) return;
    const timestamp = Math.floor(timestampSeconds);
    let state = this.series.get(name);
    if (!state) {
      if (this.series.size >= this.options.maxSeries) {
        this.counters.dropped_series_points++;
        const nowMs = this.options.now();
        if (nowMs - this.lastLimitWarningMs >= 60_000) {
          this.lastLimitWarningMs = nowMs;
          this.options.onSeriesLimit?.(name, this.options.maxSeries);
        }
        return;
      }
      const archives = this.options.policy.archivesFor(name);
      state = {
        archives,
        aggregation: this.options.policy.aggregationFor(name),
        heads: archives.map(() => new XorChunk()),
        open: archives.map(() => undefined),
        dirty: false,
        sealed: [],
        isNew: true,
        legacyHeads: false,
        lastPointSeconds: timestamp,
      };
      this.series.set(name, state);
    }
    let landed = false;
    // A plain loop, no closure: this runs for every point received (a million a second at full tilt).
    const { archives, open: opens } = state;
    for (let index = 0; index < archives.length; index++) {
      const archive = archives[index]!;
      // Older than this archive keeps: a coarser one may (whisper writes history that way too).
      if (timestamp < nowSeconds - archive.retentionSeconds) continue;
      const slot = slotOf(timestamp, archive.stepSeconds);
      const open = opens[index];
      // Too late for this archive's open slot (a coarser one may still take it).
      if (open !== undefined && slot < open.slot) continue;
      if (open !== undefined && slot === open.slot) {
        open.sum += value;
        open.count++;
        if (value < open.min) open.min = value;
        if (value > open.max) open.max = value;
        open.last = value;
      } else {
        if (open !== undefined) this.close(state, index, open);
        opens[index] = { slot, sum: value, count: 1, min: value, max: value, last: value };
      }
      state.dirty = true;
      landed = true;
    }
    // Late for the finest archive: counted, though a coarser one may have taken it.
    const finestOpen = state.open[0];
    if (!landed || !finestOpen || finestOpen.slot > timestamp) this.counters.dropped_late_points++;
    if (!landed) return;
    state.lastPointSeconds = Math.max(state.lastPointSeconds, timestamp);
    this.counters.points++;
  }

  /**
   * Writes what changed since the last flush (new series, heads, sealed blocks): each series' own
   * writes in one batch (its record and the blocks sealed from its head), FLUSH_SLICE_SERIES
   * series a batch. Flushes run one at a time.
   */
  flush(): Promise<void> {
    const flushing = this.lastFlush.then(() => this.flushNow());
    this.lastFlush = flushing.catch(() => undefined);
    return flushing;
  }

  private async flushNow(): Promise<void> {
    let ops: Parameters<Namespace['write']>[0] = [];
    let sliced = 0;
    for (const [name, state] of this.series) {
      if (!state.dirty && !state.isNew) continue;
      const stored: StoredSeries = {
        archives: state.archives,
        aggregation: state.aggregation,
        last: state.lastPointSeconds,
        heads: state.archives.map((_, archive) => {
          const open = state.open[archive];
          // A view: the namespace encodes the value before write() returns.
          return { chunk: state.heads[archive]!.view(), ...(open ? { open } : {}) };
        }),
      };
      ops.push({ type: 'put', key: `s:${name}`, value: stored });
      for (const [archive, bytes, last] of state.sealed.splice(0)) {
        ops.push({ type: 'put', key: blockKey(name, archive, last), value: bytes });
        this.counters.blocks_written++;
      }
      if (state.legacyHeads) {
        for (let archive = 0; archive < state.archives.length; archive++)
          ops.push({ type: 'del', key: headKey(name, archive) });
        state.legacyHeads = false;
      }
      state.dirty = false;
      state.isNew = false;
      if (++sliced >= FLUSH_SLICE_SERIES) {
        await this.options.namespace.write(ops);
        ops = [];
        sliced = 0;
      }
    }
    if (ops.length) await this.options.namespace.write(ops);
    this.counters.flushes++;
  }

  /**
   * The series' points in (from, until] on the finest archive that reaches back to `from`, as
   * whisper answers a fetch: slots after from's, up to until's, with nulls where nothing landed.
   */
  async fetch(name: string, fromSeconds: number, untilSeconds: number): Promise<FetchedSeries | undefined> {
    const state = this.series.get(name);
    if (!state) return undefined;
    const nowSeconds = Math.floor(this.options.now() / 1000);
    const until = Math.min(untilSeconds, nowSeconds);
    const age = nowSeconds - fromSeconds;
    let index = state.archives.findIndex((archive) => archive.retentionSeconds >= age);
    if (index === -1) index = state.archives.length - 1;
    const archive = state.archives[index]!;
    const step = archive.stepSeconds;
    const from = Math.max(fromSeconds, nowSeconds - archive.retentionSeconds);
    const start = from - (from % step) + step;
    const end = Math.max(start, until - (until % step) + step);
    const values: Array<number | null> = new Array<number | null>((end - start) / step).fill(null);
    const place = (timestamp: number, value: number): void => {
      if (timestamp >= start && timestamp < end) values[(timestamp - start) / step] = value;
    };
    const range = { gte: blockKey(name, index, start), lt: `${blockPrefix(name, index)}\u{ff}` };
    for await (const [, bytes] of this.options.namespace.entries<Uint8Array>(range)) {
      let past = false;
      forEachXorPoint(bytes, (timestamp, value) => {
        if (timestamp >= end) {
          past = true;
          return false;
        }
        place(timestamp, value);
      });
      if (past) break;
    }
    for (const [archiveIndex, bytes] of state.sealed) {
      if (archiveIndex === index) forEachXorPoint(bytes, place);
    }
    state.heads[index]!.forEachPoint(place);
    const open = state.open[index];
    if (open) place(open.slot, slotValue(open, state.aggregation));
    return { name, start, end, stepSeconds: step, values, aggregation: state.aggregation };
  }

  /**
   * Drops blocks older than their archive keeps, and series silent for longer than their coarsest
   * archive keeps. Returns how many blocks and series went.
   */
  async expire(): Promise<{ blocks: number; series: number }> {
    const { namespace } = this.options;
    const nowSeconds = Math.floor(this.options.now() / 1000);
    let blocks = 0;
    let seriesGone = 0;
    for (const [name, state] of [...this.series]) {
      const longest = state.archives[state.archives.length - 1]!.retentionSeconds;
      if (state.lastPointSeconds < nowSeconds - longest) {
        const ops: Parameters<Namespace['write']>[0] = [{ type: 'del', key: `s:${name}` }];
        for (const [archive] of state.archives.entries()) {
          ops.push({ type: 'del', key: headKey(name, archive) });
          for await (const key of namespace.keys({ prefix: blockPrefix(name, archive) }))
            ops.push({ type: 'del', key });
        }
        await namespace.write(ops);
        this.series.delete(name);
        seriesGone++;
        continue;
      }
      for (const [archive, { retentionSeconds }] of state.archives.entries()) {
        const cutoff = blockKey(name, archive, nowSeconds - retentionSeconds);
        const ops: Parameters<Namespace['write']>[0] = [];
        for await (const key of namespace.keys({ gte: blockPrefix(name, archive), lt: cutoff }))
          ops.push({ type: 'del', key });
        if (ops.length) {
          await namespace.write(ops);
          blocks += ops.length;
        }
      }
    }
    return { blocks, series: seriesGone };
  }

  /** Closes an archive's open slot into its head chunk, sealing the head when full. */
  private close(state: SeriesState, archive: number, open: OpenSlot): void {
    const head = state.heads[archive]!;
    head.append(open.slot, slotValue(open, state.aggregation));
    if (head.length >= POINTS_PER_BLOCK) {
      state.sealed.push([archive, head.encode(), head.lastTimestampSeconds!]);
      state.heads[archive] = new XorChunk();
    }
  }
}

function slotValue(open: OpenSlot, aggregation: Aggregation): number {
  switch (aggregation) {
    case 'average':
      return open.sum / open.count;
    case 'sum':
      return open.sum;
    case 'min':
      return open.min;
    case 'max':
      return open.max;
    case 'last':
      return open.last;
  }
}

/** Block keys sort by the block's last timestamp (10 digits: seconds until 2286). */
function blockKey(name: string, archive: number, lastSeconds: number): string {
  return `${blockPrefix(name, archive)}${String(Math.max(0, lastSeconds)).padStart(10, '0')}`;
}

function blockPrefix(name: string, archive: number): string {
  return `b:${name}\0${archive}\0`;
}

function headKey(name: string, archive: number): string {
  return `h:${name}\0${archive}`;
}

function splitHeadKey(key: string): [string, number] {
  const separator = key.lastIndexOf('\0');
  return [key.slice(2, separator), Number(key.slice(separator + 1))];
}

/**
 * The start of the step-long slot holding `timestamp` (both whole seconds, timestamp >= 0): what
 * `timestamp - timestamp % step` gives, without `%`, which V8 runs as a call to fmod once epoch
 * seconds outgrow its small integers (2^30). Exact: the quotient's error is far below 1 / step.
 */
function slotOf(timestamp: number, step: number): number {
  return Math.floor(timestamp / step) * step;
}
