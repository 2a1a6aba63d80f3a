// The check history the agent keeps (CheckHistory) on the store's 'checks' namespace:
//   status/<check>        the check's latest CheckStatus: where it resumes after a restart
//   result/<check>/<n>    its recent results, a ring of the newest `resultsPerCheck`
//   change/<check>/<n>    its state changes, the newest `changesPerCheck`
// (<check> percent-encoded, <n> a 16-digit sequence number: agent/store/keys.ts).
//
// Writes go in groups: results (each with the status it leads to) gather for up to `groupMs` and
// are written in one batch, so that a thousand results cost one LevelDB write, not a thousand
// (each a hand-off to LevelDB's thread and a wake-up of the agent on its completion). A state
// change is written at once, with every result gathered so far, in a batch that is fsync'd: a
// crash, even a power cut, right after a change keeps it and the status it leads to. A SIGKILL
// loses at most the last `groupMs` of results, never a change. Reads write what is gathered
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
import { type CheckHistory, DEFAULT_CHANGES_PER_CHECK, DEFAULT_RESULTS_PER_CHECK } from './history.js';

/** The store namespace of the check history. */
export const CHECKS_NAMESPACE = 'checks';

export interface LevelHistoryOptions {
  /** Results kept per check, newest first (default 100). */
  resultsPerCheck?: number;
  /** State changes kept per check (default 1,000). */
  changesPerCheck?: number;
  /** How long results gather before they are written (default 0: each at once). */
  groupMs?: number;
  /** The timer of that wait (tests drive it). */
  timers?: Timers;
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
  private readonly timers: Timers;
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
    this.timers = options.timers ?? SYSTEM_TIMERS;
  }

  /** The history in `store`'s 'checks' namespace. */
  static on(store: Store, options: LevelHistoryOptions = {}): LevelCheckHistory {
    return new LevelCheckHistory(store.sublevel(CHECKS_NAMESPACE), options);
  }

  async addResult(check: string, result: CheckResultRecord, status: CheckStatus): Promise<void> {
    const group = await this.planned(
      this.serial.run(check, async () => {
        const plan = await this.results.planAppend(check, result);
        return this.gather(check, [plan], [{ type: 'put', key: keyOf(STATUS, check), value: status }]);
      }),
    );
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
    await this.flush();
    return this.results.newest<CheckResultRecord>(check, limit);
  }

  async changes(check: string, limit: number): Promise<CheckStateChange[]> {
    await this.flush();
    return this.changeLogs.newest<CheckStateChange>(check, limit);
  }

  async lastStatuses(): Promise<Map<string, CheckStatus>> {
    await this.flush();
    const statuses = new Map<string, CheckStatus>();
    for await (const [key, status] of this.namespace.entries<CheckStatus>({ prefix: prefixOf(STATUS) })) {
      statuses.set(partsOf(key)[1]!, status);
    }
    return statuses;
  }

  async forget(checks: string[]): Promise<void> {
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

  /**
   * Writes what is gathered now, once every write asked for so far is (a first write of a check
   * reads its ring's span first); resolves once all of it is written (or failed).
   */
  async flush(): Promise<void> {
    await Promise.all([...this.planning].map((planning) => planning.catch(() => undefined)));
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
