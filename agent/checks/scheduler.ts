// When each check runs. Checks are spread over their interval (a stable offset per name, so 10,000
// checks at 10 s do not all start in the same instant, nor after every restart in a new order); one
// check never runs twice at once; at most `maxConcurrent` runs are under way and the rest wait in
// line (first due, first run; none dropped); and a run that hangs holds its own slot only, so a
// slow check never delays the others while slots remain. The subsystem bounds each run with the
// check's timeout; the scheduler only decides when runs start.
//
// Runs due close together start together (`startWindowMs`): a run may start up to a window early
// (at most 5% of its delay), so that the runs of one window share one timer and one wake-up of
// the agent (and of the plugin launcher) instead of one each. A wake-up of an idle Node costs
// more CPU than an evaluated check (docs/benchmarks.md). Due times, and so each check's cadence
// and offset, are unchanged; the starts of a burst are handed out a slice per event-loop turn so
// that a window of thousands of checks never holds the loop.
import { SYSTEM_SCHEDULING_TIME, type SchedulingTime } from '../shared/timers.js';

/**
 * Where the scheduler's time comes from: Node's in the agent, the test's own in tests (STYLE.md,
 * "Time is injected"). The same shape as the collectors' time.
 */
/** The checks' time: the scheduling time of agent/shared/timers.ts. */
export type CheckTime = SchedulingTime;
export const SYSTEM_CHECK_TIME: CheckTime = SYSTEM_SCHEDULING_TIME;

/** One check as the scheduler sees it. */
export interface ScheduledCheck {
  name: string;
  /** The delay to the next run after one ends: interval, or retry_interval while soft (asked each time). */
  nextDelayMs(): number;
  intervalMs: number;
  /** Never rejects (the subsystem catches); the scheduler still guards. */
  run(): Promise<void>;
}

export interface CheckSchedulerOptions {
  time?: CheckTime;
  /** The most runs under way at once (script checks are processes: this bounds them). */
  maxConcurrent: number;
  /** Called as each run starts, with how late it starts (start - due): scheduling lag. */
  onLag?: (name: string, lagMs: number) => void;
  /**
   * Mixed into every check's offset: the node id, so that the nodes of a cluster, whose clocks
   * agree, do not all run the same check in the same instant. The same seed gives the same offsets.
   */
  phaseSeed?: string;
  /** A run that threw or rejected, which run() should never do; the check stays scheduled. */
  onRunError?: (name: string, error: unknown) => void;
  /**
   * Runs due within this window start together, up to this much early (at most 5% of the delay
   * before the run); 0 (the default): each run starts at its due time.
   */
  startWindowMs?: number;
}

export interface CheckSchedulerStats {
  running: number;
  queued: number;
  /** Over the last LAG_SAMPLES runs: how late runs started (start - due). */
  lagP50Ms: number;
  lagP99Ms: number;
  /** Runs that fell due while the check's previous run was still under way (or waiting): skipped. */
  skipped: number;
  /** Runs started since the scheduler was made. */
  started: number;
}

/** How many recent lags the percentiles are taken over. */
const LAG_SAMPLES = 1024;
/** Runs started in one turn of the event loop at most; the rest of a burst in the next turns. */
const STARTS_PER_TURN = 64;
/** The share of a run's delay it may start early by, at most. */
const EARLY_SHARE = 0.05;

/**
 * Where in its interval a check's runs fall (ms, 0 <= offset < intervalMs), from a hash of its name:
 * stable across restarts, spread evenly over the interval whatever the names look like.
 */
export function checkOffsetMs(name: string, intervalMs: number, seed = ''): number {
  return Math.floor((hash32(`${seed}\u0000${name}`) / 2 ** 32) * intervalMs);
}

/**
 * FNV-1a, then murmur3's finaliser: FNV alone barely moves its high bits between names that differ
 * only in their last character (check-1, check-2), and the offset is taken from the high bits.
 */
function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * waiting: in its window, whose timer is armed; queued: due, in line for a slot; running: a run is under way;
 * blocked: due, but a run of the check it replaced (same name, removed) is still under way;
 * removed: removed or stopped (a run under way still ends, nothing follows).
 */
type Phase = 'waiting' | 'queued' | 'running' | 'blocked' | 'removed';

/** One scheduled check and where it stands. */
class Entry {
  phase: Phase = 'waiting';
  /** While waiting: the start of the window it starts in (the key of its Window). */
  windowStart?: number;
  /** Monotonic ms its next (or current) run fell due: lag is measured from it, and the next due. */
  dueMono = 0;
  /** runNow: first in line. */
  urgent = false;
  /** Order among equal due times: first come, first run. */
  seq = 0;
  /** runNow while a run is under way: run again, first in line, as soon as it ends. */
  rerun = false;
  /** runNow callers waiting for a run that has not started yet. */
  waiting: Waiter[] = [];
  /** runNow callers waiting for the run under way to end. */
  riding: Waiter[] = [];
  /** The check re-added under this name while this run was under way: it runs after this one. */
  successor?: Entry;

  constructor(readonly check: ScheduledCheck) {}
}

/** The waiting entries that start together, and the one timer that starts them. */
interface Window {
  timer: unknown;
  entries: Set<Entry>;
}

export class CheckScheduler {
  private readonly time: CheckTime;
  private readonly maxConcurrent: number;
  private readonly entries = new Map<string, Entry>();
  /** The runs under way, by check name: one per name at most, across a remove and an add too. */
  private readonly running = new Map<string, Entry>();
  /** Due checks waiting for a slot: urgent first, then by due time, then first come. */
  private queue: Entry[] = [];
  private nextSeq = 0;
  private stopped = false;
  private skipped = 0;
  private started = 0;
  private readonly lags = new Float64Array(LAG_SAMPLES);
  private lagCount = 0;
  /** Waiting entries by the start of their window (monotonic ms). */
  private readonly windows = new Map<number, Window>();
  private readonly startWindowMs: number;
  /** Starts in this turn of the event loop; a pump is due in the next one when set. */
  private startsThisTurn = 0;
  private pumpDue = false;

  constructor(private readonly options: CheckSchedulerOptions) {
    this.time = options.time ?? SYSTEM_CHECK_TIME;
    if (!Number.isInteger(options.maxConcurrent) || options.maxConcurrent < 1) {
      throw new Error(
        `the checks' concurrency must be a whole number of 1 or more, not ${options.maxConcurrent}`,
      );
    }
    this.maxConcurrent = options.maxConcurrent;
    const window = options.startWindowMs ?? 0;
    if (!(window >= 0 && Number.isFinite(window))) {
      throw new Error(`the checks' start window must be 0 ms or more, not ${window}`);
    }
    this.startWindowMs = window;
  }

  /**
   * Schedules a check: its first run falls at its offset inside its interval, on the wall clock's
   * grid of that interval, so checks added at different times (a reload) stay spread too.
   */
  add(check: ScheduledCheck): void {
    if (this.stopped) return; // the agent is stopping: a late reload adds nothing
    if (this.entries.has(check.name)) throw new Error(`check ${check.name} is already scheduled`);
    if (!(check.intervalMs > 0 && Number.isFinite(check.intervalMs))) {
      throw new Error(
        `check ${check.name}: the interval must be a positive number of ms, not ${check.intervalMs}`,
      );
    }
    const entry = new Entry(check);
    this.entries.set(check.name, entry);
    const offsetMs = checkOffsetMs(check.name, check.intervalMs, this.options.phaseSeed);
    const delayMs = positiveModulo(offsetMs - this.time.now(), check.intervalMs);
    this.arm(entry, this.time.monotonicNow() + delayMs, check.intervalMs);
  }

  /** No further runs of the check; a run under way finishes. */
  remove(name: string): void {
    const entry = this.entries.get(name);
    if (!entry) return;
    this.entries.delete(name);
    this.retire(entry, new Error(`check ${name} was removed before it ran`));
  }

  /**
   * Runs the check as soon as a slot is free, before every other check in line, and resolves when
   * that run ends. If a run is under way, the run this waits for is the next one, which starts when
   * the current one ends: never two at once, and never an answer from a run started before the ask.
   */
  runNow(name: string): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) return Promise.reject(new Error(`no check named ${name} is scheduled`));
    return new Promise<void>((resolve, reject) => {
      entry.waiting.push({ resolve, reject });
      if (entry.phase === 'waiting') {
        this.disarm(entry);
        entry.dueMono = Math.min(entry.dueMono, this.time.monotonicNow());
        this.enqueue(entry, true);
      } else if (entry.phase === 'queued' && !entry.urgent) {
        this.dequeue(entry);
        this.enqueue(entry, true);
      } else if (entry.phase === 'running' || entry.phase === 'blocked') {
        entry.rerun = true;
      }
      this.pump();
    });
  }

  /** When the check runs next (ms since the epoch); undefined while it runs, or when unknown. */
  nextRunAt(name: string): number | undefined {
    const entry = this.entries.get(name);
    if (!entry || (entry.phase !== 'waiting' && entry.phase !== 'queued')) return undefined;
    return this.time.now() + (entry.dueMono - this.time.monotonicNow());
  }

  stats(): CheckSchedulerStats {
    const count = Math.min(this.lagCount, LAG_SAMPLES);
    const sorted = this.lags.slice(0, count).sort();
    return {
      running: this.running.size,
      queued: this.queue.length,
      lagP50Ms: nearestRank(sorted, 0.5),
      lagP99Ms: nearestRank(sorted, 0.99),
      skipped: this.skipped,
      started: this.started,
    };
  }

  /** No further runs of any check; the runs under way finish. */
  stop(): void {
    this.stopped = true;
    for (const entry of this.entries.values()) this.retire(entry, new Error('the checks scheduler stopped'));
    this.entries.clear();
    this.queue = [];
  }

  /** The entry waits for its due time (`delayMs` after its previous one, or its first). */
  private arm(entry: Entry, dueMono: number, delayMs: number): void {
    entry.phase = 'waiting';
    entry.dueMono = dueMono;
    const width = windowWidth(this.startWindowMs, delayMs);
    // Windows of every width lie on one grid (widths are the whole window halved k times), so
    // checks of different intervals whose windows start in the same instant share them too.
    // checks of different intervals whose windows start in the same instant share them too. On
    // whole ms: a window of 62.5 ms starts at 0, 62, 125, ...
    const start = width > 0 ? Math.floor(Math.floor(dueMono / width) * width) : dueMono;
    entry.windowStart = start;
    const existing = this.windows.get(start);
    if (existing) {
      existing.entries.add(entry);
      return;
    }
    const window: Window = { timer: undefined, entries: new Set([entry]) };
    this.windows.set(start, window);
    window.timer = this.time.timers.setTimeout(
      () => this.open(start, window),
      Math.max(0, start - this.time.monotonicNow()),
      true,
    );
  }

  /** A window's time came: its entries are due (in due order) and line up for slots. */
  private open(start: number, window: Window): void {
    if (this.windows.get(start) === window) this.windows.delete(start);
    const entries = [...window.entries].sort((a, b) => a.dueMono - b.dueMono);
    for (const entry of entries) {
      entry.windowStart = undefined;
      this.enqueue(entry, false);
    }
    this.pump();
  }

  /** The entry leaves its window (run now, removed); an empty window's timer goes. */
  private disarm(entry: Entry): void {
    const start = entry.windowStart;
    if (start === undefined) return;
    entry.windowStart = undefined;
    const window = this.windows.get(start);
    if (!window) return;
    window.entries.delete(entry);
    if (window.entries.size > 0) return;
    this.time.timers.clearTimeout(window.timer);
    this.windows.delete(start);
  }

  private enqueue(entry: Entry, urgent: boolean): void {
    entry.phase = 'queued';
    entry.urgent = urgent;
    entry.seq = this.nextSeq++;
    // Binary search for the first entry that runs after this one; timers fire in due order, so
    // this is nearly always the end of the line.
    let low = 0;
    let high = this.queue.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (runsBefore(this.queue[middle] as Entry, entry)) low = middle + 1;
      else high = middle;
    }
    this.queue.splice(low, 0, entry);
  }

  private dequeue(entry: Entry): void {
    const index = this.queue.indexOf(entry);
    if (index >= 0) this.queue.splice(index, 1);
  }

  /** Starts runs while slots are free, a slice per turn of the event loop. */
  private pump(): void {
    while (this.running.size < this.maxConcurrent) {
      if (this.startsThisTurn >= STARTS_PER_TURN) {
        this.pumpLater();
        return;
      }
      const entry = this.queue.shift();
      if (!entry) return;
      const previous = this.running.get(entry.check.name);
      if (previous) {
        // The check was removed and added again while its old run still runs: wait for its end.
        entry.phase = 'blocked';
        previous.successor = entry;
        continue;
      }
      this.start(entry);
    }
  }

  /** The rest of a burst starts in the next turn, after the I/O that waited behind this one. */
  private pumpLater(): void {
    if (this.pumpDue) return;
    this.pumpDue = true;
    this.time.timers.setImmediate(() => {
      this.pumpDue = false;
      this.startsThisTurn = 0;
      if (!this.stopped) this.pump();
    });
  }

  private start(entry: Entry): void {
    const { name } = entry.check;
    if (this.startsThisTurn++ === 0) this.pumpLater();
    entry.phase = 'running';
    this.running.set(name, entry);
    const lagMs = Math.max(0, this.time.monotonicNow() - entry.dueMono);
    this.lags[this.lagCount++ % LAG_SAMPLES] = lagMs;
    this.started++;
    this.options.onLag?.(name, lagMs);
    entry.riding = entry.waiting;
    entry.waiting = [];
    // Called at once; an async wrapper turns a synchronous throw into a rejection like any other.
    const run = (async () => entry.check.run())();
    void run.then(
      () => this.finish(entry),
      (error: unknown) => {
        this.options.onRunError?.(name, error);
        this.finish(entry);
      },
    );
  }

  private finish(entry: Entry): void {
    if (this.running.get(entry.check.name) === entry) this.running.delete(entry.check.name);
    const endMono = this.time.monotonicNow();
    for (const waiter of entry.riding) waiter.resolve();
    entry.riding = [];
    if (entry.phase === 'running') this.scheduleNext(entry, endMono);
    const successor = entry.successor;
    entry.successor = undefined;
    if (successor?.phase === 'blocked') this.scheduleNext(successor, endMono);
    this.pump();
  }

  /**
   * After a run (or the run it waited for) ended: again at once if runNow asked during it, else
   * one delay after it fell due, which keeps the check on its offset. A due that passed while the
   * run was under way is skipped, and the next one falls a delay after the end instead.
   */
  private scheduleNext(entry: Entry, endMono: number): void {
    if (entry.rerun) {
      entry.rerun = false;
      entry.dueMono = endMono;
      this.enqueue(entry, true);
      return;
    }
    const delayMs = nextDelay(entry.check);
    let dueMono = entry.dueMono + delayMs;
    if (dueMono <= endMono) {
      this.skipped++;
      dueMono = endMono + delayMs;
    }
    this.arm(entry, dueMono, delayMs);
  }

  /** No further runs of the entry; its runNow callers learn why. */
  private retire(entry: Entry, reason: Error): void {
    this.disarm(entry);
    if (entry.phase === 'queued') this.dequeue(entry);
    entry.phase = 'removed';
    entry.rerun = false;
    for (const waiter of entry.waiting) waiter.reject(reason);
    entry.waiting = [];
  }
}

/**
 * The width of the windows a run with this delay starts in: the whole window, halved until it is
 * at most EARLY_SHARE of the delay (0: no window).
 */
function windowWidth(windowMs: number, delayMs: number): number {
  if (windowMs <= 0) return 0;
  let width = windowMs;
  while (width > delayMs * EARLY_SHARE && width >= 1) width /= 2;
  return width >= 1 ? width : 0;
}

/** Whether `a` runs before `b` in the line. */
function runsBefore(a: Entry, b: Entry): boolean {
  if (a.urgent !== b.urgent) return a.urgent;
  if (a.dueMono !== b.dueMono) return a.dueMono < b.dueMono;
  return a.seq < b.seq;
}

/** The check's next delay, or its interval when it gives no usable one (a check never spins). */
function nextDelay(check: ScheduledCheck): number {
  let delayMs: number;
  try {
    delayMs = check.nextDelayMs();
  } catch {
    delayMs = Number.NaN;
  }
  return delayMs > 0 && Number.isFinite(delayMs) ? delayMs : check.intervalMs;
}

function positiveModulo(value: number, modulus: number): number {
  return ((value % modulus) + modulus) % modulus;
}

/** The nearest-rank percentile of sorted values; 0 without any. */
function nearestRank(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)] ?? 0;
}
