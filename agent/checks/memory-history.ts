// CheckHistory in memory, bounded: for tests, and for an agent without a store. Nothing survives
// the process; level-history.ts (agent/store) is the durable one.
import type { CheckResultRecord, CheckStateChange, CheckStatus } from '../shared/api-types.js';
import {
  type CheckHistory,
  DEFAULT_CHANGES_PER_CHECK,
  DEFAULT_RESULTS_PER_CHECK,
  type StatusSource,
  statusOf,
} from './history.js';

export interface MemoryHistoryOptions {
  /** Results kept per check (the oldest go first). */
  resultsPerCheck?: number;
  /** State changes kept per check. */
  changesPerCheck?: number;
}

/** Newest last; trimmed from the front past `limit`. */
function append<T>(list: T[], item: T, limit: number): void {
  list.push(item);
  if (list.length > limit) list.splice(0, list.length - limit);
}

/** The last `limit` items, newest first. */
function newestFirst<T>(list: readonly T[] | undefined, limit: number): T[] {
  return (list ?? []).slice(-Math.max(0, limit)).reverse();
}

export class MemoryCheckHistory implements CheckHistory {
  private readonly results = new Map<string, CheckResultRecord[]>();
  private readonly changesByCheck = new Map<string, CheckStateChange[]>();
  private readonly statuses = new Map<string, CheckStatus>();
  private readonly resultsPerCheck: number;
  private readonly changesPerCheck: number;

  constructor(options: MemoryHistoryOptions = {}) {
    this.resultsPerCheck = options.resultsPerCheck ?? DEFAULT_RESULTS_PER_CHECK;
    this.changesPerCheck = options.changesPerCheck ?? DEFAULT_CHANGES_PER_CHECK;
  }

  addResult(check: string, result: CheckResultRecord, status: StatusSource): Promise<void> {
    let ring = this.results.get(check);
    if (!ring) this.results.set(check, (ring = []));
    append(ring, structuredClone(result), this.resultsPerCheck);
    this.statuses.set(check, structuredClone(statusOf(status)));
    return Promise.resolve();
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  addChange(change: CheckStateChange): Promise<void> {
    let changes = this.changesByCheck.get(change.check);
    if (!changes) this.changesByCheck.set(change.check, (changes = []));
    append(changes, structuredClone(change), this.changesPerCheck);
    return Promise.resolve();
  }

  recentResults(check: string, limit: number): Promise<CheckResultRecord[]> {
    return Promise.resolve(structuredClone(newestFirst(this.results.get(check), limit)));
  }

  changes(check: string, limit: number): Promise<CheckStateChange[]> {
    return Promise.resolve(structuredClone(newestFirst(this.changesByCheck.get(check), limit)));
  }

  lastStatuses(): Promise<Map<string, CheckStatus>> {
    return Promise.resolve(structuredClone(this.statuses));
  }

  forget(checks: string[]): Promise<void> {
    for (const check of checks) {
      this.results.delete(check);
      this.changesByCheck.delete(check);
      this.statuses.delete(check);
    }
    return Promise.resolve();
  }
}
