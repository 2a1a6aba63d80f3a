// One configured collector over the agent's life: runs its plugin every interval, one run at a
// time, each run bounded by a timeout, and keeps what operators and the evaluator read: the state,
// the last error, the last good data.
import type { CollectedData, CollectorInstance, HostPaths } from './collector.js';

export type CollectorState = 'PENDING' | 'OK' | 'ERROR' | 'NOT-ELIGIBLE';

export interface CollectorStatus {
  name: string;
  type: string;
  pack?: string;
  source: string;
  interval_s: number;
  timeout_s: number;
  if_group?: string;
  state: CollectorState;
  /** Why ERROR or NOT-ELIGIBLE. */
  message?: string;
  last_run_at?: string;
  /** Wall time of the last run. */
  last_duration_ms?: number;
  runs: number;
  errors: number;
}

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
  /** Called after every successful run, with the data. */
  onData: (name: string, data: CollectedData, at: Date) => void;
  /** Called after every run (success or not), e.g. to learn that the first pass is done. */
  onRun: () => void;
  /**
   * Where in each interval this agent's runs fall, 0-1: one value for every collector of the agent
   * (so collectors of one interval wake together), random per agent (so a cluster of agents with
   * synchronised clocks does not collect, and later report, in the same instant).
   */
  phase: number;
  /** Called when the state changes (OK -> ERROR ...): logged once, not at every failing run. */
  onStateChange?: (status: CollectorStatus) => void;
}

export class ScheduledCollector {
  private state: CollectorState = 'PENDING';
  private message?: string;
  private data?: CollectedData;
  private lastRunAt?: Date;
  private lastDurationMs?: number;
  private runs = 0;
  private errors = 0;
  private timer?: NodeJS.Timeout;
  /** The plugin's collect() in flight; one that hangs keeps it set, and later ticks are skipped, not stacked. */
  private inFlight?: Promise<CollectedData>;
  private inFlightSince = 0;
  private abort?: AbortController;
  private active = false;
  private stopped = false;

  constructor(private readonly options: ScheduledCollectorOptions) {}

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
      this.schedule(0);
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
      last_run_at: this.lastRunAt?.toISOString(),
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
    clearTimeout(this.timer);
    this.abort?.abort(new Error('collector deactivated'));
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), delayMs);
    this.timer.unref();
  }

  private tick(): void {
    if (!this.active) return;
    this.schedule(nextGridDelay(this.options.intervalMs, this.options.phase));
    if (this.inFlight) {
      // A run still inside its timeout (the first interval on the wall-clock grid can be short)
      // reports for itself; one past its timeout ignored the abort and is reported here.
      if (performance.now() - this.inFlightSince > this.options.timeoutMs)
        this.fail('the previous run is still hanging (it ignored its timeout): skipped', false);
      return;
    }
    void this.runOnce();
  }

  private async runOnce(): Promise<void> {
    const { options } = this;
    const abort = new AbortController();
    this.abort = abort;
    const startedAt = performance.now();
    let timeout: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timeout = setTimeout(() => {
        const error = new Error(`timed out after ${options.timeoutMs / 1000} s`);
        abort.abort(error);
        reject(error);
      }, options.timeoutMs);
    });
    const collecting = Promise.resolve().then(() =>
      options.instance.collect({ paths: options.paths, signal: abort.signal, timeoutMs: options.timeoutMs }),
    );
    this.inFlight = collecting;
    this.inFlightSince = startedAt;
    void collecting
      .catch(() => undefined)
      .finally(() => {
        if (this.inFlight === collecting) this.inFlight = undefined;
      });
    try {
      // The race isolates the schedule from a plugin that ignores the abort signal and never settles.
      const data = await Promise.race([collecting, timedOut]);
      if (!this.active) return;
      this.data = data;
      this.setState('OK');
      options.onData(options.name, data, new Date());
    } catch (error) {
      if (this.active) this.fail(error instanceof Error ? error.message : String(error), true);
    } finally {
      clearTimeout(timeout);
      this.lastDurationMs = round(performance.now() - startedAt);
      this.lastRunAt = new Date();
      this.runs++;
      options.onRun();
    }
  }

  private fail(message: string, counted: boolean): void {
    if (counted) this.errors++;
    this.setState('ERROR', message);
  }

  private setState(state: CollectorState, message?: string): void {
    const changed = state !== this.state;
    this.state = state;
    this.message = message;
    if (changed) this.options.onStateChange?.(this.status());
  }
}

/**
 * The delay to the next point of the interval's grid on the wall clock, shifted by the agent's
 * phase. Collectors of the same interval then fire in the same turn of the event loop: one
 * wake-up every 10 s instead of one per collector.
 */
export function nextGridDelay(intervalMs: number, phase: number, now = Date.now()): number {
  const offsetMs = Math.floor(phase * intervalMs);
  return intervalMs - ((now - offsetMs) % intervalMs) || intervalMs;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
