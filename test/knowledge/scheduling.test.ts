// The collector scheduler and the detector loop, with small in-test plugins: a run that throws or
// hangs is ERROR with its message and does not stop the schedule; a plugin that ignores its
// timeout is never stacked; numbers become metrics; a failing rule keeps its groups. Time is the
// test's (manual timers, injected through the interval clock): each run happens at an exact time,
// and "no run" is checked by running time past the moment it would have come.
import { afterEach, describe, expect, it } from 'vitest';
import type { CollectorInstance } from '../../agent/collectors/index.js';
import { flattenMetrics } from '../../agent/collectors/index.js';
import { type CollectorTime, IntervalClock, nextGridDelay } from '../../agent/collectors/interval-clock.js';
import { ScheduledCollector } from '../../agent/collectors/scheduled-collector.js';
import { ScheduledDetector } from '../../agent/detectors/scheduled-detector.js';
import { ManualTimers } from '../helpers/manual-timers.js';

const paths = { root: '/', proc: '/proc', sys: '/sys' };
const made: Array<{ stop(): unknown }> = [];
afterEach(async () => {
  for (const thing of made.splice(0)) await thing.stop();
});

/** Where manual time starts: a point of every grid the tests use (50, 60, 100, 1000 ms). */
const START_MS = 1_200_000;

/** Manual time from START_MS and an interval clock of `phase` on it. */
function manualTime(phase = 0) {
  const timers = new ManualTimers();
  timers.now = START_MS;
  const time: CollectorTime = { timers, now: timers.clock, monotonicNow: timers.clock };
  const clock = new IntervalClock(phase, time);
  made.push(clock);
  return { timers, clock };
}

function schedule(
  instance: CollectorInstance,
  options: {
    clock: IntervalClock;
    intervalMs?: number;
    timeoutMs?: number;
    ifGroup?: string;
    onData?: (data: unknown) => void;
  },
) {
  const published: unknown[] = [];
  const collector = new ScheduledCollector({
    name: 'probe',
    type: 'probe',
    source: 'test',
    intervalMs: options.intervalMs ?? 100,
    timeoutMs: options.timeoutMs ?? 100,
    ifGroup: options.ifGroup,
    instance,
    paths,
    clock: options.clock,
    onData: (_name, data) => (options.onData ? options.onData(data) : published.push(data)),
    onRun: () => undefined,
  });
  made.push(collector);
  return { collector, published };
}

/** A plugin whose run ends only when its signal aborts; `onAbort` gets the reason. */
function waitsForAbort(onAbort: (reason: unknown) => void): CollectorInstance {
  return {
    collect: ({ signal }) =>
      new Promise((_resolve, reject) =>
        signal.addEventListener('abort', () => {
          onAbort(signal.reason);
          reject(new Error('aborted'));
        }),
      ),
  };
}

describe('ScheduledCollector', () => {
  it('runs at once, then at every beat, and keeps the last data', async () => {
    const { timers, clock } = manualTime();
    let n = 0;
    const { collector, published } = schedule({ collect: () => Promise.resolve({ n: ++n }) }, { clock });
    collector.updateEligibility(new Set());
    await timers.advanceAsync(350);
    // At 0 (the first run), then the beats at 100, 200 and 300.
    expect(collector.status()).toMatchObject({ state: 'OK', errors: 0, runs: 4 });
    expect(collector.lastData()).toEqual({ n: 4 });
    expect(published).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    expect(collector.status().last_run_at).toBe(new Date(START_MS + 300).toISOString());
  });

  it('shows a throwing run as ERROR, keeps the last good data, and recovers', async () => {
    const { timers, clock } = manualTime();
    let fail = false;
    const { collector } = schedule(
      {
        collect: () =>
          fail ? Promise.reject(new Error('cannot read /proc/stat: ENOENT')) : Promise.resolve({ ok: 1 }),
      },
      { clock },
    );
    collector.updateEligibility(new Set());
    await timers.advanceAsync(50);
    expect(collector.status()).toMatchObject({ state: 'OK', runs: 1 });
    fail = true;
    await timers.advanceAsync(100);
    expect(collector.status()).toMatchObject({
      state: 'ERROR',
      message: 'cannot read /proc/stat: ENOENT',
      runs: 2,
      errors: 1,
    });
    expect(collector.lastData()).toEqual({ ok: 1 });
    fail = false;
    await timers.advanceAsync(100);
    expect(collector.status()).toMatchObject({ state: 'OK', runs: 3, errors: 1 });
  });

  it('abandons a run at its timeout, aborting its signal', async () => {
    const { timers, clock } = manualTime();
    let aborted: unknown;
    const { collector } = schedule(
      waitsForAbort((why) => (aborted = why)),
      { clock, intervalMs: 1000, timeoutMs: 80 },
    );
    collector.updateEligibility(new Set());
    await timers.advanceAsync(79);
    expect(collector.status()).toMatchObject({ state: 'PENDING', errors: 0 });
    expect(aborted).toBeUndefined();
    await timers.advanceAsync(1);
    expect(collector.status()).toMatchObject({
      state: 'ERROR',
      message: 'timed out after 0.08 s',
      errors: 1,
      last_duration_ms: 80,
    });
    expect(String(aborted)).toContain('timed out');
  });

  it('never stacks runs of a plugin that ignores its timeout', async () => {
    const { timers, clock } = manualTime();
    let started = 0;
    const { collector } = schedule(
      { collect: () => (started++, new Promise<never>(() => undefined)) },
      { clock, intervalMs: 60, timeoutMs: 30 },
    );
    collector.updateEligibility(new Set());
    await timers.advanceAsync(30);
    expect(collector.status()).toMatchObject({ state: 'ERROR', message: 'timed out after 0.03 s' });
    // Beats at 60, 120 ... 300: each finds the first run still hanging, and starts none.
    await timers.advanceAsync(270);
    expect(started).toBe(1);
    expect(collector.status()).toMatchObject({
      state: 'ERROR',
      message: 'the previous run is still hanging (it ignored its timeout): skipped',
      runs: 1,
      errors: 1,
    });
  });

  it('lets a run that is slower than the interval but inside its timeout finish, without an error', async () => {
    const { timers, clock } = manualTime();
    const { collector } = schedule(
      { collect: () => new Promise((resolve) => timers.setTimeout(() => resolve({ done: 1 }), 150)) },
      { clock, intervalMs: 100, timeoutMs: 300 },
    );
    collector.updateEligibility(new Set());
    for (let elapsed = 0; elapsed < 500; elapsed += 10) {
      await timers.advanceAsync(10);
      expect(collector.status().state).not.toBe('ERROR');
    }
    // Runs from 0 to 150 and from 200 to 350 (the beats at 100 and 300 found a run in flight),
    // the third from 400 still under way.
    expect(collector.status()).toMatchObject({ state: 'OK', errors: 0, runs: 2 });
  });

  it('is NOT-ELIGIBLE outside its group and starts when the node joins it', async () => {
    const { timers, clock } = manualTime();
    const { collector } = schedule(
      { collect: () => Promise.resolve({ up: true }) },
      { clock, ifGroup: 'redis' },
    );
    collector.updateEligibility(new Set(['linux']));
    expect(collector.status()).toMatchObject({
      state: 'NOT-ELIGIBLE',
      message: 'this node is not in group redis',
    });
    expect(collector.settled).toBe(true);
    // Not eligible: nothing scheduled at all.
    expect(timers.size).toBe(0);
    collector.updateEligibility(new Set(['linux', 'redis']));
    expect(collector.status().state).toBe('PENDING');
    await timers.advanceAsync(0);
    expect(collector.status()).toMatchObject({ state: 'OK', runs: 1 });
    collector.updateEligibility(new Set());
    expect(collector.status().state).toBe('NOT-ELIGIBLE');
    await timers.advanceAsync(1000);
    expect(collector.status().runs).toBe(1);
  });

  it('runs a synchronous plugin inline: its data, or its throw as ERROR', () => {
    const { timers, clock } = manualTime();
    let fail = false;
    const { collector, published } = schedule(
      {
        collect: () => {
          if (fail) throw new Error('cannot parse /proc/stat: no "cpu" line');
          return { sync: 1 };
        },
      },
      { clock },
    );
    collector.updateEligibility(new Set());
    timers.advance(0);
    // Inline: done within the timer's own call, no promise to wait for.
    expect(collector.status()).toMatchObject({ state: 'OK', errors: 0, runs: 1 });
    expect(published).toEqual([{ sync: 1 }]);
    fail = true;
    timers.advance(100);
    expect(collector.status()).toMatchObject({
      state: 'ERROR',
      message: 'cannot parse /proc/stat: no "cpu" line',
      runs: 2,
    });
    expect(collector.lastData()).toEqual({ sync: 1 });
  });

  it('keeps the other collectors of a beat running when publishing one run throws', async () => {
    const { timers, clock } = manualTime();
    const { collector: throwing } = schedule(
      { collect: () => ({ n: 1 }) },
      {
        clock,
        onData: () => {
          throw new Error('subscriber broke');
        },
      },
    );
    const { collector: next } = schedule({ collect: () => ({ n: 2 }) }, { clock });
    throwing.updateEligibility(new Set());
    next.updateEligibility(new Set());
    await timers.advanceAsync(250);
    expect(throwing.status()).toMatchObject({
      state: 'ERROR',
      message: 'its data could not be published: subscriber broke',
      runs: 3,
    });
    // At 0, 100 and 200, each time after the throwing one.
    expect(next.status()).toMatchObject({ state: 'OK', runs: 3 });
  });

  it('aborts the signal of a run in flight when the collector is deactivated', async () => {
    const { timers, clock } = manualTime();
    let reason: unknown;
    const { collector } = schedule(
      waitsForAbort((why) => (reason = why)),
      { clock, intervalMs: 1000, timeoutMs: 1000, ifGroup: 'redis' },
    );
    collector.updateEligibility(new Set(['redis']));
    await timers.advanceAsync(20);
    expect(reason).toBeUndefined();
    collector.updateEligibility(new Set());
    expect(String(reason)).toContain('collector deactivated');
    expect(collector.status().state).toBe('NOT-ELIGIBLE');
  });

  it("shows the plugin's own reason when the host cannot run it", () => {
    const { clock } = manualTime();
    const { collector } = schedule(
      {
        notEligibleReason: () => 'no /proc/diskstats here',
        collect: () => Promise.resolve({}),
      },
      { clock },
    );
    collector.updateEligibility(new Set());
    expect(collector.status()).toMatchObject({ state: 'NOT-ELIGIBLE', message: 'no /proc/diskstats here' });
  });
});

describe('nextGridDelay', () => {
  it("waits until the next point of the interval's grid, shifted by the agent's offset", () => {
    expect(nextGridDelay(10_000, 0, 1_000_003_000)).toBe(7_000);
    expect(nextGridDelay(10_000, 5_000, 1_000_003_000)).toBe(2_000);
    expect(nextGridDelay(10_000, 5_000, 1_000_005_000)).toBe(10_000);
  });
});

describe('IntervalClock', () => {
  it('calls the listeners of one interval in the same turn, and no more after they unsubscribe', async () => {
    const { timers, clock } = manualTime();
    const order: string[] = [];
    const offA = clock.subscribe(50, () => {
      order.push('a');
      queueMicrotask(() => order.push('microtask of a'));
    });
    const offB = clock.subscribe(50, () => order.push('b'));
    timers.advance(50);
    // Both in the timer's own call: a's microtask has not had its turn yet.
    expect(order).toEqual(['a', 'b']);
    await Promise.resolve();
    expect(order).toEqual(['a', 'b', 'microtask of a']);
    offA();
    offB();
    // The last listener gone, its timer is gone too.
    expect(timers.size).toBe(0);
    timers.advance(500);
    expect(order).toHaveLength(3);
  });

  it('puts the beats of a longer interval on beats of the shorter one (one wake-up, not two)', () => {
    // Phase 0.1234: the grids are shifted by 1234 ms, so the beats fall at 34 ms past each 50.
    const { timers, clock } = manualTime(0.1234);
    const short: number[] = [];
    const long: number[] = [];
    clock.subscribe(50, () => short.push(timers.now - START_MS));
    clock.subscribe(100, () => long.push(timers.now - START_MS));
    timers.advance(420);
    expect(short).toEqual([34, 84, 134, 184, 234, 284, 334, 384]);
    expect(long).toEqual([34, 134, 234, 334]);
  });
});

describe('flattenMetrics', () => {
  it('turns numeric and boolean leaves into <collector>.<path> and skips the rest', () => {
    expect(
      flattenMetrics('cpustats', {
        cpuall: { '%idle': 97.5, name: 'x' },
        up: true,
        list: [1, 'a'],
        nan: Number.NaN,
        nothing: null,
      }),
    ).toEqual([
      ['cpustats.cpuall.%idle', 97.5],
      ['cpustats.up', 1],
      ['cpustats.list.0', 1],
    ]);
  });
});

describe('ScheduledDetector', () => {
  it('grants rendered groups while the rule holds, and keeps them when the rule errors', async () => {
    let answer: unknown = true;
    let changes = 0;
    const detector = new ScheduledDetector({
      name: 'distro',
      source: 'test',
      rule: 'rule',
      groups: ['linux', 'os-{x}'],
      intervalMs: 60_000,
      scope: {},
      evaluator: {
        evaluate: () => (answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer)),
        renderTemplate: (template) => Promise.resolve(template.replace('{x}', 'debian')),
      },
      onGroupsChanged: () => changes++,
    });
    made.push(detector);
    await detector.run();
    expect(detector.groups).toEqual(['linux', 'os-debian']);
    answer = new Error('unknown: collector.system.os is not available');
    await detector.run();
    expect(detector.status()).toMatchObject({ state: 'ERROR', groups_added: ['linux', 'os-debian'] });
    answer = 0;
    await detector.run();
    expect(detector.status()).toMatchObject({ state: 'OK', last_result: false, groups_added: [] });
    expect(changes).toBe(2);
  });

  it('refuses a rendered group that is not a group name', async () => {
    const detector = new ScheduledDetector({
      name: 'bad',
      source: 'test',
      rule: 'rule',
      groups: ['{x}'],
      intervalMs: 60_000,
      scope: {},
      evaluator: { evaluate: () => Promise.resolve(true), renderTemplate: () => Promise.resolve('a b') },
      onGroupsChanged: () => undefined,
    });
    made.push(detector);
    await detector.run();
    expect(detector.status()).toMatchObject({
      state: 'ERROR',
      message: 'group "a b" (from "{x}") is not a valid group name',
    });
  });
});

describe('ScheduledDetector schedule', () => {
  it('runs at start, then every interval after the last run ended, and never after stop()', async () => {
    const timers = new ManualTimers();
    timers.now = START_MS;
    let runs = 0;
    const detector = new ScheduledDetector({
      name: 'every-minute',
      source: 'test',
      rule: 'rule',
      groups: ['linux'],
      intervalMs: 60_000,
      scope: {},
      evaluator: {
        evaluate: () => (runs++, Promise.resolve(true)),
        renderTemplate: (template) => Promise.resolve(template),
      },
      onGroupsChanged: () => undefined,
      timers,
      now: timers.clock,
    });
    made.push(detector);
    await detector.start();
    expect(runs).toBe(1);
    expect(detector.status().last_run_at).toBe(new Date(START_MS).toISOString());
    await timers.advanceAsync(60_000 - 1);
    expect(runs).toBe(1);
    await timers.advanceAsync(1);
    expect(runs).toBe(2);
    expect(detector.status().last_run_at).toBe(new Date(START_MS + 60_000).toISOString());
    detector.stop();
    expect(timers.size).toBe(0);
    await timers.advanceAsync(10 * 60_000);
    expect(runs).toBe(2);
  });
});
