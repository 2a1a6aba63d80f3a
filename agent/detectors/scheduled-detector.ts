// One detector over the agent's life: evaluates its rule every interval and remembers which groups
// it grants. An evaluation error keeps the groups of the last good answer (a collector that fails
// once must not make the node flap out of its groups) and is shown to the operator.
import { GROUP_NAME } from '../config/index.js';
import { type EvaluationScope, isTruthy } from '../evaluator/index.js';
import { messageOf } from '../shared/errors.js';
import type { DetectorStatus } from '../shared/api-types.js';
import { SYSTEM_TIMERS, type Timers } from '../shared/timers.js';

/** What a detector needs from the evaluator (kept narrow so it is easy to see what it may do). */
export interface DetectorEvaluator {
  evaluate(expression: string, scope?: EvaluationScope): Promise<unknown>;
  renderTemplate(template: string, scope?: EvaluationScope): Promise<string>;
}

export interface ScheduledDetectorOptions {
  name: string;
  pack?: string;
  source: string;
  rule: string;
  groups: string[];
  intervalMs: number;
  scope: EvaluationScope;
  evaluator: DetectorEvaluator;
  /** After each run that changed the groups this detector grants. */
  onGroupsChanged: () => void;
  /** The interval's timer: Node's by default, the test's own in tests. */
  timers?: Timers;
  /** The wall clock of `last_run_at` (ms since the epoch): Date.now by default. */
  now?: () => number;
}

export class ScheduledDetector {
  private lastResult: boolean | null = null;
  private state: DetectorStatus['state'] = 'PENDING';
  private message?: string;
  private granted: string[] = [];
  private lastRunAt?: Date;
  private timer?: unknown;
  private stopped = false;

  constructor(private readonly options: ScheduledDetectorOptions) {}

  get groups(): readonly string[] {
    return this.granted;
  }

  /** Runs now; later runs follow every interval. */
  async start(): Promise<void> {
    await this.run();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) (this.options.timers ?? SYSTEM_TIMERS).clearTimeout(this.timer);
  }

  status(): DetectorStatus {
    const { options } = this;
    return {
      name: options.name,
      pack: options.pack,
      source: options.source,
      rule: options.rule,
      interval_s: options.intervalMs / 1000,
      last_result: this.lastResult,
      state: this.state,
      message: this.message,
      groups_added: [...this.granted],
      last_run_at: this.lastRunAt?.toISOString(),
    };
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = (this.options.timers ?? SYSTEM_TIMERS).setTimeout(
      () => void this.run().finally(() => this.schedule()),
      this.options.intervalMs,
      true,
    );
  }

  /** Never throws: every failure becomes the ERROR state with its message. */
  async run(): Promise<void> {
    const { options } = this;
    let granted = this.granted;
    try {
      const value = await options.evaluator.evaluate(options.rule, options.scope);
      this.lastResult = isTruthy(value);
      granted = this.lastResult ? await this.renderGroups() : [];
      this.state = 'OK';
      this.message = undefined;
    } catch (error) {
      this.state = 'ERROR';
      this.message = messageOf(error);
    }
    this.lastRunAt = new Date(this.options.now?.() ?? Date.now());
    if (this.stopped) return;
    const changed = granted.join('\0') !== this.granted.join('\0');
    this.granted = granted;
    if (changed) options.onGroupsChanged();
  }

  private async renderGroups(): Promise<string[]> {
    const groups: string[] = [];
    for (const template of this.options.groups) {
      const group = template.includes('{')
        ? (await this.options.evaluator.renderTemplate(template, this.options.scope)).trim()
        : template;
      if (!GROUP_NAME.test(group)) {
        throw new Error(
          `group ${JSON.stringify(group)} (from ${JSON.stringify(template)}) is not a valid group name`,
        );
      }
      if (!groups.includes(group)) groups.push(group);
    }
    return groups.sort();
  }
}
