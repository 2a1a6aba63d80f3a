// When to fetch a node's whole check table over the cluster RPC, and how often. A fetch is wanted
// when this node lacks a version it saw announced (a gap in the deltas, a newer version in a record
// or a push-pull); it waits a grace period first when the missing delta may still be on its way.
// Each node's table is fetched at most once per interval, a failed fetch is retried with backoff
// while that node is still behind and reachable, and only a few fetches run at once in all: a node
// joining a large cluster fetches every table, a few at a time.
import { SYSTEM_TIMERS, type Timers } from '../shared/timers.js';

export interface FetchPolicy {
  /** A delta may still arrive (a gap, a version seen elsewhere first): fetch only after this. */
  graceMs: number;
  /** Fetches of one node's table start at most this often. */
  minIntervalMs: number;
  /** After a failed fetch, the next comes this soon, doubling up to retryMaxMs. */
  retryFirstMs: number;
  retryMaxMs: number;
  /** Fetches in flight at once, to all nodes together. */
  maxConcurrent: number;
}

export const DEFAULT_FETCH_POLICY: FetchPolicy = {
  graceMs: 1000,
  minIntervalMs: 2000,
  retryFirstMs: 1000,
  retryMaxMs: 60_000,
  maxConcurrent: 4,
};

export interface TableFetcherOptions {
  policy?: Partial<FetchPolicy>;
  timers?: Timers;
  now?: () => number;
  /** Whether this node still lacks a version of `nodeId`'s table it saw announced (or any version). */
  behind: (nodeId: string) => boolean;
  /** Whether `nodeId` can be asked now (a member alive or suspect). */
  reachable: (nodeId: string) => boolean;
  /** One fetch from `nodeId` itself: rejects when it failed. */
  fetch: (nodeId: string) => Promise<void>;
  onFailure?: (nodeId: string, error: unknown, retryInMs: number) => void;
}

/** What the fetcher keeps per node (one per member at most: forget() drops it). */
interface NodeFetch {
  timer?: unknown;
  dueAt?: number;
  queued: boolean;
  inFlight: boolean;
  /** No fetch of this node starts before this (the interval, or the backoff after a failure). */
  notBefore: number;
  failures: number;
}

export interface FetcherStats {
  started: number;
  failed: number;
}

export class TableFetcher {
  readonly policy: FetchPolicy;
  readonly stats: FetcherStats = { started: 0, failed: 0 };
  private readonly nodes = new Map<string, NodeFetch>();
  /** Nodes due, waiting for one of the maxConcurrent slots. */
  private readonly queue: string[] = [];
  private running = 0;
  private stopped = false;
  private readonly timers: Timers;
  private readonly now: () => number;

  constructor(private readonly options: TableFetcherOptions) {
    this.policy = { ...DEFAULT_FETCH_POLICY, ...options.policy };
    this.timers = options.timers ?? SYSTEM_TIMERS;
    this.now = options.now ?? Date.now;
  }

  /** Fetches `nodeId`'s table after `delayMs` (or when its interval allows), unless caught up by then. */
  want(nodeId: string, delayMs: number): void {
    if (this.stopped) return;
    let state = this.nodes.get(nodeId);
    if (!state) {
      state = { queued: false, inFlight: false, notBefore: 0, failures: 0 };
      this.nodes.set(nodeId, state);
    }
    this.schedule(nodeId, state, delayMs);
  }

  /** Forgets `nodeId` (it left or was reaped): no fetch of it is pending any more. */
  forget(nodeId: string): void {
    const state = this.nodes.get(nodeId);
    if (!state) return;
    if (state.timer !== undefined) this.timers.clearTimeout(state.timer);
    this.nodes.delete(nodeId);
  }

  /** Nodes with a fetch pending or under way (for pruning and tests). */
  nodeIds(): string[] {
    return [...this.nodes.keys()];
  }

  stop(): void {
    this.stopped = true;
    for (const state of this.nodes.values())
      if (state.timer !== undefined) this.timers.clearTimeout(state.timer);
    this.nodes.clear();
    this.queue.length = 0;
  }

  private schedule(nodeId: string, state: NodeFetch, delayMs: number): void {
    // Running or about to: it looks again when done.
    if (state.inFlight || state.queued || this.stopped) return;
    const now = this.now();
    const dueAt = Math.max(now + delayMs, state.notBefore);
    if (state.timer !== undefined) {
      if (state.dueAt! <= dueAt) return;
      this.timers.clearTimeout(state.timer);
    }
    state.dueAt = dueAt;
    state.timer = this.timers.setTimeout(
      () => {
        state.timer = undefined;
        if (this.nodes.get(nodeId) !== state) return;
        state.queued = true;
        this.queue.push(nodeId);
        this.pump();
      },
      dueAt - now,
      true,
    );
  }

  private pump(): void {
    while (this.running < this.policy.maxConcurrent && this.queue.length) {
      const nodeId = this.queue.shift()!;
      const state = this.nodes.get(nodeId);
      if (!state) continue;
      state.queued = false;
      void this.run(nodeId, state);
    }
  }

  private async run(nodeId: string, state: NodeFetch): Promise<void> {
    // Gone or caught up meanwhile (a delta filled the gap): nothing to fetch. A later version
    // seen, or the member alive again, calls want() anew.
    if (!this.options.reachable(nodeId) || !this.options.behind(nodeId)) return;
    this.running++;
    state.inFlight = true;
    state.notBefore = this.now() + this.policy.minIntervalMs;
    this.stats.started++;
    try {
      await this.options.fetch(nodeId);
      state.failures = 0;
    } catch (error) {
      state.failures++;
      this.stats.failed++;
      const retryInMs = Math.min(
        this.policy.retryMaxMs,
        this.policy.retryFirstMs * 2 ** Math.min(state.failures - 1, 30),
      );
      state.notBefore = Math.max(state.notBefore, this.now() + retryInMs);
      if (!this.stopped) this.options.onFailure?.(nodeId, error, retryInMs);
    } finally {
      this.running--;
      state.inFlight = false;
      if (!this.stopped && this.nodes.get(nodeId) === state && this.options.behind(nodeId))
        this.schedule(nodeId, state, 0);
      this.pump();
    }
  }
}
