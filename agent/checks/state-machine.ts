// Soft and hard states of one check, with Nagios Core 4's semantics (docs "State Types" and "Host
// and Service Checks"): a problem is soft, and retried, until `max_attempts` results in a row
// confirm it; only then is it hard, and a hard change is what handlers notify. Recovery from a hard
// problem is immediate; recovery from a soft one notifies nobody, since nobody was told of the
// problem. Flap detection (flapping.ts) is fed from here, with the states Nagios feeds it.
import { FlapDetector, type FlapThresholds } from './flapping.js';
import type { CheckState, CheckStateType } from '../shared/api-types.js';

/** What one result did to the check. */
export interface Transition {
  /** The state before this result. */
  from: CheckState | 'pending';
  /** The state after it. */
  to: CheckState;
  /**
   * The state type of this result, as Nagios logs it. A soft recovery is logged OK SOFT, with the
   * next attempt number; the check then rests in hard OK, attempt 1 (the snapshot says so).
   */
  stateType: CheckStateType;
  attempt: number;
  /** The state or the state type changed (kept in history). */
  changed: boolean;
  /** A hard state change: emits `check-state-change` (Nagios: a HARD state change). */
  hardChange: boolean;
  /** Flapping started or stopped with this result. */
  flapping?: 'started' | 'stopped';
}

/** Where a check stands, as CheckStatus shows it and the history keeps it across restarts. */
export interface MachineSnapshot {
  state: CheckState | 'pending';
  state_type: CheckStateType;
  /** 1 when OK; counts the non-OK results in a row while soft; max_attempts while hard non-OK. */
  attempt: number;
  max_attempts: number;
  /** The last hard state ('ok' before any problem was confirmed). */
  last_hard_state: CheckState;
  /** ms since the epoch. */
  last_change_at?: number;
  last_hard_change_at?: number;
  flapping: boolean;
  percent_state_change: number;
  /** The states flap detection weighed, oldest first (at most 21). */
  recent_states: CheckState[];
}

export class CheckStateMachine {
  private state: CheckState | 'pending' = 'pending';
  private stateType: CheckStateType = 'hard';
  private attempt = 1;
  private maxAttempts: number;
  private lastHardState: CheckState = 'ok';
  private lastChangeAt?: number;
  private lastHardChangeAt?: number;
  private readonly flaps: FlapDetector;

  /**
   * `restored`: the snapshot kept before a restart. `maxAttempts` wins over the snapshot's: the
   * definition may have changed while the agent was down.
   */
  constructor(maxAttempts: number, restored?: MachineSnapshot, flapThresholds?: FlapThresholds) {
    this.maxAttempts = validMaxAttempts(maxAttempts);
    if (restored) {
      this.state = restored.state;
      // OK (and pending) always rest in a hard state, attempt 1: a soft recovery is hard right after.
      const problem = restored.state !== 'ok' && restored.state !== 'pending';
      this.stateType = problem ? restored.state_type : 'hard';
      this.attempt = problem ? Math.max(1, restored.attempt) : 1;
      this.lastHardState = restored.last_hard_state;
      this.lastChangeAt = restored.last_change_at;
      this.lastHardChangeAt = restored.last_hard_change_at;
      this.setMaxAttempts(maxAttempts);
    }
    this.flaps = new FlapDetector(
      flapThresholds,
      restored && { states: restored.recent_states, flapping: restored.flapping },
    );
  }

  /** Takes one result (`at`: ms since the epoch) and says what it changed. */
  record(state: CheckState, at: number): Transition {
    const from = this.state;
    const fromType = this.stateType;
    const next = state === 'ok' ? this.afterOk() : this.afterProblem(state);
    // Nagios rests in hard OK after any OK; the transition reports a soft recovery as SOFT.
    this.state = state;
    this.stateType = state === 'ok' ? 'hard' : next.stateType;
    this.attempt = state === 'ok' ? 1 : next.attempt;
    if (this.stateType === 'hard') this.lastHardState = state;

    const changed = state !== from || next.stateType !== fromType;
    if (changed) this.lastChangeAt = at;
    if (next.hardChange) this.lastHardChangeAt = at;

    const transition: Transition = { from, to: state, ...next, changed };
    // flapping.c: "only hard states and soft recoveries get recorded for flap detection": a problem
    // being retried is not yet a state of the check.
    if (!(next.stateType === 'soft' && state !== 'ok')) {
      const verdict = this.flaps.record(state);
      if (verdict.started) transition.flapping = 'started';
      if (verdict.stopped) transition.flapping = 'stopped';
    }
    return transition;
  }

  /** An OK result, from whatever came before. */
  private afterOk(): Pick<Transition, 'stateType' | 'attempt' | 'hardChange'> {
    if (this.state === 'pending' || this.state === 'ok') {
      // A check starts as a hard OK (Nagios' initial_state): a first OK is no change to notify.
      return { stateType: 'hard', attempt: 1, hardChange: false };
    }
    if (this.stateType === 'soft') {
      // "State Types": a soft recovery is logged OK SOFT with the attempt counted on (the docs'
      // table: UNKNOWN SOFT 1, then OK SOFT 2); event handlers run, no notification is sent, since
      // the problem was never a "real" one.
      return { stateType: 'soft', attempt: Math.min(this.attempt + 1, this.maxAttempts), hardChange: false };
    }
    // "State Types": a recovery from a hard error state is a hard recovery, at once.
    return { stateType: 'hard', attempt: 1, hardChange: true };
  }

  /** A non-OK result, from whatever came before. */
  private afterProblem(state: CheckState): Pick<Transition, 'stateType' | 'attempt' | 'hardChange'> {
    if (this.state === 'pending' || this.state === 'ok') {
      // "State Types": the first non-OK result is a soft error, attempt 1, unless max_check_attempts
      // is 1: then there is nothing to retry and the error is hard at once.
      if (this.maxAttempts === 1) return { stateType: 'hard', attempt: 1, hardChange: true };
      return { stateType: 'soft', attempt: 1, hardChange: false };
    }
    if (this.stateType === 'soft') {
      // "Host and Service Checks": a soft problem is retried; each non-OK result counts one more
      // attempt, whichever non-OK state it is (WARNING then CRITICAL stays soft and keeps counting),
      // and the result that reaches max_check_attempts makes the error hard.
      const attempt = Math.min(this.attempt + 1, this.maxAttempts);
      if (attempt >= this.maxAttempts) return { stateType: 'hard', attempt, hardChange: true };
      return { stateType: 'soft', attempt, hardChange: false };
    }
    // "State Types": a change from one hard error state to another (WARNING to CRITICAL) is a hard
    // state change. The attempt stays at max_check_attempts, as Nagios Core 4 shows it ("3/3").
    return { stateType: 'hard', attempt: this.maxAttempts, hardChange: state !== this.state };
  }

  snapshot(): MachineSnapshot {
    return {
      state: this.state,
      state_type: this.stateType,
      attempt: this.attempt,
      max_attempts: this.maxAttempts,
      last_hard_state: this.lastHardState,
      last_change_at: this.lastChangeAt,
      last_hard_change_at: this.lastHardChangeAt,
      flapping: this.flaps.isFlapping,
      percent_state_change: this.flaps.percentStateChange,
      recent_states: this.flaps.recentStates(),
    };
  }

  /** True while soft non-OK: the scheduler uses retry_interval instead of interval. */
  get retrying(): boolean {
    // Only a problem rests in a soft state (OK and pending are always hard).
    return this.stateType === 'soft';
  }

  /**
   * A reload changed max_attempts. A hard problem stays hard (at the new maximum); a soft one keeps
   * its count, cut to the new maximum, and its next non-OK result decides, as the next result always
   * does: no state changes without a result.
   */
  setMaxAttempts(maxAttempts: number): void {
    this.maxAttempts = validMaxAttempts(maxAttempts);
    if (this.state === 'ok' || this.state === 'pending') return;
    this.attempt = this.stateType === 'hard' ? this.maxAttempts : Math.min(this.attempt, this.maxAttempts);
  }
}

function validMaxAttempts(maxAttempts: number): number {
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new Error(`max_attempts must be a whole number of 1 or more, not ${maxAttempts}`);
  }
  return maxAttempts;
}
