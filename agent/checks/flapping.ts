// Flap detection as Nagios Core does it (base/flapping.c, docs "Detection and Handling of State
// Flapping"): a check that changes state too often is "flapping", so handlers can hold back a storm
// of problem and recovery notifications. The measure is a weighted percent of state change over the
// last 21 recorded states; flapping starts above a high threshold and stops below a low one, and in
// between the previous verdict holds (hysteresis), so a check does not flap in and out of flapping.
import type { CheckState } from '../shared/api-types.js';

/** Nagios' MAX_STATE_HISTORY_ENTRIES: 21 states, so at most 20 changes between them. */
export const FLAP_HISTORY_STATES = 21;

/** Nagios' defaults for services (nagios.cfg: low_service_flap_threshold, high_service_flap_threshold). */
export const DEFAULT_FLAP_THRESHOLDS: FlapThresholds = { lowPercent: 5, highPercent: 20 };

export interface FlapThresholds {
  /** Flapping stops when the percent of state change falls below this. */
  lowPercent: number;
  /** Flapping starts when the percent of state change rises above this. */
  highPercent: number;
}

/**
 * Nagios' percent of state change over the last 21 states (oldest first): each change between two
 * consecutive states counts with a weight that grows linearly with its recency, from 0.75 for the
 * oldest possible change (x = 1) to 1.25 for the newest (x = 20), as flapping.c computes it:
 *
 *   weight(x) = 0.75 + (x - 1) * (1.25 - 0.75) / 19        percent = 100 * Σ weight / 20
 *
 * With fewer than 21 states, the states sit at the newest end of the window, so the latest change
 * always weighs 1.25. (Nagios fills a new service's window with OK; a check here starts pending, and
 * inventing OKs before its first result would count a change that nobody saw.)
 *
 * weight(x) is (2x + 55) / 76, so the sum is computed on integers and divided once: the result is
 * the correctly rounded value of the exact percent, and a series worth exactly 20% gives exactly 20,
 * which the threshold comparisons rely on (a float sum of the weights can land at 19.999…).
 */
export function percentStateChange(states: readonly CheckState[]): number {
  const window = states.slice(-FLAP_HISTORY_STATES);
  // The position of window[i]'s change (from window[i - 1]) in a full 21-state window.
  const shift = FLAP_HISTORY_STATES - window.length;
  let weightSum76 = 0;
  for (let i = 1; i < window.length; i++) {
    if (window[i] !== window[i - 1]) weightSum76 += 2 * (shift + i) + 55;
  }
  return (5 * weightSum76) / 76;
}

/** What one recorded state did to the detector. */
export interface FlapVerdict {
  percent: number;
  flapping: boolean;
  /** This state made the check start flapping. */
  started?: true;
  /** This state made the check stop flapping. */
  stopped?: true;
}

/** The detector's memory, kept in the check's status so it survives a restart. */
export interface FlapMemory {
  /** Oldest first, at most 21. */
  states: readonly CheckState[];
  flapping: boolean;
}

/** One check's flap detection: the last 21 recorded states and whether it is flapping. */
export class FlapDetector {
  private readonly states: CheckState[];
  private flapping: boolean;
  private percent: number;

  constructor(
    private readonly thresholds: FlapThresholds = DEFAULT_FLAP_THRESHOLDS,
    restored?: FlapMemory,
  ) {
    if (!(thresholds.lowPercent <= thresholds.highPercent)) {
      throw new Error(
        `flap thresholds: the low threshold (${thresholds.lowPercent}%) must not be above the high one (${thresholds.highPercent}%)`,
      );
    }
    this.states = restored ? restored.states.slice(-FLAP_HISTORY_STATES) : [];
    this.flapping = restored?.flapping ?? false;
    this.percent = percentStateChange(this.states);
  }

  /** Records one state and says whether the check flaps now, and whether that just changed. */
  record(state: CheckState): FlapVerdict {
    this.states.push(state);
    if (this.states.length > FLAP_HISTORY_STATES) this.states.shift();
    this.percent = percentStateChange(this.states);
    // The docs' rule ("first exceeds a high flapping threshold", "goes below a low flapping
    // threshold"); flapping.c itself compares with >= and <=, which differs only at exactly 20% or
    // 5%. Between the two thresholds the verdict does not change.
    if (!this.flapping && this.percent > this.thresholds.highPercent) {
      this.flapping = true;
      return { percent: this.percent, flapping: true, started: true };
    }
    if (this.flapping && this.percent < this.thresholds.lowPercent) {
      this.flapping = false;
      return { percent: this.percent, flapping: false, stopped: true };
    }
    return { percent: this.percent, flapping: this.flapping };
  }

  get isFlapping(): boolean {
    return this.flapping;
  }

  get percentStateChange(): number {
    return this.percent;
  }

  /** The recorded states, oldest first (a copy). */
  recentStates(): CheckState[] {
    return [...this.states];
  }
}
