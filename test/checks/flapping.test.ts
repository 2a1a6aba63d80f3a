// Flap detection as Nagios does it: the expected percentages are worked out here from the formula
// of flapping.c (each change at position x of the 21-state window weighs 0.75 + (x - 1)·0.5/19, the
// percent is 100·Σweight/20), from positions written by hand, never by calling the code.
import { describe, expect, it } from 'vitest';
import { FlapDetector, percentStateChange, type FlapVerdict } from '../../agent/checks/flapping.js';
import type { CheckState } from '../../agent/shared/api-types.js';

const weight = (x: number): number => 0.75 + ((x - 1) * (1.25 - 0.75)) / (21 - 2);
/** The percent of state change of a window whose changes sit at these positions (1..20). */
const percentOf = (positions: number[]): number =>
  (positions.reduce((sum, x) => sum + weight(x), 0) * 100) / 20;

const ok = (n: number): CheckState[] => Array<CheckState>(n).fill('ok');
const critical = (n: number): CheckState[] => Array<CheckState>(n).fill('critical');

/** The verdict after the index-th state of a series. */
function after(verdicts: FlapVerdict[], index: number): FlapVerdict {
  const verdict = verdicts[index];
  if (!verdict) throw new Error(`no verdict at ${index}: the series has ${verdicts.length}`);
  return verdict;
}

describe('percentStateChange (flapping.c)', () => {
  it('is 0 without a change, 100 for 21 alternating states', () => {
    expect(percentStateChange([])).toBe(0);
    expect(percentStateChange(['critical'])).toBe(0);
    expect(percentStateChange(ok(21))).toBe(0);
    const alternating = Array.from({ length: 21 }, (_, i): CheckState => (i % 2 ? 'warning' : 'ok'));
    // 20 changes whose weights average 1: 100%.
    expect(percentStateChange(alternating)).toBeCloseTo(
      percentOf([...Array(20).keys()].map((i) => i + 1)),
      10,
    );
    expect(percentStateChange(alternating)).toBe(100);
  });

  it('weighs a change by its age: 1.25 for the newest (6.25%), 0.75 for the oldest (3.75%)', () => {
    expect(percentStateChange([...ok(20), 'critical'])).toBeCloseTo(percentOf([20]), 10);
    expect(percentOf([20])).toBeCloseTo(6.25, 10);
    expect(percentStateChange(['ok', ...critical(20)])).toBeCloseTo(percentOf([1]), 10);
    expect(percentOf([1])).toBeCloseTo(3.75, 10);
  });

  it('counts a change between two problems, and only the last 21 states', () => {
    // WARNING -> CRITICAL at position 20, CRITICAL -> WARNING at 10.
    const series: CheckState[] = [...ok(9), 'warning', 'critical', ...critical(9), 'warning'];
    expect(series).toHaveLength(21);
    expect(percentStateChange(series)).toBeCloseTo(percentOf([9, 10, 20]), 10);
    // Older states fall out: the change from the first 'unknown' is not in the window.
    expect(percentStateChange(['unknown', ...ok(21)])).toBe(0);
  });

  it('places a short history at the newest end of the window', () => {
    // 3 states: the two changes are the window's two newest, positions 19 and 20.
    expect(percentStateChange(['ok', 'critical', 'ok'])).toBeCloseTo(percentOf([19, 20]), 10);
  });

  it('gives exactly 20 for a series worth exactly 20% (the threshold compares it exactly)', () => {
    // Positions 1, 2, 19, 20: 0.75 + 0.776 + 1.224 + 1.25 = 4 weights of change, 4·100/20 = 20.
    expect(percentOf([1, 2, 19, 20])).toBeCloseTo(20, 10);
    expect(percentStateChange(['ok', 'critical', ...ok(17), 'critical', 'ok'])).toBe(20);
  });
});

describe('FlapDetector (thresholds 5% and 20%)', () => {
  it('starts flapping above 20%, not at exactly 20%', () => {
    const detector = new FlapDetector();
    // s0 OK, s1 CRITICAL, s2..s18 OK, s19 CRITICAL, s20 OK, then s21 CRITICAL.
    const series: CheckState[] = ['ok', 'critical', ...ok(17), 'critical', 'ok', 'critical'];
    const verdicts = series.map((state) => detector.record(state));

    // While the window fills, state i's change sits at position 21 - n + i (n states so far).
    verdicts.forEach((verdict, index) => {
      const n = Math.min(index + 1, 21);
      const changesAt =
        index < 21 ? [1, 2, 19, 20].filter((i) => i < n).map((i) => 21 - n + i) : [1, 18, 19, 20];
      expect(verdict.percent).toBeCloseTo(percentOf(changesAt), 10);
    });

    expect(after(verdicts, 2).percent).toBeCloseTo(percentOf([19, 20]), 10); // 12.37%
    expect(after(verdicts, 19).percent).toBeCloseTo(percentOf([2, 3, 20]), 10); // 14.14%
    expect(after(verdicts, 20)).toEqual({ percent: 20, flapping: false }); // exactly the threshold: not above it
    expect(after(verdicts, 21).percent).toBeCloseTo(percentOf([1, 18, 19, 20]), 10); // 22.11%
    expect(after(verdicts, 21)).toMatchObject({ flapping: true, started: true });
    expect(verdicts.slice(0, 21).every((verdict) => !verdict.flapping && !verdict.started)).toBe(true);
    expect(detector.isFlapping).toBe(true);
  });

  it('stops flapping below 5%, holds between the thresholds, and can start again', () => {
    const detector = new FlapDetector();
    // A burst (changes 1..4), ten OKs, one change to CRITICAL (state 15), then CRITICAL on.
    const series: CheckState[] = ['ok', 'critical', 'ok', 'critical', 'ok', ...ok(10), ...critical(11)];
    const verdicts = series.map((state) => detector.record(state));

    expect(after(verdicts, 4)).toMatchObject({ flapping: true, started: true });
    expect(after(verdicts, 4).percent).toBeCloseTo(percentOf([17, 18, 19, 20]), 10); // 24.21%
    expect(after(verdicts, 14).percent).toBeCloseTo(percentOf([7, 8, 9, 10]), 10); // 18.95%: between, holds
    expect(after(verdicts, 15).percent).toBeCloseTo(percentOf([6, 7, 8, 9, 20]), 10);
    expect(after(verdicts, 20).percent).toBeCloseTo(percentOf([1, 2, 3, 4, 15]), 10); // the window is full
    expect(after(verdicts, 23).percent).toBeCloseTo(percentOf([1, 12]), 10); // 8.95%
    // The burst is gone; the one change left, at position 11, weighs 5.07%: not below 5%.
    expect(after(verdicts, 24).percent).toBeCloseTo(percentOf([11]), 10);
    expect(after(verdicts, 24).percent).toBeGreaterThan(5);
    expect(after(verdicts, 24)).toMatchObject({ flapping: true });
    expect(after(verdicts, 24).stopped).toBeUndefined();
    // At position 10 it weighs 4.93%: below 5%, flapping stops.
    expect(after(verdicts, 25).percent).toBeCloseTo(percentOf([10]), 10);
    expect(after(verdicts, 25)).toMatchObject({ flapping: false, stopped: true });
    expect(
      verdicts.slice(5, 25).every((verdict) => verdict.flapping && !verdict.started && !verdict.stopped),
    ).toBe(true);

    // Not flapping again until the percent passes 20% again: 11.05% and 17.04% hold, 22.89% starts.
    const again = (['ok', 'critical', 'ok'] as const).map((state) => detector.record(state));
    expect(again.map((verdict) => verdict.flapping)).toEqual([false, false, true]);
    expect(after(again, 0).percent).toBeCloseTo(percentOf([9, 20]), 10);
    expect(after(again, 1).percent).toBeCloseTo(percentOf([8, 19, 20]), 10);
    expect(after(again, 2).percent).toBeCloseTo(percentOf([7, 18, 19, 20]), 10);
    expect(after(again, 2)).toMatchObject({ started: true });
  });

  it('takes other thresholds', () => {
    const detector = new FlapDetector({ lowPercent: 10, highPercent: 12 });
    expect(detector.record('ok')).toEqual({ percent: 0, flapping: false });
    expect(detector.record('critical')).toMatchObject({ flapping: false }); // 6.25%
    expect(detector.record('ok')).toMatchObject({ flapping: true, started: true }); // 12.37%
    expect(() => new FlapDetector({ lowPercent: 30, highPercent: 20 })).toThrow(
      /low threshold \(30%\) must not be above the high one \(20%\)/,
    );
  });

  it('resumes from its memory: the states and the verdict', () => {
    const states: CheckState[] = ['ok', 'critical', 'ok', 'critical', 'ok'];
    const detector = new FlapDetector(undefined, { states, flapping: true });
    expect(detector.isFlapping).toBe(true);
    expect(detector.percentStateChange).toBeCloseTo(percentOf([17, 18, 19, 20]), 10);
    expect(detector.recentStates()).toEqual(states);
    // 23.68% then on down: still flapping, no new start.
    expect(detector.record('ok')).toEqual({
      percent: expect.closeTo(percentOf([16, 17, 18, 19]), 10) as number,
      flapping: true,
    });
  });
});
