// The one interface every collector plugin implements (one file per plugin, listed in registry.ts).
// A plugin knows how to read one thing (cpu counters, redis INFO, ...); the collectors subsystem
// schedules it, isolates each run with a timeout, keeps its state and flattens its numbers into metrics.

/** Nested JSON a collector returns; numeric leaves become metrics `<collector>.<path>`. */
export type CollectedValue =
  number | string | boolean | null | CollectedValue[] | { [key: string]: CollectedValue };
export type CollectedData = { [key: string]: CollectedValue };

/**
 * Where the host's files are. Default `/`, `/proc`, `/sys`; tests and containers (host mounted at
 * /host) point them elsewhere. Plugins never hard-code /proc or /etc.
 */
export interface HostPaths {
  root: string;
  proc: string;
  sys: string;
}

/** What one run gets. */
export interface CollectContext {
  paths: HostPaths;
  /** Aborted when the run times out or the agent stops: pass it to sockets and fetch. */
  signal: AbortSignal;
  /** The run's timeout, for plugins that set socket timeouts of their own. */
  timeoutMs: number;
}

/** One configured collector: made by its type's create(), kept for the agent's life (it may keep state for rates). */
export interface CollectorInstance {
  /**
   * Whether this host can run it at all (e.g. /proc/diskstats exists): undefined when it can,
   * else the reason shown as NOT-ELIGIBLE. Group gating (`if_group`) is the definition's, not the plugin's.
   */
  notEligibleReason?(paths: HostPaths): string | undefined;
  /**
   * One collection. Rates (per second) are computed against the previous run kept in the instance;
   * the first run reports rates since boot (counters / uptime), so every key exists from the first run.
   * Throws (or rejects) with an operator-readable message on failure.
   *
   * A collector that only reads /proc answers synchronously: the scheduler then runs it inline, with
   * no timeout timer, abort controller nor promise (a timeout cannot interrupt synchronous code
   * anyway, and that machinery was a sixth of the collectors' CPU: docs/benchmarks.md). One that waits on
   * sockets, the thread pool or child processes returns a promise and gets the timeout.
   */
  collect(context: CollectContext): CollectedData | Promise<CollectedData>;
  /** Releases sockets/clients held between runs (application collectors). */
  close?(): Promise<void>;
}

/** A collector type: `type:` in a `collector:` definition names it. */
export interface CollectorType {
  /** e.g. 'cpustats', 'redis'. Also the default collector name. */
  readonly type: string;
  /** One line for `opsbro collectors list`. */
  readonly description: string;
  /** Settings the type understands, with their defaults (merged under the definition's `settings:`). */
  readonly defaultSettings: Readonly<Record<string, string | number | boolean>>;
  create(settings: Readonly<Record<string, string | number | boolean>>): CollectorInstance;
}
