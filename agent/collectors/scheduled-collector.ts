// One configured collector over the agent's life: runs its plugin every interval, one run at a
// time, each run bounded by a timeout, and keeps what operators and the evaluator read: the state,
// the last error, the last good data.
import type { CollectContext, CollectedData, CollectorInstance, HostPaths } from './collector.js';
import type { CollectorTime, IntervalClock } from './interval-clock.js';
import { messageOf } from '../shared/errors.js';
import type { CollectorState, CollectorStatus } from '../shared/api-types.js';

export interface ScheduledCollectorOptions {
  name: string;
  type: string;
  pack?: string;
  source: string;
  intervalMs: number;
  timeoutMs: number;
  ifGroup?: string;
  instance: CollectorInstance;
  paths: HostPaths;
  /** Called after every successful run, with the data and the time (ms since the epoch). */
  onData: (name: string, data: CollectedData, atMs: number) => void;
  /** Called after every run (success or not), e.g. to learn that the first pass is done. */
  onRun: () => void;
  /** The agent's beats: every collector of one interval runs at the same beat. Its time is ours too. */
  clock: IntervalClock;
  /** Called when the state changes (OK -> ERROR ...): logged once, not at every failing run. */
  onStateChange?: (status: CollectorStatus) => void;
}

/**
 * What one run gets. The AbortController is made only when the plugin reads `signal` (those that
 * use sockets) or the run is aborted: the synchronous /proc collectors never need one.
 */
class RunContext implements CollectContext {
  private controller?: AbortController;

  constructor(
    readonly paths: HostPaths,
    readonly timeoutMs: number,
  ) {}

  get signal(): AbortSignal {
    return (this.controller ??= new AbortController()).signal;
  }

  abort(reason: Error): void {
    (this.controller ??= new AbortController()).abort(reason);
  }
}

/** The longest error message kept (and shown) for a collector. */
const MAX_MESSAGE_CHARS = 500;

export class ScheduledCollector {
  private state: CollectorState = 'PENDING';
  private message?: string;
  private data?: CollectedData;
  private lastRunAtMs?: number;
  private lastDurationMs?: number;
  private runs = 0;
  private errors = 0;
  /** The first run, right after activation; later runs follow the clock's beats. */
  private firstRun?: unknown;
  private unsubscribe?: () => void;
  /**
   * An asynchronous run until its plugin settles (its context is aborted if the collector is
   * deactivated meanwhile); one that hangs keeps it set, and later beats are skipped, not stacked.
   */
  private inFlight?: { run: RunContext; since: number };
  private active = false;
  private stopped = false;

  constructor(private readonly options: ScheduledCollectorOptions) {}

  private get time(): CollectorTime {
    return this.options.clock.time;
  }

  /** The last good data (kept through later errors: a stale value beats none, the state says ERROR). */
  lastData(): CollectedData | undefined {
    return this.data;
  }

  /** False while PENDING: the agent is initializing until every collector has run (or cannot). */
  get settled(): boolean {
    return this.state !== 'PENDING';
  }

  /** Starts or stops scheduling after the node's groups changed (or at start). */
  updateEligibility(groups: ReadonlySet<string>): void {
    if (this.stopped) return;
    const reason =
      this.options.instance.notEligibleReason?.(this.options.paths) ??
      (this.options.ifGroup && !groups.has(this.options.ifGroup)
        ? `this node is not in group ${this.options.ifGroup}`
        : undefined);
    if (reason) {
      this.deactivate();
      this.state = 'NOT-ELIGIBLE';
      this.message = reason;
      return;
    }
    if (!this.active) {
      this.active = true;
      this.state = 'PENDING';
      this.message = undefined;
      this.firstRun = this.time.timers.setTimeout(() => this.tick(), 0, true);
      this.unsubscribe = this.options.clock.subscribe(this.options.intervalMs, () => this.tick());
    }
  }

  status(): CollectorStatus {
    const { options } = this;
    return {
      name: options.name,
      type: options.type,
      pack: options.pack,
      source: options.source,
      interval_s: options.intervalMs / 1000,
      timeout_s: options.timeoutMs / 1000,
      if_group: options.ifGroup,
      state: this.state,
      message: this.message,
      last_run_at: this.lastRunAtMs === undefined ? undefined : new Date(this.lastRunAtMs).toISOString(),
      last_duration_ms: this.lastDurationMs,
      runs: this.runs,
      errors: this.errors,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.deactivate();
    await this.options.instance.close?.().catch(() => undefined);
  }

  private deactivate(): void {
    this.active = false;
    if (this.firstRun !== undefined) this.time.timers.clearTimeout(this.firstRun);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.inFlight?.run.abort(new Error('collector deactivated'));
  }

  private tick(): void {
    if (!this.active) return;
    if (this.inFlight) {
      // A run still inside its timeout (the first interval on the wall-clock grid can be short)
      // reports for itself; one past its timeout ignored the abort and is reported here.
      if (this.time.monotonicNow() - this.inFlight.since > this.options.timeoutMs)
        this.fail('the previous run is still hanging (it ignored its timeout): skipped', false);
      return;
    }
    this.runOnce();
  }

  private runOnce(): void {
    const { options } = this;
    const run = new RunContext(options.paths, options.timeoutMs);
    const startedAt = this.time.monotonicNow();
    let answer: CollectedData | PromiseLike<CollectedData>;
    try {
      answer = options.instance.collect(run);
    } catch (error) {
      this.finish(startedAt, false, error);
      return;
    }
    if (isPromiseLike(answer)) void this.awaitRun(run, Promise.resolve(answer), startedAt);
    else this.finish(startedAt, true, answer);
  }

  /** An asynchronous run: bounded by the timeout, which aborts the run's signal. */
  private async awaitRun(
    run: RunContext,
    collecting: Promise<CollectedData>,
    startedAt: number,
  ): Promise<void> {
    const { timeoutMs } = this.options;
    let timeout: unknown;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timeout = this.time.timers.setTimeout(() => {
        const error = new Error(`timed out after ${timeoutMs / 1000} s`);
        // Rejected before the abort: a plugin that rejects on abort must not win the race with "aborted".
        reject(error);
        run.abort(error);
      }, timeoutMs);
    });
    const inFlight = { run, since: startedAt };
    this.inFlight = inFlight;
    void collecting
      .catch(() => undefined)
      .finally(() => {
        if (this.inFlight === inFlight) this.inFlight = undefined;
      });
    try {
      // The race isolates the schedule from a plugin that ignores the abort signal and never settles.
      this.finish(startedAt, true, await Promise.race([collecting, timedOut]));
    } catch (error) {
      this.finish(startedAt, false, error);
    } finally {
      this.time.timers.clearTimeout(timeout);
    }
  }

  /** Records a run's outcome: its data (ok) or the error it threw. */
  private finish(startedAt: number, ok: boolean, outcome: unknown): void {
    const { options } = this;
    const now = this.time.now();
    if (this.active) {
      if (ok) {
        this.data = outcome as CollectedData;
        this.setState('OK');
        // A subscriber that throws must not stop the other collectors of this beat (same turn).
        try {
          options.onData(options.name, this.data, now);
        } catch (error) {
          this.fail(`its data could not be published: ${messageOf(error)}`, true);
        }
      } else this.fail(messageOf(outcome), true);
    }
    this.lastDurationMs = round(this.time.monotonicNow() - startedAt);
    this.lastRunAtMs = now;
    this.runs++;
    options.onRun();
  }

  private fail(message: string, counted: boolean): void {
    if (counted) this.errors++;
    // A plugin's message may carry what a server sent: the API and the log get its first 500 characters.
    this.setState(
      'ERROR',
      message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS)}…` : message,
    );
  }

  private setState(state: CollectorState, message?: string): void {
    const changed = state !== this.state;
    this.state = state;
    this.message = message;
    if (changed) this.options.onStateChange?.(this.status());
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<CollectedData> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
