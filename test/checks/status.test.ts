// The worst-of status (megaphone's order and shape) and the output caps, as pure functions.
import { describe, expect, it } from 'vitest';
import { capOutput } from '../../agent/checks/output-cap.js';
import { cutToBytes } from '../../agent/shared/format.js';
import { worstOf } from '../../agent/checks/worst-of.js';
import type { CheckState, CheckStateType, CheckStatus } from '../../agent/shared/api-types.js';

const NOW = new Date('2026-12-05T12:00:00.000Z');

function status(
  name: string,
  state: CheckState | 'pending',
  stateType: CheckStateType = 'hard',
  lastHard: CheckState = state === 'pending' ? 'ok' : state,
): CheckStatus {
  return {
    name,
    type: 'evaluated',
    state,
    state_type: stateType,
    attempt: 1,
    max_attempts: 3,
    last_hard_state: lastHard,
    output: `${name} says ${state}`,
    perfdata: [],
    ...(state === 'pending' ? {} : { last_change_at: '2026-12-05T11:00:00.000Z' }),
    flapping: false,
    percent_state_change: 0,
    recent_states: [],
    interval_s: 60,
    retry_interval_s: 12,
    handlers: [],
  };
}

describe('worst-of', () => {
  it('orders states as megaphone does: OK < UNKNOWN < WARNING < CRITICAL', () => {
    const order: CheckState[] = ['ok', 'unknown', 'warning', 'critical'];
    for (const [index, worst] of order.entries()) {
      const statuses = order.slice(0, index + 1).map((state) => status(`c-${state}`, state));
      expect(worstOf(statuses, undefined, NOW).status, worst).toBe(worst.toUpperCase());
      // The order of the checks does not matter.
      expect(worstOf([...statuses].reverse(), undefined, NOW).status).toBe(worst.toUpperCase());
    }
  });

  it("megaphone's shape, the non-OK checks in the message, worst first, and the checks", () => {
    const answer = worstOf(
      [status('load', 'warning'), status('disk', 'critical'), status('mem', 'ok'), status('dns', 'unknown')],
      undefined,
      NOW,
    );
    expect(answer).toEqual({
      status: 'CRITICAL',
      date: '2026-12-05T12:00:00.000Z',
      message:
        'CRITICAL disk: disk says critical; WARNING load: load says warning; UNKNOWN dns: dns says unknown',
      checks: [
        {
          name: 'load',
          status: 'WARNING',
          state_type: 'hard',
          message: 'load says warning',
          date: '2026-12-05T11:00:00.000Z',
        },
        {
          name: 'disk',
          status: 'CRITICAL',
          state_type: 'hard',
          message: 'disk says critical',
          date: '2026-12-05T11:00:00.000Z',
        },
        {
          name: 'mem',
          status: 'OK',
          state_type: 'hard',
          message: 'mem says ok',
          date: '2026-12-05T11:00:00.000Z',
        },
        {
          name: 'dns',
          status: 'UNKNOWN',
          state_type: 'hard',
          message: 'dns says unknown',
          date: '2026-12-05T11:00:00.000Z',
        },
      ],
    });
  });

  it('counts hard states: a soft problem counts as the hard state before it; pending counts for nothing', () => {
    const answer = worstOf(
      [status('disk', 'critical', 'soft', 'ok'), status('new', 'pending')],
      undefined,
      NOW,
    );
    expect(answer.status).toBe('OK');
    expect(answer.message).toBe('the check is OK; 1 check without a result yet');
    expect(answer.checks.map((check) => check.status)).toEqual(['CRITICAL', 'PENDING']);
    expect(worstOf([], undefined, NOW).message).toBe('no checks on this node');
    expect(worstOf([status('a', 'ok'), status('b', 'ok')], undefined, NOW).message).toBe(
      'all 2 checks are OK',
    );
  });

  it('an override is CRITICAL whatever the checks say, its reason first', () => {
    const override = { state: 'critical' as const, reason: 'draining', since: '2026-12-05T10:00:00.000Z' };
    const answer = worstOf([status('a', 'ok'), status('b', 'warning')], override, NOW);
    expect(answer).toMatchObject({
      status: 'CRITICAL',
      override,
      message: 'overridden to CRITICAL since 2026-12-05T10:00:00.000Z: draining; WARNING b: b says warning',
    });
  });
});

describe('output caps', () => {
  it('cuts at a character boundary, never inside one', () => {
    expect(cutToBytes('ééé', 5)).toBe('éé');
    expect(cutToBytes('ééé', 4)).toBe('éé');
    expect(cutToBytes('ééé', 3)).toBe('é');
    expect(cutToBytes('a😀', 4)).toBe('a');
    expect(cutToBytes('short', 100)).toBe('short');
  });

  it('keeps short outputs as they are, and moves later lines to the long output', () => {
    expect(capOutput({ state: 'ok', output: 'fine', perfdata: [] })).toEqual({
      state: 'ok',
      output: 'fine',
      perfdata: [],
    });
    expect(capOutput({ state: 'ok', output: 'first\r\nsecond', longOutput: 'third', perfdata: [] })).toEqual({
      state: 'ok',
      output: 'first',
      longOutput: 'second\nthird',
      perfdata: [],
    });
  });
});
