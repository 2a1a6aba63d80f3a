// Soft and hard states against Nagios Core 4's documented semantics ("State Types", "Host and
// Service Checks"): scripted series of results, each step's state, state type, attempt, and whether
// it is a change (history) and a hard change (the check-state-change event).
import { describe, expect, it } from 'vitest';
import { CheckStateMachine, type MachineSnapshot } from '../../agent/checks/state-machine.js';
import type { CheckState } from '../../agent/shared/api-types.js';

const LETTER: Record<'O' | 'W' | 'C' | 'U', CheckState> = {
  O: 'ok',
  W: 'warning',
  C: 'critical',
  U: 'unknown',
};

/** One expected step: the result fed, then state type, attempt, changed, hard change. */
type Step = [
  result: keyof typeof LETTER,
  type: 'soft' | 'hard',
  attempt: number,
  changed: boolean,
  hard: boolean,
];

/** Feeds the steps' results one a minute and checks each transition. */
function play(maxAttempts: number, steps: Step[]): CheckStateMachine {
  const machine = new CheckStateMachine(maxAttempts);
  const seen = steps.map(([letter], index) => {
    const t = machine.record(LETTER[letter], 60_000 * (index + 1));
    return [letter, t.stateType, t.attempt, t.changed, t.hardChange];
  });
  expect(seen).toEqual(steps);
  return machine;
}

describe('soft and hard states (Nagios "State Types")', () => {
  describe('OK, W, W, C, C, OK', () => {
    it('max_attempts 1: every problem is hard at once, every change between states a hard change', () => {
      play(1, [
        ['O', 'hard', 1, true, false], // from pending: hard OK, nothing to notify
        ['W', 'hard', 1, true, true],
        ['W', 'hard', 1, false, false],
        ['C', 'hard', 1, true, true], // hard error to another error: hard change
        ['C', 'hard', 1, false, false],
        ['O', 'hard', 1, true, true], // hard recovery
      ]);
    });

    it('max_attempts 3: WARNING then CRITICAL keeps counting, the third problem is hard', () => {
      play(3, [
        ['O', 'hard', 1, true, false],
        ['W', 'soft', 1, true, false],
        ['W', 'soft', 2, false, false],
        ['C', 'hard', 3, true, true], // a change of problem while soft still counts: 3 of 3
        ['C', 'hard', 3, false, false],
        ['O', 'hard', 1, true, true],
      ]);
    });

    it('max_attempts 5: never confirmed, so the recovery is soft and notifies nobody', () => {
      play(5, [
        ['O', 'hard', 1, true, false],
        ['W', 'soft', 1, true, false],
        ['W', 'soft', 2, false, false],
        ['C', 'soft', 3, true, false],
        ['C', 'soft', 4, false, false],
        ['O', 'soft', 5, true, false], // soft recovery: OK SOFT, the attempt counted on
      ]);
    });
  });

  describe('OK, C, OK, C, C, C, W, OK', () => {
    it('max_attempts 1', () => {
      play(1, [
        ['O', 'hard', 1, true, false],
        ['C', 'hard', 1, true, true],
        ['O', 'hard', 1, true, true],
        ['C', 'hard', 1, true, true],
        ['C', 'hard', 1, false, false],
        ['C', 'hard', 1, false, false],
        ['W', 'hard', 1, true, true],
        ['O', 'hard', 1, true, true],
      ]);
    });

    it('max_attempts 3: a soft recovery resets the count; hard CRITICAL to WARNING is a hard change', () => {
      play(3, [
        ['O', 'hard', 1, true, false],
        ['C', 'soft', 1, true, false],
        ['O', 'soft', 2, true, false], // soft recovery
        ['C', 'soft', 1, true, false], // counting starts again
        ['C', 'soft', 2, false, false],
        ['C', 'hard', 3, true, true],
        ['W', 'hard', 3, true, true], // the attempt stays at max while hard
        ['O', 'hard', 1, true, true],
      ]);
    });

    it('max_attempts 5', () => {
      play(5, [
        ['O', 'hard', 1, true, false],
        ['C', 'soft', 1, true, false],
        ['O', 'soft', 2, true, false],
        ['C', 'soft', 1, true, false],
        ['C', 'soft', 2, false, false],
        ['C', 'soft', 3, false, false],
        ['W', 'soft', 4, true, false],
        ['O', 'soft', 5, true, false],
      ]);
    });
  });

  it("the docs' example table (max_check_attempts 3), with the attempt kept at 3 while hard", () => {
    // The docs print check # 1 on the hard rows after the third; Nagios Core 4 keeps 3/3 there.
    const machine = play(3, [
      ['O', 'hard', 1, true, false],
      ['C', 'soft', 1, true, false], // first detection of a non-OK state
      ['W', 'soft', 2, true, false], // still non-OK: event handlers run, no notification
      ['C', 'hard', 3, true, true], // max check attempts reached: HARD, problem notification
      ['W', 'hard', 3, true, true], // HARD WARNING: notification
      ['W', 'hard', 3, false, false], // stabilises in a hard problem state
      ['O', 'hard', 1, true, true], // HARD recovery
      ['O', 'hard', 1, false, false],
      ['U', 'soft', 1, true, false], // SOFT non-OK
      ['O', 'soft', 2, true, false], // SOFT recovery: no notification
      ['O', 'hard', 1, false, false], // "State type is set HARD ... immediately after": no change
    ]);
    expect(machine.snapshot()).toMatchObject({ state: 'ok', state_type: 'hard', attempt: 1 });
  });

  it('a first problem after pending is soft, or hard with max_attempts 1, and reports pending as its origin', () => {
    const soft = new CheckStateMachine(2).record('critical', 1000);
    expect(soft).toEqual({
      from: 'pending',
      to: 'critical',
      stateType: 'soft',
      attempt: 1,
      changed: true,
      hardChange: false,
    });
    const hard = new CheckStateMachine(1).record('unknown', 1000);
    expect(hard).toEqual({
      from: 'pending',
      to: 'unknown',
      stateType: 'hard',
      attempt: 1,
      changed: true,
      hardChange: true,
    });
  });

  it('retries (retrying: the scheduler uses retry_interval) only while a problem is soft', () => {
    const machine = new CheckStateMachine(3);
    const retrying = (['ok', 'warning', 'warning', 'warning', 'ok', 'critical', 'ok'] as const).map(
      (state, index) => {
        machine.record(state, index);
        return machine.retrying;
      },
    );
    expect(retrying).toEqual([false, true, true, false, false, true, false]);
    expect(new CheckStateMachine(3).retrying).toBe(false); // pending
  });

  it('keeps the times of the last change and the last hard change, and the last hard state', () => {
    const machine = new CheckStateMachine(2);
    machine.record('ok', 1_000);
    expect(machine.snapshot()).toMatchObject({
      last_change_at: 1_000,
      last_hard_change_at: undefined,
      last_hard_state: 'ok',
    });
    machine.record('critical', 2_000);
    machine.record('critical', 3_000);
    machine.record('critical', 4_000);
    expect(machine.snapshot()).toMatchObject({
      state: 'critical',
      state_type: 'hard',
      attempt: 2,
      max_attempts: 2,
      last_change_at: 3_000,
      last_hard_change_at: 3_000,
      last_hard_state: 'critical',
    });
    machine.record('warning', 5_000);
    machine.record('ok', 6_000);
    expect(machine.snapshot()).toMatchObject({
      last_change_at: 6_000,
      last_hard_change_at: 6_000,
      last_hard_state: 'ok',
    });
    machine.record('unknown', 7_000);
    expect(machine.snapshot()).toMatchObject({
      state: 'unknown',
      state_type: 'soft',
      last_change_at: 7_000,
      last_hard_change_at: 6_000,
      last_hard_state: 'ok',
    });
  });

  it('resumes from a snapshot after a restart, with the definition’s max_attempts', () => {
    const before = new CheckStateMachine(3);
    before.record('ok', 1);
    before.record('warning', 2);
    const kept: MachineSnapshot = JSON.parse(JSON.stringify(before.snapshot())) as MachineSnapshot;
    expect(kept).toMatchObject({ state: 'warning', state_type: 'soft', attempt: 1 });

    const after = new CheckStateMachine(3, kept);
    expect(after.retrying).toBe(true);
    expect(after.record('warning', 3)).toMatchObject({
      from: 'warning',
      stateType: 'soft',
      attempt: 2,
      changed: false,
    });
    expect(after.record('warning', 4)).toMatchObject({ stateType: 'hard', attempt: 3, hardChange: true });
    expect(after.snapshot().recent_states).toEqual(['ok', 'warning']);

    // The definition changed while the agent was down: 3 -> 2 attempts. One more WARNING confirms it.
    const shorter = new CheckStateMachine(2, kept);
    expect(shorter.snapshot().max_attempts).toBe(2);
    expect(shorter.record('warning', 3)).toMatchObject({ stateType: 'hard', attempt: 2, hardChange: true });
  });

  it('a reload that changes max_attempts keeps a hard problem hard and lets the next result decide a soft one', () => {
    const hard = new CheckStateMachine(2);
    hard.record('critical', 1);
    hard.record('critical', 2);
    hard.setMaxAttempts(5);
    expect(hard.snapshot()).toMatchObject({
      state: 'critical',
      state_type: 'hard',
      attempt: 5,
      max_attempts: 5,
    });
    expect(hard.record('critical', 3)).toMatchObject({
      stateType: 'hard',
      attempt: 5,
      changed: false,
      hardChange: false,
    });

    const soft = new CheckStateMachine(5);
    soft.record('critical', 1);
    soft.record('critical', 2);
    soft.record('critical', 3);
    soft.setMaxAttempts(2);
    expect(soft.snapshot()).toMatchObject({ state_type: 'soft', attempt: 2, max_attempts: 2 });
    expect(soft.record('critical', 4)).toMatchObject({
      stateType: 'hard',
      attempt: 2,
      changed: true,
      hardChange: true,
    });

    expect(() => soft.setMaxAttempts(0)).toThrow(/max_attempts must be a whole number of 1 or more, not 0/);
    expect(() => new CheckStateMachine(1.5)).toThrow(/not 1.5/);
  });
});

describe('flapping through the state machine (flapping.c: hard states and soft recoveries count)', () => {
  it('alternating hard states start flapping; the transition and the snapshot say so, then it stops', () => {
    const machine = new CheckStateMachine(1);
    const flaps: Array<string | undefined> = [];
    // OK, CRITICAL, OK, CRITICAL: changes at positions 18, 19, 20 of the 21-state window after the
    // fourth result: (0.75 + 17·0.5/19 + 0.75 + 18·0.5/19 + 0.75 + 19·0.5/19)·100/20 = 18.36%;
    // the fifth (OK) puts them at 17..20: 24.21% > 20%.
    for (const state of ['ok', 'critical', 'ok', 'critical', 'ok'] as const)
      flaps.push(machine.record(state, 0).flapping);
    expect(flaps).toEqual([undefined, undefined, undefined, undefined, 'started']);
    const percent = ((4 * 0.75 + (16 + 17 + 18 + 19) * (0.5 / 19)) * 100) / 20;
    expect(machine.snapshot()).toMatchObject({
      flapping: true,
      recent_states: ['ok', 'critical', 'ok', 'critical', 'ok'],
    });
    expect(machine.snapshot().percent_state_change).toBeCloseTo(percent, 10);

    // OKs push the four changes out of the window; the last one alone (3.75%) is below 5%.
    let stopped = -1;
    for (let i = 1; i <= 20 && stopped < 0; i++)
      if (machine.record('ok', i).flapping === 'stopped') stopped = i;
    expect(stopped).toBe(19);
    expect(machine.snapshot()).toMatchObject({ flapping: false });
    expect(machine.snapshot().percent_state_change).toBeCloseTo(((0.75 + 0) * 100) / 20, 10);
  });

  it('soft problems are not weighed: OK and soft CRITICAL alternating never flap (max_attempts 3)', () => {
    const machine = new CheckStateMachine(3);
    for (let i = 0; i < 30; i++) {
      const t = machine.record(i % 2 === 0 ? 'ok' : 'critical', i);
      expect(t.flapping).toBeUndefined();
    }
    // Only the OKs (the soft recoveries among them) were recorded: no change at all.
    expect(machine.snapshot()).toMatchObject({ flapping: false, percent_state_change: 0 });
    expect(new Set(machine.snapshot().recent_states)).toEqual(new Set(['ok']));
  });

  it('a snapshot keeps the flapping verdict and its states across a restart', () => {
    const machine = new CheckStateMachine(1);
    for (const state of ['ok', 'critical', 'ok', 'critical', 'ok'] as const) machine.record(state, 0);
    const restored = new CheckStateMachine(1, machine.snapshot());
    expect(restored.snapshot()).toEqual(machine.snapshot());
    // Still flapping at 23.68% (the changes at 16..19 of the window): it holds between the thresholds.
    expect(restored.record('ok', 1).flapping).toBeUndefined();
    expect(restored.snapshot().flapping).toBe(true);
  });

  it('takes configured thresholds', () => {
    const machine = new CheckStateMachine(1, undefined, { lowPercent: 10, highPercent: 25 });
    const flaps = (['ok', 'critical', 'ok', 'critical', 'ok', 'critical'] as const).map(
      (s) => machine.record(s, 0).flapping,
    );
    // 24.21% after the fifth does not pass 25%; the sixth's changes at 16..20 give 29.93%.
    expect(flaps).toEqual([undefined, undefined, undefined, undefined, undefined, 'started']);
  });
});
