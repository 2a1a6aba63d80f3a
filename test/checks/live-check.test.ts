// A check's items (one per EC2 instance, replica-set member, Celery worker) as LiveCheck keeps
// them: from the last result into its status, only when the result has them, across a restart
// (the status history keeps), and bounded by the output cap the subsystem applies to each result.
import { describe, expect, it } from 'vitest';
import type { CheckItem, CheckResult, CheckType } from '../../agent/checks/check-type.js';
import { LiveCheck, type LiveCheckSettings } from '../../agent/checks/live-check.js';
import { capOutput, MAX_ITEM_OUTPUT_BYTES, MAX_ITEMS } from '../../agent/checks/output-cap.js';

const TYPE: CheckType = {
  type: 'aws_ec2',
  description: 'a stand-in',
  schema: {} as CheckType['schema'],
  create: () => ({ run: () => Promise.reject(new Error('not run here')) }),
};

const SETTINGS: LiveCheckSettings = {
  name: 'fleet',
  type: TYPE,
  timing: { intervalMs: 60_000, retryIntervalMs: 12_000, timeoutMs: 30_000 },
  maxAttempts: 3,
  handlers: [],
  source: 'conf.d/fleet.yml:1',
  signature: 'fleet',
};

const ITEMS: CheckItem[] = [
  { name: 'web-1', id: 'i-01', state: 'ok', output: 'i-01 is running, t3.small in eu-west-1a' },
  { name: 'i-05', state: 'critical', output: 'i-05 is terminated' },
];

function live(): LiveCheck {
  return new LiveCheck(SETTINGS, { run: () => Promise.reject(new Error('not run here')) });
}

const result = (extra: Partial<CheckResult> = {}): CheckResult => ({
  state: 'critical',
  output: 'aws_ec2 eu-west-1: 1 of 2 instances running; i-05 terminated',
  perfdata: [],
  ...extra,
});

describe('LiveCheck status items', () => {
  it('has none before a run, nor after a result without items', () => {
    const check = live();
    expect(check.status()).not.toHaveProperty('items');
    check.record({ result: result(), at: Date.parse('2026-12-05T11:00:00Z'), durationMs: 12 });
    expect(check.status()).not.toHaveProperty('items');
  });

  it("shows the last result's items, and drops them when the next result has none", () => {
    const check = live();
    check.record({
      result: result({ items: ITEMS }),
      at: Date.parse('2026-12-05T11:00:00Z'),
      durationMs: 12,
    });
    const status = check.status();
    expect(status.items).toEqual(ITEMS);
    expect(status).toMatchObject({ state: 'critical', output: result().output });
    // A copy: what a caller does with the answer does not change the check.
    status.items![0]!.state = 'unknown';
    expect(check.status().items![0]!.state).toBe('ok');
    check.record({
      result: result({ output: 'aws_ec2 eu-west-1: HTTP 401 AuthFailure' }),
      at: Date.parse('2026-12-05T11:01:00Z'),
      durationMs: 8,
    });
    expect(check.status()).not.toHaveProperty('items');
  });

  it('resumes with the items of the status kept before a restart', () => {
    const before = live();
    before.record({
      result: result({ items: ITEMS }),
      at: Date.parse('2026-12-05T11:00:00Z'),
      durationMs: 12,
    });
    const kept = JSON.parse(JSON.stringify(before.status())) as ReturnType<LiveCheck['status']>;
    const after = new LiveCheck(SETTINGS, before.runner, kept);
    expect(after.status().items).toEqual(ITEMS);
    expect(after.last?.result.items).toEqual(ITEMS);
  });

  it('keeps at most MAX_ITEMS items of a result, one line of output each, capped', () => {
    const many = Array.from({ length: MAX_ITEMS + 5 }, (_, index): CheckItem => ({
      name: `web-${index}`,
      state: 'ok',
      output: `i-${index} is running`,
    }));
    many[0] = { name: 'web-0', id: 'i-0', state: 'warning', output: `${'x'.repeat(2000)}\nsecond line` };
    const capped = capOutput(result({ items: many }));
    expect(capped.items).toHaveLength(MAX_ITEMS);
    expect(capped.items![0]).toEqual({
      name: 'web-0',
      id: 'i-0',
      state: 'warning',
      output: 'x'.repeat(MAX_ITEM_OUTPUT_BYTES),
    });
    expect(capped.items!.at(-1)).toEqual(many[MAX_ITEMS - 1]);
    expect(capOutput(result())).not.toHaveProperty('items');
  });
});
