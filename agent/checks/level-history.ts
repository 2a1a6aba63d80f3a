// The check history the agent keeps (CheckHistory) on the store's 'checks' namespace:
//   status/<check>        the check's latest CheckStatus: where it resumes after a restart
//   result/<check>/<n>    its recent results, a ring of the newest `resultsPerCheck`
//   change/<check>/<n>    its state changes, the newest `changesPerCheck`
// (<check> percent-encoded, <n> a 16-digit sequence number: agent/store/keys.ts).
//
// Writes go in groups: results gather for up to `groupMs` and are written in one batch, so that a
// thousand results cost one LevelDB write, not a thousand (each a hand-off to LevelDB's thread and
// a wake-up of the agent on its completion). A check's status (~30 fields, built for the write)
// goes with a result at most once per `statusEveryMs` and with every change of state: at 1,000
// runs a second the history's writes were a third of an http check's cost (docs/benchmarks.md),
// and the status is the part a result does not need. A state change is written at once, with every
// result gathered so far, in a batch that is fsync'd: a crash, even a power cut, right after a
// change keeps it and the status it leads to. A SIGKILL loses at most the last `groupMs` of
// results, never a change; a status older than its check's newest result is brought up to that
// result when read back (state, attempt, output: lastStatuses), so what a SIGKILL can lose of a
// status is the counters and flap window of the last `statusEveryMs`. Reads write what is gathered
// first. One group is written at a time, in order (LevelDB may apply two batches sent together in
// either order, and a later status must not be overwritten by an earlier one); each check's
// appends are planned one at a time (KeyedSerial), the ring's span moving as they are planned.
import {
  BoundedLogs,
  KeyedSerial,
  keyOf,
  type LogWritePlan,
  type Namespace,
  partsOf,
  prefixOf,
  type Store,
  type WriteOp,
} from '../store/index.js';
import type { CheckResultRecord, CheckStateChange, CheckStatus } from '../shared/api-types.js';
import { SYSTEM_TIMERS, type Timers } from '../shared/timers.js';
import {
  type AddResultOptions,
  type CheckHistory,
  DEFAULT_CHANGES_PER_CHECK,
  DEFAULT_RESULTS_PER_CHECK,
  type StatusSource,
  statusOf,
} from './history.js';

/** The store namespace of the check history. */
export const CHECKS_NAMESPACE = 'checks';

export interface LevelHistoryOptions {
  /** Results kept per check, newest first (default 100). */
  resultsPerCheck?: number;
  /** State changes kept per check (default 1,000). */
  changesPerCheck?: number;
  /** How long results gather before they are written (default 0: each at once). */
  groupMs?: number;
  /** A check's status is written with a result at most this often (default 0: with each). */
  statusEveryMs?: number;
  /** The timer of the group wait (tests drive it). */
  timers?: Timers;
  /** The clock of the status interval (ms; tests drive it). */
  now?: () => number;
}

/** Operations gathered to be written in one batch. */
class WriteGroup {
  readonly ops: WriteOp[] = [];
  readonly checks = new Set<string>();
  /** A change is in it: the batch is fsync'd. */
  sync = false;
  readonly written: Promise<void>;
  resolve!: () => void;
  reject!: (error: unknown) => void;

  constructor() {
    this.written = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Whoever waits on it sees the failure; a group nobody awaits must not be an unhandled one.
    this.written.catch(() => undefined);
  }
}

const STATUS = 'status';

export class LevelCheckHistory implements CheckHistory {
  private readonly results: BoundedLogs;
  private readonly changeLogs: BoundedLogs;
  private readonly serial = new KeyedSerial();
  private readonly groupMs: number;
  private readonly statusEveryMs: number;
  private readonly timers: Timers;
  private readonly now: () => number;
  /** When each check's status was last gathered to be written. */
  private readonly statusGatheredAt = new Map<string, number>();
  /** Statuses newer than the one written, written at flush() or with a later result. */
  private readonly unwrittenStatuses = new Map<string, StatusSource>();
  /** Gathering, not yet written. */
  private pending: WriteGroup | undefined;
  private groupTimer: unknown;
  /** The group being written, or the last one: the next waits for it. */
  private lastWrite: Promise<void> = Promise.resolve();
  /** Writes asked for and still being planned (reading a ring's span). */
  private readonly planning = new Set<Promise<WriteGroup>>();

  constructor(
    private readonly namespace: Namespace,
    options: LevelHistoryOptions = {},
  ) {
    this.results = new BoundedLogs(namespace, 'result', options.resultsPerCheck ?? DEFAULT_RESULTS_PER_CHECK);
    this.changeLogs = new BoundedLogs(
      namespace,
      'change',
      options.changesPerCheck ?? DEFAULT_CHANGES_PER_CHECK,
    );
    this.groupMs = options.groupMs ?? 0;
    this.statusEveryMs = options.statusEveryMs ?? 0;
    this.timers = options.timers ?? SYSTEM_TIMERS;
    this.now = options.now ?? Date.now;
  }

  /** The history in `store`'s 'checks' namespace. */
  static on(store: Store, options: LevelHistoryOptions = {}): LevelCheckHistory {
    return new LevelCheckHistory(store.sublevel(CHECKS_NAMESPACE), options);
  }

  addResult(
    check: string,
    result: CheckResultRecord,
    status: StatusSource,
    options: AddResultOptions = {},
  ): Promise<void> {
    const statusOps = this.statusOpsFor(check, status, options.statusNow ?? false);
    // The usual case, planned in this turn: the ring's span is known and nothing is queued for it.
    const plan = this.serial.isIdle(check) ? this.results.planAppendNow(check, result) : undefined;
    if (plan) return this.afterGathered(this.gather(check, [plan], statusOps));
    // The check's first write (its ring's span is read first), or one queued behind another.
    return this.planned(
      this.serial.run(check, async () => {
        const planned = await this.results.planAppend(check, result);
        return this.gather(check, [planned], statusOps);
      }),
    ).then((group) => this.afterGathered(group));
  }

  /** The status put to write with a result now, or none (the status is kept for later). */
  private statusOpsFor(check: string, status: StatusSource, statusNow: boolean): WriteOp[] {
    const now = this.now();
    const gatheredAt = this.statusGatheredAt.get(check);
    if (
      !statusNow &&
      this.statusEveryMs > 0 &&
      gatheredAt !== undefined &&
      now - gatheredAt < this.statusEveryMs
    ) {
      this.unwrittenStatuses.set(check, status);
      return [];
    }
    this.unwrittenStatuses.delete(check);
    return [this.statusPut(check, status)];
  }

  /** The put of a check's status (built now), and when: the next one is due an interval later. */
  private statusPut(check: string, status: StatusSource): WriteOp {
    this.statusGatheredAt.set(check, this.now());
    return { type: 'put', key: keyOf(STATUS, check), value: statusOf(status) };
  }

  /** Starts the group's write (now, or after the group wait); resolves once it is written. */
  private afterGathered(group: WriteGroup): Promise<void> {
    if (this.groupMs <= 0) this.writePending();
    else this.groupTimer ??= this.timers.setTimeout(() => this.writePending(), this.groupMs, true);
    return group.written;
  }

  async addChange(change: CheckStateChange): Promise<void> {
    const group = await this.planned(
      this.serial.run(change.check, async () => {
        const plan = await this.changeLogs.planAppend(change.check, change);
        const gathered = this.gather(change.check, [plan], []);
        gathered.sync = true;
        return gathered;
      }),
    );
    this.writePending();
    return group.written;
  }

  async recentResults(check: string, limit: number): Promise<CheckResultRecord[]> {
    await this.writeGathered();
    return this.results.newest<CheckResultRecord>(check, limit);
  }

  async changes(check: string, limit: number): Promise<CheckStateChange[]> {
    await this.writeGathered();
    return this.changeLogs.newest<CheckStateChange>(check, limit);
  }

  /**
   * Every check's status, brought up to its newest result where that is newer (a status is not
   * written with every result; after a SIGKILL the ring may be ahead of it).
   */
  async lastStatuses(): Promise<Map<string, CheckStatus>> {
    await this.flush();
    const statuses = new Map<string, CheckStatus>();
    for await (const [key, status] of this.namespace.entries<CheckStatus>({ prefix: prefixOf(STATUS) })) {
      statuses.set(partsOf(key)[1]!, status);
    }
    for (const [check, status] of statuses) {
      const [newest] = await this.results.newest<CheckResultRecord>(check, 1);
      if (newest && (status.last_run_at === undefined || newest.at > status.last_run_at))
        statuses.set(check, withResult(status, newest));
    }
    return statuses;
  }

  async forget(checks: string[]): Promise<void> {
    for (const check of checks) {
      this.unwrittenStatuses.delete(check);
      this.statusGatheredAt.delete(check);
    }
    const groups = await Promise.all(
      checks.map((check) =>
        this.planned(
          this.serial.run(check, async () => {
            const plans = [await this.results.planClear(check), await this.changeLogs.planClear(check)];
            return this.gather(check, plans, [{ type: 'del', key: keyOf(STATUS, check) }]);
          }),
        ),
      ),
    );
    this.writePending();
    await Promise.all(groups.map((group) => group.written));
  }

  /** Writes the statuses not written yet and what is gathered; resolves once all of it is written. */
  async flush(): Promise<void> {
    await this.writeGathered(true);
  }

  /**
   * Writes what is gathered now (with the statuses not written yet, if `statuses`), once every
   * write asked for so far is (a first write of a check reads its ring's span first); resolves
   * once all of it is written (or failed).
   */
  private async writeGathered(statuses = false): Promise<void> {
    await Promise.all([...this.planning].map((planning) => planning.catch(() => undefined)));
    if (statuses && this.unwrittenStatuses.size > 0) {
      const group = (this.pending ??= new WriteGroup());
      for (const [check, status] of this.unwrittenStatuses) group.ops.push(this.statusPut(check, status));
      this.unwrittenStatuses.clear();
    }
    this.writePending();
    await this.lastWrite;
  }

  /** `planning`, tracked until it has gathered its operations (flush() waits for it). */
  private planned(planning: Promise<WriteGroup>): Promise<WriteGroup> {
    this.planning.add(planning);
    const done = (): void => {
      this.planning.delete(planning);
    };
    planning.then(done, done);
    return planning;
  }

  /**
   * Adds the plans' operations and `more` to the group being gathered. The logs' spans move now:
   * the next append of the check is planned after this one even before it is written. A group
   * that fails makes them read again from the store.
   */
  private gather(check: string, plans: LogWritePlan[], more: WriteOp[]): WriteGroup {
    const group = (this.pending ??= new WriteGroup());
    for (const plan of plans) group.ops.push(...plan.ops);
    group.ops.push(...more);
    group.checks.add(check);
    for (const plan of plans) plan.commit();
    return group;
  }

  /** Starts writing the gathered group, after the group written before it. */
  private writePending(): void {
    if (this.groupTimer !== undefined) {
      this.timers.clearTimeout(this.groupTimer);
      this.groupTimer = undefined;
    }
    const group = this.pending;
    if (!group) return;
    this.pending = undefined;
    this.lastWrite = this.lastWrite.then(async () => {
      try {
        await this.namespace.write(group.ops, { sync: group.sync });
        group.resolve();
      } catch (error) {
        // A failed fsync may still have put the batch in the log: read the spans again next time.
        for (const check of group.checks) {
          this.results.dropSpan(check);
          this.changeLogs.dropSpan(check);
        }
        group.reject(error);
      }
    });
  }
}

/** `status` as `result` (newer than it) left it: the result's state, attempt, output and time. */
function withResult(status: CheckStatus, result: CheckResultRecord): CheckStatus {
  const { long_output: _dropped, ...rest } = status;
  return {
    ...rest,
    state: result.state,
    state_type: result.state_type,
    attempt: result.attempt,
    output: result.output,
    ...(result.long_output !== undefined ? { long_output: result.long_output } : {}),
    perfdata: result.perfdata,
    duration_ms: result.duration_ms,
    last_run_at: result.at,
  };
}
