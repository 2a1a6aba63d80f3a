// One configured check over the agent's life: its settings from the definition, the runner its type
// made, its soft/hard state machine and its last result. What operators read of it (CheckStatus)
// and what the cluster reads (CheckBrief) are made here; the subsystem runs it and keeps history.
import type {
  CheckBrief,
  CheckCounters,
  CheckResultRecord,
  CheckState,
  CheckStatus,
} from '../shared/api-types.js';
import { CHECK_BRIEF_OUTPUT_BYTES } from '../shared/api-types.js';
import type { CheckResult, CheckRunner, CheckType } from './check-type.js';
import type { CheckTiming } from './definition.js';
import type { RunOn } from './placement.js';
import { cutToBytes } from '../shared/format.js';
import { CheckStateMachine, type MachineSnapshot, type Transition } from './state-machine.js';

/** A check's settings, as its definition gives them (defaults applied). */
export interface LiveCheckSettings {
  name: string;
  type: CheckType;
  timing: CheckTiming;
  maxAttempts: number;
  ifGroup?: string;
  /** Placed on the cluster (`run_on`): runs where rendezvous hashing puts it. */
  runOn?: RunOn;
  handlers: string[];
  displayName?: string;
  notes?: string;
  /** `file:line` of the definition. */
  source: string;
  pack?: string;
  /**
   * Everything the runner was made from (type, body, pack parameters), as one string: a reload
   * that leaves it equal leaves the check alone.
   */
  signature: string;
}

/** The last run: its result (output capped) and when it ran. */
export interface LastRun {
  result: CheckResult;
  /** ms since the epoch, when the run started. */
  at: number;
  durationMs: number;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const epochMs = (text: string | undefined) => {
  const ms = text === undefined ? NaN : Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
};

export class LiveCheck {
  readonly machine: CheckStateMachine;
  last?: LastRun;
  /** The last run as history keeps it (what `checks run` answers). */
  lastRecord?: CheckResultRecord;
  /** The next run was asked for by an operator (runNow): its runner is told to say more. */
  verboseNext = false;
  /** The run under way: aborted when the check is reconfigured, removed or the agent stops. */
  inFlight?: AbortController;
  /** Its results counted (skypunch's counters), restored after a restart. */
  readonly counters: CheckCounters;

  constructor(
    public settings: LiveCheckSettings,
    public runner: CheckRunner,
    /** The status kept in history before a restart: the check resumes from it. */
    restored?: CheckStatus,
  ) {
    this.machine = new CheckStateMachine(settings.maxAttempts, restored && snapshotOf(restored));
    // A status kept by an older version has no counters: they start at zero.
    this.counters = { ...zeroCounters(), ...restored?.counters };
    if (restored?.last_run_at !== undefined && restored.state !== 'pending') {
      this.last = {
        result: {
          state: restored.state,
          output: restored.output,
          longOutput: restored.long_output,
          perfdata: restored.perfdata,
          ...(restored.items ? { items: restored.items } : {}),
        },
        at: epochMs(restored.last_run_at) ?? 0,
        durationMs: restored.duration_ms ?? 0,
      };
    }
  }

  get name(): string {
    return this.settings.name;
  }

  /** The delay before the next run: the retry interval while a problem is soft (Nagios). */
  nextDelayMs(): number {
    return this.machine.retrying ? this.settings.timing.retryIntervalMs : this.settings.timing.intervalMs;
  }

  /**
   * Takes a run's result. `hardFrom`: the hard state the check left if this is a hard change, as
   * handlers want it (`ok` -> `critical`, not the soft `critical` that preceded the confirmation);
   * `pending` for a check's first result.
   */
  record(run: LastRun): { transition: Transition; hardFrom: CheckState | 'pending' } {
    const before = this.machine.snapshot();
    this.last = run;
    count(this.counters, run.result);
    const transition = this.machine.record(run.result.state, run.at);
    return { transition, hardFrom: before.state === 'pending' ? 'pending' : before.last_hard_state };
  }

  /** New settings from a reload; the state stays (the next run says whether it still holds). */
  reconfigure(settings: LiveCheckSettings, runner: CheckRunner): void {
    this.settings = settings;
    this.runner = runner;
    this.machine.setMaxAttempts(settings.maxAttempts);
  }

  status(nextRunAt?: number): CheckStatus {
    const { settings, last } = this;
    const machine = this.machine.snapshot();
    return {
      name: settings.name,
      ...(settings.displayName ? { display_name: settings.displayName } : {}),
      type: settings.type.type,
      state: machine.state,
      state_type: machine.state_type,
      attempt: machine.attempt,
      max_attempts: machine.max_attempts,
      last_hard_state: machine.last_hard_state,
      output: last?.result.output ?? '',
      ...(last?.result.longOutput ? { long_output: last.result.longOutput } : {}),
      perfdata: last?.result.perfdata ?? [],
      ...(last?.result.items ? { items: last.result.items.map((item) => ({ ...item })) } : {}),
      last_run_at: iso(last?.at),
      last_change_at: iso(machine.last_change_at),
      last_hard_change_at: iso(machine.last_hard_change_at),
      duration_ms: last?.durationMs,
      flapping: machine.flapping,
      percent_state_change: machine.percent_state_change,
      recent_states: machine.recent_states,
      interval_s: settings.timing.intervalMs / 1000,
      retry_interval_s: settings.timing.retryIntervalMs / 1000,
      next_run_at: iso(nextRunAt),
      ...(settings.notes !== undefined ? { notes: settings.notes } : {}),
      handlers: [...settings.handlers],
      source: settings.source,
      ...(settings.pack ? { pack: settings.pack } : {}),
      counters: { ...this.counters },
    };
  }

  /** What the cluster knows of it: small enough for a gossip packet. */
  brief(): CheckBrief {
    const machine = this.machine.snapshot();
    return {
      name: this.name,
      state: machine.state,
      state_type: machine.state_type,
      output: cutToBytes(this.last?.result.output ?? '', CHECK_BRIEF_OUTPUT_BYTES),
      since: machine.last_change_at ?? 0,
    };
  }
}

export const zeroCounters = (): CheckCounters => ({
  pass: 0,
  fail: 0,
  repeated_fails: 0,
  network_fails: 0,
  http_2xx: 0,
  http_3xx: 0,
  http_4xx: 0,
  http_5xx: 0,
});

const HTTP_CLASSES = ['http_2xx', 'http_3xx', 'http_4xx', 'http_5xx'] as const;

function count(counters: CheckCounters, result: CheckResult): void {
  if (result.state === 'ok') {
    counters.pass++;
    counters.repeated_fails = 0;
  } else {
    counters.fail++;
    counters.repeated_fails++;
  }
  if (result.networkFailure) counters.network_fails++;
  const httpClass =
    result.httpStatus === undefined ? undefined : HTTP_CLASSES[Math.floor(result.httpStatus / 100) - 2];
  if (httpClass) counters[httpClass]++;
}

/** The state machine's snapshot from a status kept in history. */
function snapshotOf(status: CheckStatus): MachineSnapshot {
  return {
    state: status.state,
    state_type: status.state_type,
    attempt: status.attempt,
    max_attempts: status.max_attempts,
    last_hard_state: status.last_hard_state,
    last_change_at: epochMs(status.last_change_at),
    last_hard_change_at: epochMs(status.last_hard_change_at),
    flapping: status.flapping,
    percent_state_change: status.percent_state_change,
    recent_states: [...status.recent_states],
  };
}
