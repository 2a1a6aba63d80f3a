// The collector scheduler and the detector loop, with small in-test plugins: a run that throws or
// hangs is ERROR with its message and does not stop the schedule; a plugin that ignores its
// timeout is never stacked; numbers become metrics; a failing rule keeps its groups.
import { afterEach, describe, expect, it } from 'vitest';
import type { CollectorInstance } from '../../agent/collectors/index.js';
import { flattenMetrics } from '../../agent/collectors/index.js';
import { IntervalClock, nextGridDelay } from '../../agent/collectors/interval-clock.js';
import { ScheduledCollector } from '../../agent/collectors/scheduled-collector.js';
import { ScheduledDetector } from '../../agent/detectors/scheduled-detector.js';

const paths = { root: '/', proc: '/proc', sys: '/sys' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const made: Array<{ stop(): unknown }> = [];
const clock = new IntervalClock(0);
afterEach(async () => {
  for (const thing of made.splice(0)) await thing.stop();
  clock.stop();
});

function schedule(
  instance: CollectorInstance,
  options: {
    intervalMs?: number;
    timeoutMs?: number;
    ifGroup?: string;
    onData?: (data: unknown) => void;
  } = {},
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
    clock,
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
  it('runs every interval and keeps the last data', async () => {
    let n = 0;
    const { collector, published } = schedule({ collect: () => Promise.resolve({ n: ++n }) });
    collector.updateEligibility(new Set());
    await sleep(350);
    expect(collector.status()).toMatchObject({ state: 'OK', errors: 0 });
    expect(collector.status().runs).toBeGreaterThanOrEqual(3);
    expect(collector.lastData()).toEqual({ n });
    expect(published.length).toBe(n);
  });

  it('shows a throwing run as ERROR, keeps the last good data, and recovers', async () => {
    let fail = false;
    const { collector } = schedule({
      collect: () =>
        fail ? Promise.reject(new Error('cannot read /proc/stat: ENOENT')) : Promise.resolve({ ok: 1 }),
    });
    collector.updateEligibility(new Set());
    await sleep(50);
    fail = true;
    await sleep(150);
    expect(collector.status()).toMatchObject({ state: 'ERROR', message: 'cannot read /proc/stat: ENOENT' });
    expect(collector.lastData()).toEqual({ ok: 1 });
    fail = false;
    await sleep(150);
    expect(collector.status().state).toBe('OK');
  });

  it('abandons a run at its timeout, aborting its signal', async () => {
    let aborted: unknown;
    const { collector } = schedule(
      waitsForAbort((why) => (aborted = why)),
      { intervalMs: 1000, timeoutMs: 80 },
    );
    collector.updateEligibility(new Set());
    await sleep(150);
    expect(collector.status()).toMatchObject({
      state: 'ERROR',
      message: 'timed out after 0.08 s',
      errors: 1,
    });
    expect(String(aborted)).toContain('timed out');
  });

  it('never stacks runs of a plugin that ignores its timeout', async () => {
    let started = 0;
    const { collector } = schedule(
      { collect: () => (started++, new Promise<never>(() => undefined)) },
      { intervalMs: 60, timeoutMs: 30 },
    );
    collector.updateEligibility(new Set());
    await sleep(300);
    expect(started).toBe(1);
    expect(collector.status()).toMatchObject({ state: 'ERROR' });
    expect(collector.status().message).toContain('still hanging');
  });

  it('lets a run that is slower than the interval but inside its timeout finish, without an error', async () => {
    const { collector } = schedule(
      { collect: () => sleep(150).then(() => ({ done: 1 })) },
      { intervalMs: 100, timeoutMs: 300 },
    );
    collector.updateEligibility(new Set());
    for (let waited = 0; waited < 500; waited += 25) {
      await sleep(25);
      expect(collector.status().state).not.toBe('ERROR');
    }
    expect(collector.status()).toMatchObject({ state: 'OK', errors: 0 });
    expect(collector.status().runs).toBeGreaterThanOrEqual(2);
  });

  it('is NOT-ELIGIBLE outside its group and starts when the node joins it', async () => {
    const { collector } = schedule({ collect: () => Promise.resolve({ up: true }) }, { ifGroup: 'redis' });
    collector.updateEligibility(new Set(['linux']));
    expect(collector.status()).toMatchObject({
      state: 'NOT-ELIGIBLE',
      message: 'this node is not in group redis',
    });
    expect(collector.settled).toBe(true);
    collector.updateEligibility(new Set(['linux', 'redis']));
    expect(collector.status().state).toBe('PENDING');
    await sleep(30);
    expect(collector.status().state).toBe('OK');
    collector.updateEligibility(new Set());
    expect(collector.status().state).toBe('NOT-ELIGIBLE');
  });

  it('runs a synchronous plugin inline: its data, or its throw as ERROR', async () => {
    let fail = false;
    const { collector, published } = schedule({
      collect: () => {
        if (fail) throw new Error('cannot parse /proc/stat: no "cpu" line');
        return { sync: 1 };
      },
    });
    collector.updateEligibility(new Set());
    await sleep(30);
    // The first run, and maybe a beat of the 100 ms grid already: each published the same data.
    expect(collector.status()).toMatchObject({ state: 'OK', errors: 0 });
    expect(published.length).toBeGreaterThanOrEqual(1);
    expect(published).toEqual(published.map(() => ({ sync: 1 })));
    fail = true;
    await sleep(120);
    expect(collector.status()).toMatchObject({
      state: 'ERROR',
      message: 'cannot parse /proc/stat: no "cpu" line',
    });
    expect(collector.lastData()).toEqual({ sync: 1 });
  });

  it('keeps the other collectors of a beat running when publishing one run throws', async () => {
    const { collector: throwing } = schedule(
      { collect: () => ({ n: 1 }) },
      {
        onData: () => {
          throw new Error('subscriber broke');
        },
      },
    );
    const { collector: next } = schedule({ collect: () => ({ n: 2 }) });
    throwing.updateEligibility(new Set());
    next.updateEligibility(new Set());
    await sleep(250);
    expect(throwing.status()).toMatchObject({
      state: 'ERROR',
      message: 'its data could not be published: subscriber broke',
    });
    expect(next.status().state).toBe('OK');
    expect(next.status().runs).toBeGreaterThanOrEqual(3);
  });

  it('aborts the signal of a run in flight when the collector is deactivated', async () => {
    let reason: unknown;
    const { collector } = schedule(
      waitsForAbort((why) => (reason = why)),
      { intervalMs: 1000, timeoutMs: 1000, ifGroup: 'redis' },
    );
    collector.updateEligibility(new Set(['redis']));
    await sleep(20);
    collector.updateEligibility(new Set());
    expect(String(reason)).toContain('collector deactivated');
    expect(collector.status().state).toBe('NOT-ELIGIBLE');
  });

  it("shows the plugin's own reason when the host cannot run it", () => {
    const { collector } = schedule({
      notEligibleReason: () => 'no /proc/diskstats here',
      collect: () => Promise.resolve({}),
    });
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
    const local = new IntervalClock(0);
    const order: string[] = [];
    const offA = local.subscribe(50, () => {
      order.push('a');
      queueMicrotask(() => order.push('microtask of a'));
    });
    const offB = local.subscribe(50, () => order.push('b'));
    await sleep(60);
    expect(order.slice(0, 3)).toEqual(['a', 'b', 'microtask of a']);
    offA();
    offB();
    const seen = order.length;
    await sleep(120);
    expect(order.length).toBe(seen);
    local.stop();
  });
});

describe('IntervalClock beats of different intervals', () => {
  it('puts the beats of a longer interval on beats of the shorter one (one wake-up, not two)', async () => {
    const local = new IntervalClock(0.1234);
    const short: number[] = [];
    const long: number[] = [];
    local.subscribe(50, () => short.push(performance.now()));
    local.subscribe(100, () => long.push(performance.now()));
    await sleep(420);
    local.stop();
    expect(long.length).toBeGreaterThanOrEqual(3);
    for (const at of long) expect(Math.min(...short.map((s) => Math.abs(s - at)))).toBeLessThan(3);
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
