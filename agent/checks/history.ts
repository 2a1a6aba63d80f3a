// What the checks subsystem keeps of its past: every state change (soft and hard) and a bounded ring
// of recent results per check, in the data dir, through the one storage module (agent/store). The
// subsystem depends on this interface only; memory-history.ts serves tests and level-history.ts
// the agent.
import type { CheckResultRecord, CheckStateChange, CheckStatus } from '../shared/api-types.js';

/** Results and state changes kept per check unless told (checks.history_results / _changes). */
export const DEFAULT_RESULTS_PER_CHECK = 100;
export const DEFAULT_CHANGES_PER_CHECK = 1_000;

/** A check's status, or how to build it when it is written (building one per run costs). */
export type StatusSource = CheckStatus | (() => CheckStatus);

/** The status a source stands for (built now if it is a builder). */
export function statusOf(source: StatusSource): CheckStatus {
  return typeof source === 'function' ? source() : source;
}

export interface AddResultOptions {
  /** Keep the status with this result whatever the status interval (a change of state). */
  statusNow?: boolean;
}

export interface CheckHistory {
  /**
   * Appends one result to the check's ring (the oldest beyond `resultsPerCheck` go) and keeps
   * `status` as the check's latest, with it or later (the level history writes a check's status
   * at most once per status interval unless told `statusNow`; flush() writes the rest). Resolves
   * once the result is written (a write may gather other results first); the result then survives
   * a SIGKILL, and lastStatuses() takes the newest result's state, attempt and output over an
   * older status.
   */
  addResult(
    check: string,
    result: CheckResultRecord,
    status: StatusSource,
    options?: AddResultOptions,
  ): Promise<void>;
  /** Appends a state change; durable (fsync'd) once resolved: a crash right after it keeps it. */
  addChange(change: CheckStateChange): Promise<void>;
  /** The check's recent results, newest first. */
  recentResults(check: string, limit: number): Promise<CheckResultRecord[]>;
  /** The check's state changes, newest first. */
  changes(check: string, limit: number): Promise<CheckStateChange[]>;
  /** Every check's latest status, as addResult kept it: where each check resumes after a restart. */
  lastStatuses(): Promise<Map<string, CheckStatus>>;
  /** Drops what is kept of checks that are no longer defined (after a reload). */
  forget(checks: string[]): Promise<void>;
  /** Writes what is gathered and not written yet, statuses included (at stop); resolves once it is. */
  flush(): Promise<void>;
}
