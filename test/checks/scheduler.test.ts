// The checks' scheduler on vitest's fake timers, driven through injected time: spread, no overlap,
// bounded concurrency with a queue, hanging runs, retry intervals, lag statistics, remove and stop.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CheckScheduler,
  type CheckSchedulerOptions,
  type CheckTime,
  type ScheduledCheck,
} from '../../agent/checks/scheduler.js';
import { CheckStateMachine } from '../../agent/checks/state-machine.js';
import type { CheckState } from '../../agent/shared/api-types.js';
import { SYSTEM_TIMERS } from '../../agent/shared/timers.js';

/** On the grid of every interval used here: a check's first run falls at its offset from T0. */
const T0 = Date.UTC(2025, 0, 1);

/** ms since T0. */
const elapsed = (): number => Date.now() - T0;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Moves the fake clock to `ms` after T0, running every timer and promise due by then. */
const advanceTo = async (ms: number): Promise<void> => {
  await vi.advanceTimersByTimeAsync(ms - elapsed());
};

/** A scheduler on the fake clock, and what its checks' runs did. */
class Lab {
  readonly scheduler: CheckScheduler;
  /** Every run's start, in order. */
  readonly starts: Array<{ name: string; at: number }> = [];
  readonly lags: Array<{ name: string; lagMs: number }> = [];
  /** Whether each timer the scheduler armed was a background one. */
  readonly backgrounds: boolean[] = [];
  private active = 0;
  maxActive = 0;
  private readonly activeByName = new Map<string, number>();
  maxActiveOfOneCheck = 0;

  /**
   * `immediates`: the next turns of the event loop are the test's to run (each callback pushed
   * there); else the fake timers run them.
   */
  constructor(
    options: Partial<CheckSchedulerOptions> & { maxConcurrent: number },
    immediates?: Array<() => void>,
  ) {
    const time: CheckTime = {
      timers: {
        setTimeout: (callback, delayMs, background) => {
          this.backgrounds.push(background === true);
          return SYSTEM_TIMERS.setTimeout(callback, delayMs, background);
        },
        clearTimeout: (handle) => SYSTEM_TIMERS.clearTimeout(handle),
        setImmediate: (callback) =>
          immediates ? immediates.push(callback) : SYSTEM_TIMERS.setImmediate(callback),
      },
      now: () => Date.now(),
      monotonicNow: () => Date.now(),
    };
    this.scheduler = new CheckScheduler({
      time,
      onLag: (name, lagMs) => this.lags.push({ name, lagMs }),
      ...options,
    });
  }

  /** Adds a check whose runs take `runMs` ('hang': never end). */
  add(name: string, intervalMs: number, runMs: number | 'hang', nextDelayMs?: () => number): ScheduledCheck {
    const check: ScheduledCheck = {
      name,
      intervalMs,
      nextDelayMs: nextDelayMs ?? (() => intervalMs),
      run: async () => {
        this.starts.push({ name, at: elapsed() });
        this.active++;
        const ofThisCheck = (this.activeByName.get(name) ?? 0) + 1;
        this.activeByName.set(name, ofThisCheck);
        this.maxActive = Math.max(this.maxActive, this.active);
        this.maxActiveOfOneCheck = Math.max(this.maxActiveOfOneCheck, ofThisCheck);
        // 0: done at once, in the same instant (a fake 0 ms timer set while timers fire waits 1 ms).
        if (runMs === 'hang') await new Promise<void>(() => {});
        else if (runMs > 0) await sleep(runMs);
        this.active--;
        this.activeByName.set(name, ofThisCheck - 1);
      },
    };
    this.scheduler.add(check);
    return check;
  }

  startsOf(name: string): number[] {
    return this.starts.filter((start) => start.name === name).map((start) => start.at);
  }

  /** When the check falls due, in ms after T0. */
  dueOf(name: string): number {
    const at = this.scheduler.nextRunAt(name);
    if (at === undefined) throw new Error(`${name} has no next run`);
    return at - T0;
  }
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('spread', () => {
  const names = Array.from({ length: 100 }, (_, i) => `check-${i}`);

  it('spreads 100 checks of 10 s over the interval: first runs within it, as a hash spreads them', async () => {
    const lab = new Lab({ maxConcurrent: 1000 });
    for (const name of names) lab.add(name, 10_000, 0);
    await advanceTo(9_999);

    const firstRuns = names.map((name) => lab.startsOf(name));
    expect(firstRuns.every((runs) => runs.length === 1)).toBe(true);
    const at = firstRuns.flat();
    expect(Math.min(...at)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...at)).toBeLessThan(10_000);
    // 100 uniform draws over 1,000 buckets of 10 ms fill 95.2 on average (4.8 shared by chance).
    expect(new Set(at.map((ms) => Math.floor(ms / 10))).size).toBeGreaterThanOrEqual(88);
    // Each second of the interval gets its share (10 on average), none a crowd, none empty.
    const perSecond = Array.from(
      { length: 10 },
      (_, s) => at.filter((ms) => Math.floor(ms / 1000) === s).length,
    );
    expect(Math.min(...perSecond)).toBeGreaterThanOrEqual(3);
    expect(Math.max(...perSecond)).toBeLessThanOrEqual(20);
    // And every check runs again one interval later.
    await advanceTo(19_999);
    expect(names.every((name) => lab.startsOf(name).length === 2)).toBe(true);
    expect(names.every((name) => lab.dueOf(name) % 10_000 === (lab.startsOf(name)[0] ?? -1))).toBe(true);
  });

  it('gives a check the same offset after a restart or a reload, and another on a node of another seed', async () => {
    const first = new Lab({ maxConcurrent: 1000, phaseSeed: 'node-a' });
    for (const name of names) first.add(name, 10_000, 0);
    const offsets = names.map((name) => first.dueOf(name));
    first.scheduler.stop();

    await advanceTo(3_700); // the agent restarts 3.7 s later
    const restarted = new Lab({ maxConcurrent: 1000, phaseSeed: 'node-a' });
    for (const name of names) restarted.add(name, 10_000, 0);
    expect(names.map((name) => restarted.dueOf(name) % 10_000)).toEqual(offsets);
    expect(names.every((name) => restarted.dueOf(name) >= 3_700 && restarted.dueOf(name) < 13_700)).toBe(
      true,
    );

    const otherNode = new Lab({ maxConcurrent: 1000, phaseSeed: 'node-b' });
    for (const name of names) otherNode.add(name, 10_000, 0);
    const same = names.filter((name, i) => otherNode.dueOf(name) % 10_000 === offsets[i]).length;
    expect(same).toBeLessThan(5);
  });
});

describe('start windows', () => {
  const names = Array.from({ length: 300 }, (_, i) => `window-${i}`);

  it('starts the runs due within a window together, never late, at most the window early, on their cadence', async () => {
    const lab = new Lab({ maxConcurrent: 1000, startWindowMs: 1_000 });
    for (const name of names) lab.add(name, 60_000, 0);
    const dues = new Map(names.map((name) => [name, lab.dueOf(name)]));
    // One timer per window holding a due, not one per check.
    expect(lab.backgrounds.length).toBeLessThanOrEqual(60);
    expect(lab.backgrounds.length).toBeGreaterThanOrEqual(55); // 300 dues leave few of 60 windows empty

    await advanceTo(119_999);
    for (const name of names) {
      const due = dues.get(name) ?? -1;
      const starts = lab.startsOf(name);
      expect(starts).toHaveLength(2);
      // Each start is the beginning of the second its due falls in: early by less than 1 s.
      expect(starts).toEqual([Math.floor(due / 1_000) * 1_000, Math.floor(due / 1_000) * 1_000 + 60_000]);
      // The check keeps its due times (its offset): early starts do not drift it.
      expect(lab.dueOf(name)).toBe(due + 120_000);
    }
    expect(new Set(lab.starts.map((start) => start.at)).size).toBeLessThanOrEqual(120);
    // A start before the due is no lag.
    expect(lab.lags.every((lag) => lag.lagMs === 0)).toBe(true);
  });

  it('narrows the window to 5% of a short delay (halving it), so a 2 s check starts at most 62.5 ms early', async () => {
    const lab = new Lab({ maxConcurrent: 1000, startWindowMs: 1_000 });
    const short = names.slice(0, 50);
    for (const name of short) lab.add(name, 2_000, 0);
    const dues = new Map(short.map((name) => [name, lab.dueOf(name)]));
    await advanceTo(1_999);
    for (const name of short) {
      const due = dues.get(name) ?? -1;
      // Windows start on whole ms.
      expect(lab.startsOf(name)).toEqual([Math.floor(Math.floor(due / 62.5) * 62.5)]);
    }
  });

  it('starts a burst 64 runs per turn of the event loop, the rest in the next turns, none lost', () => {
    const immediates: Array<() => void> = [];
    const lab = new Lab({ maxConcurrent: 5000, startWindowMs: 20_000 }, immediates);
    // 2,000 checks of 400 s in windows of 20 s (5% of 400 s): about 100 start in each.
    const many = Array.from({ length: 2_000 }, (_, i) => `burst-${i}`);
    for (const name of many) lab.add(name, 400_000, 'hang');
    const windowOf = (name: string): number => Math.floor(lab.dueOf(name) / 20_000) * 20_000;
    const firstWindow = Math.min(...many.map(windowOf));
    const inFirst = many.filter((name) => windowOf(name) === firstWindow);
    expect(inFirst.length).toBeGreaterThan(64);
    vi.advanceTimersByTime(firstWindow - elapsed());
    expect(lab.starts).toHaveLength(Math.min(64, inFirst.length));
    while (immediates.length > 0) immediates.shift()!();
    expect(lab.starts).toHaveLength(inFirst.length);
  });

  it('a run asked for now leaves its window; a window left empty drops its timer', async () => {
    const lab = new Lab({ maxConcurrent: 10, startWindowMs: 1_000 });
    lab.add('alone', 60_000, 0);
    expect(vi.getTimerCount()).toBe(1);
    await lab.scheduler.runNow('alone');
    await vi.advanceTimersByTimeAsync(0); // the turn after the start
    // Its window is empty: gone; the run after this one waits in a window of its own.
    expect(lab.startsOf('alone')).toEqual([0]);
    expect(vi.getTimerCount()).toBe(1);
    lab.scheduler.remove('alone');
    expect(vi.getTimerCount()).toBe(0);
    expect(() => new Lab({ maxConcurrent: 1, startWindowMs: -1 })).toThrow(
      "the checks' start window must be 0 ms or more, not -1",
    );
  });
});

describe('one run of a check at a time', () => {
  it('skips a due that falls while the previous run still runs, and reschedules from its end', async () => {
    const lab = new Lab({ maxConcurrent: 4 });
    lab.add('slow', 10_000, 25_000);
    const first = lab.dueOf('slow');
    await advanceTo(first + 96_000);
    // Each 25 s run covers its next due (10 s later): skipped, the next falls 10 s after the end.
    expect(lab.startsOf('slow')).toEqual([first, first + 35_000, first + 70_000]);
    expect(lab.maxActiveOfOneCheck).toBe(1);
    expect(lab.scheduler.stats().skipped).toBe(3);
    expect(lab.dueOf('slow')).toBe(first + 105_000);
  });

  it('runNow during a run waits for a run that starts after the call, never a second one at once', async () => {
    const lab = new Lab({ maxConcurrent: 4 });
    lab.add('five', 60_000, 5_000);
    const first = lab.dueOf('five');
    await advanceTo(first + 1_000);
    let answeredAt: number | undefined;
    void lab.scheduler.runNow('five').then(() => (answeredAt = elapsed()));

    await advanceTo(first + 5_000); // the run under way ends: not the one asked for
    expect(answeredAt).toBeUndefined();
    expect(lab.startsOf('five')).toEqual([first, first + 5_000]); // the asked run starts at once
    await advanceTo(first + 10_000);
    expect(answeredAt).toBe(first + 10_000);
    expect(lab.maxActiveOfOneCheck).toBe(1);
    // The regular runs resume one interval after the asked one.
    expect(lab.dueOf('five')).toBe(first + 65_000);
  });

  it('runNow on an idle check runs it at once and answers when it ends', async () => {
    const lab = new Lab({ maxConcurrent: 4 });
    lab.add('idle', 60_000, 2_000);
    let answeredAt: number | undefined;
    void lab.scheduler.runNow('idle').then(() => (answeredAt = elapsed()));
    expect(lab.startsOf('idle')).toEqual([0]);
    await advanceTo(2_000);
    expect(answeredAt).toBe(2_000);
    expect(lab.dueOf('idle')).toBe(60_000);
    await expect(lab.scheduler.runNow('nothing')).rejects.toThrow('no check named nothing is scheduled');
  });
});

describe('concurrency', () => {
  it('runs at most maxConcurrent at once; the rest wait in line by due time, none dropped', async () => {
    const lab = new Lab({ maxConcurrent: 3 });
    const names = Array.from({ length: 10 }, (_, i) => `job-${i}`);
    for (const name of names) lab.add(name, 1_000, 5_000);
    const byDue = [...names].sort((a, b) => lab.dueOf(a) - lab.dueOf(b));

    await advanceTo(999); // every job is due by now
    expect(lab.scheduler.stats()).toMatchObject({ running: 3, queued: 7 });
    await advanceTo(45_000);
    expect(lab.maxActive).toBe(3);
    expect(lab.starts.slice(0, 10).map((start) => start.name)).toEqual(byDue);
    // The fourth in line starts as the first run ends, 5 s after it started.
    expect(lab.starts[3]?.at).toBe((lab.starts[0]?.at ?? Number.NaN) + 5_000);
    expect(names.every((name) => lab.startsOf(name).length >= 2)).toBe(true);
  });

  it('runNow puts a check first in line', async () => {
    const lab = new Lab({ maxConcurrent: 1 });
    lab.add('hog', 60_000, 20_000);
    const quick = ['a', 'b', 'c'];
    for (const name of quick) lab.add(name, 10_000, 0);
    lab.add('z', 60_000, 0);
    void lab.scheduler.runNow('hog'); // takes the only slot for 20 s, from now
    const byDue = [...quick].sort((x, y) => lab.dueOf(x) - lab.dueOf(y));

    await advanceTo(15_000); // a, b, c (and maybe z) are due and wait
    let answeredAt: number | undefined;
    void lab.scheduler.runNow('z').then(() => (answeredAt = elapsed()));
    await advanceTo(20_000);
    expect(lab.starts.map((start) => `${start.name}@${start.at}`)).toEqual([
      'hog@0',
      'z@20000',
      ...byDue.map((name) => `${name}@20000`),
    ]);
    expect(answeredAt).toBe(20_000);
  });

  it('a run that never ends holds its own slot only: the others run on time', async () => {
    const lab = new Lab({ maxConcurrent: 3 });
    lab.add('hang-1', 10_000, 'hang');
    lab.add('hang-2', 10_000, 'hang');
    const quick = Array.from({ length: 20 }, (_, i) => `quick-${i}`);
    for (const name of quick) lab.add(name, 10_000, 5);

    await advanceTo(59_999);
    expect(lab.startsOf('hang-1')).toHaveLength(1);
    expect(lab.startsOf('hang-2')).toHaveLength(1);
    expect(quick.every((name) => lab.startsOf(name).length === 6)).toBe(true);
    // Quick runs only ever wait for one another (5 ms each, when offsets fall that close).
    const quickLags = lab.lags.filter((lag) => lag.name.startsWith('quick-')).map((lag) => lag.lagMs);
    expect(quickLags).toHaveLength(120);
    expect(Math.max(...quickLags)).toBeLessThan(50);
    expect(lab.scheduler.stats()).toMatchObject({ running: 2, queued: 0 });
  });
});

describe('retry interval', () => {
  it('asks the delay after each run: retry_interval while the state machine says soft', async () => {
    const lab = new Lab({ maxConcurrent: 4 });
    const machine = new CheckStateMachine(3);
    const results: CheckState[] = ['ok', 'critical', 'critical', 'critical', 'critical', 'ok', 'ok'];
    let index = 0;
    lab.scheduler.add({
      name: 'web',
      intervalMs: 60_000,
      nextDelayMs: () => (machine.retrying ? 10_000 : 60_000),
      run: () => {
        lab.starts.push({ name: 'web', at: elapsed() });
        machine.record(results[index++] ?? 'ok', Date.now());
        return Promise.resolve();
      },
    });
    const first = lab.dueOf('web');
    await advanceTo(first + 260_000);
    const starts = lab.startsOf('web');
    const gaps = starts.slice(1).map((at, i) => at - (starts[i] ?? 0));
    // OK: 60 s; soft 1 and soft 2: 10 s; hard (3/3), still hard, OK: 60 s.
    expect(gaps).toEqual([60_000, 10_000, 10_000, 60_000, 60_000, 60_000]);
  });
});

describe('lag statistics', () => {
  it('measures each start against its due time (onLag, p50 and p99)', async () => {
    const lab = new Lab({ maxConcurrent: 1 });
    expect(lab.scheduler.stats()).toMatchObject({ lagP50Ms: 0, lagP99Ms: 0, started: 0 });
    lab.add('blocker', 10_000, 10_000);
    const quick = ['q1', 'q2', 'q3', 'q4', 'q5'];
    for (const name of quick) lab.add(name, 10_000, 0);
    const dues = new Map(quick.map((name) => [name, lab.dueOf(name)]));
    void lab.scheduler.runNow('blocker'); // holds the only slot from 0 to 10 s: every q waits for it

    await advanceTo(10_000);
    const expected = [
      { name: 'blocker', lagMs: 0 },
      ...quick.map((name) => ({ name, lagMs: 10_000 - (dues.get(name) ?? 0) })),
    ];
    expect([...lab.lags].sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      expected.sort((a, b) => a.name.localeCompare(b.name)),
    );
    const sorted = expected.map((lag) => lag.lagMs).sort((a, b) => a - b);
    // Nearest rank of 6: p50 is the 3rd smallest, p99 the largest.
    expect(lab.scheduler.stats()).toMatchObject({
      lagP50Ms: sorted[2],
      lagP99Ms: sorted[5],
      started: 6,
      skipped: 1, // the blocker's next due (10 s) passed as its run ended
      running: 0,
    });
    expect(lab.dueOf('blocker')).toBe(20_000);
  });
});

describe('remove and stop', () => {
  it('remove: no further runs; a waiting runNow is refused, one under way answers', async () => {
    const lab = new Lab({ maxConcurrent: 1 });
    lab.add('hog', 60_000, 5_000);
    lab.add('gone', 10_000, 0);
    void lab.scheduler.runNow('hog');
    const refused = lab.scheduler.runNow('gone'); // in line behind hog
    const answered = lab.scheduler.runNow('hog'); // the run after the one under way
    lab.scheduler.remove('gone');
    await expect(refused).rejects.toThrow('check gone was removed before it ran');
    expect(lab.scheduler.nextRunAt('gone')).toBeUndefined();

    await advanceTo(6_000);
    lab.scheduler.remove('hog'); // its second run is under way: it ends, and answers
    await advanceTo(60_000);
    await expect(answered).resolves.toBeUndefined();
    expect(lab.startsOf('hog')).toEqual([0, 5_000]);
    expect(lab.startsOf('gone')).toEqual([]);
    await expect(lab.scheduler.runNow('gone')).rejects.toThrow('no check named gone is scheduled');
    expect(lab.scheduler.stats()).toMatchObject({ running: 0, queued: 0 });
  });

  it('a check removed and added again while its run still runs waits for that run to end', async () => {
    const lab = new Lab({ maxConcurrent: 4 });
    lab.add('disk', 10_000, 30_000);
    const first = lab.dueOf('disk');
    await advanceTo(first + 1_000);
    lab.scheduler.remove('disk');
    lab.add('disk', 10_000, 0); // a reload: same name, same offset, due at first + 10 s
    expect(lab.dueOf('disk')).toBe(first + 10_000);

    await advanceTo(first + 60_000);
    // The old run ends at first + 30 s; the new check's due passed meanwhile: 10 s after that end.
    expect(lab.startsOf('disk')).toEqual([first, first + 40_000, first + 50_000, first + 60_000]);
    expect(lab.maxActiveOfOneCheck).toBe(1);
  });

  it('stop: no further runs, no timers left, waiting runNow refused; a run under way ends', async () => {
    const lab = new Lab({ maxConcurrent: 1 });
    lab.add('long', 60_000, 3_000);
    lab.add('next', 60_000, 0);
    void lab.scheduler.runNow('long');
    const refused = lab.scheduler.runNow('next');
    lab.scheduler.stop();
    await expect(refused).rejects.toThrow('the checks scheduler stopped');
    await advanceTo(3_000);
    expect(lab.scheduler.stats()).toMatchObject({ running: 0, queued: 0 });
    expect(vi.getTimerCount()).toBe(0);
    lab.add('late', 10_000, 0); // a reload that comes after the stop adds nothing
    await advanceTo(120_000);
    expect(lab.starts.map((start) => start.name)).toEqual(['long']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('arms background timers only (they never hold a stopping agent)', async () => {
    const lab = new Lab({ maxConcurrent: 2 });
    for (const name of ['a', 'b', 'c']) lab.add(name, 1_000, 10);
    await advanceTo(10_000);
    expect(lab.backgrounds.length).toBeGreaterThan(20);
    expect(lab.backgrounds.every(Boolean)).toBe(true);
  });
});

describe('guards', () => {
  it('a run that throws or rejects is reported and the check stays scheduled', async () => {
    const errors: string[] = [];
    const lab = new Lab({
      maxConcurrent: 2,
      onRunError: (name, error) => errors.push(`${name}: ${String(error)}`),
    });
    let runs = 0;
    const broken = (name: string, fail: () => Promise<void>): ScheduledCheck => ({
      name,
      intervalMs: 10_000,
      nextDelayMs: () => Number.NaN, // no usable delay either: the interval serves
      run: () => {
        runs++;
        return fail();
      },
    });
    lab.scheduler.add(
      broken('throws', () => {
        throw new Error('sync bug');
      }),
    );
    lab.scheduler.add(broken('rejects', () => Promise.reject(new Error('async bug'))));
    await advanceTo(29_999);
    expect(runs).toBe(6);
    expect(errors.sort()).toEqual([
      'rejects: Error: async bug',
      'rejects: Error: async bug',
      'rejects: Error: async bug',
      'throws: Error: sync bug',
      'throws: Error: sync bug',
      'throws: Error: sync bug',
    ]);
  });

  it('refuses a second check of one name, a bad interval and a bad concurrency', () => {
    const lab = new Lab({ maxConcurrent: 1 });
    lab.add('one', 10_000, 0);
    expect(() => lab.add('one', 10_000, 0)).toThrow('check one is already scheduled');
    expect(() => lab.add('zero', 0, 0)).toThrow(
      'check zero: the interval must be a positive number of ms, not 0',
    );
    expect(() => new CheckScheduler({ maxConcurrent: 0 })).toThrow(
      /concurrency must be a whole number of 1 or more, not 0/,
    );
  });
});
