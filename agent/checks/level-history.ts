// The check history the agent keeps (CheckHistory) on the store's 'checks' namespace:
//   status/<check>        the check's latest CheckStatus: where it resumes after a restart
//   result/<check>/<n>    its recent results, a ring of the newest `resultsPerCheck`
//   change/<check>/<n>    its state changes, the newest `changesPerCheck`
// (<check> percent-encoded, <n> a 16-digit sequence number: agent/store/keys.ts). A result and the
// status it leads to are one batch, so after any crash the ring's newest entry and the status
// agree; a change is fsync'd, so even a power cut right after it keeps it. Each check's writes run
// one at a time, in order (KeyedSerial): LevelDB may apply two batches sent together in either
// order, and the ring's trimming needs its span to move one step at a time.
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
import type { CheckHistory } from './history.js';

/** The store namespace of the check history. */
export const CHECKS_NAMESPACE = 'checks';

export const DEFAULT_RESULTS_PER_CHECK = 100;
export const DEFAULT_CHANGES_PER_CHECK = 1_000;

export interface LevelHistoryOptions {
  /** Results kept per check, newest first (default 100). */
  resultsPerCheck?: number;
  /** State changes kept per check (default 1,000). */
  changesPerCheck?: number;
}

const STATUS = 'status';

export class LevelCheckHistory implements CheckHistory {
  private readonly results: BoundedLogs;
  private readonly changeLogs: BoundedLogs;
  private readonly serial = new KeyedSerial();

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
  }

  /** The history in `store`'s 'checks' namespace. */
  static on(store: Store, options: LevelHistoryOptions = {}): LevelCheckHistory {
    return new LevelCheckHistory(store.sublevel(CHECKS_NAMESPACE), options);
  }

  addResult(check: string, result: CheckResultRecord, status: CheckStatus): Promise<void> {
    return this.serial.run(check, async () => {
      const plan = await this.results.planAppend(check, result);
      await this.writePlans(
        check,
        [plan],
        [{ type: 'put', key: keyOf(STATUS, check), value: status }],
        false,
      );
    });
  }

  addChange(change: CheckStateChange): Promise<void> {
    return this.serial.run(change.check, async () => {
      const plan = await this.changeLogs.planAppend(change.check, change);
      await this.writePlans(change.check, [plan], [], true);
    });
  }

  recentResults(check: string, limit: number): Promise<CheckResultRecord[]> {
    return this.results.newest<CheckResultRecord>(check, limit);
  }

  changes(check: string, limit: number): Promise<CheckStateChange[]> {
    return this.changeLogs.newest<CheckStateChange>(check, limit);
  }

  async lastStatuses(): Promise<Map<string, CheckStatus>> {
    const statuses = new Map<string, CheckStatus>();
    for await (const [key, status] of this.namespace.entries<CheckStatus>({ prefix: prefixOf(STATUS) })) {
      statuses.set(partsOf(key)[1]!, status);
    }
    return statuses;
  }

  async forget(checks: string[]): Promise<void> {
    await Promise.all(
      checks.map((check) =>
        this.serial.run(check, async () => {
          const plans = [await this.results.planClear(check), await this.changeLogs.planClear(check)];
          await this.writePlans(check, plans, [{ type: 'del', key: keyOf(STATUS, check) }], false);
        }),
      ),
    );
  }

  /** Writes the plans' operations and `more` in one batch, then moves the logs' spans. */
  private async writePlans(
    check: string,
    plans: LogWritePlan[],
    more: WriteOp[],
    sync: boolean,
  ): Promise<void> {
    try {
      await this.namespace.write([...plans.flatMap((plan) => plan.ops), ...more], { sync });
    } catch (error) {
      // A failed fsync may still have put the batch in the log: read the spans again next time.
      this.results.dropSpan(check);
      this.changeLogs.dropSpan(check);
      throw error;
    }
    for (const plan of plans) plan.commit();
  }
}
