// The check history on the store (agent/checks/level-history.ts), on a real LevelDB: each check's
// ring of results and list of changes bounded and newest first, the latest status written with its
// result, everything back after close and reopen, forget(), and trimming without reading the ring;
// results written in groups, a change at once with them, one group at a time.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LevelCheckHistory, type LevelHistoryOptions } from '../../agent/checks/level-history.js';
import type { CheckResultRecord, CheckStateChange, CheckStatus } from '../../agent/shared/api-types.js';
import { type KeyRange, type Namespace, openStore, prefixOf, type Store } from '../../agent/store/index.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';
import { ManualTimers } from '../helpers/manual-timers.js';

const opened: Store[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close().catch(() => undefined);
  cleanupAll();
});

async function openHistory(dataDir: string, options: LevelHistoryOptions = {}) {
  const store = await openStore(dataDir);
  opened.push(store);
  const namespace = store.sublevel('checks');
  return { store, namespace, history: new LevelCheckHistory(namespace, options) };
}

async function close(store: Store): Promise<void> {
  opened.splice(opened.indexOf(store), 1);
  await store.close();
}

const START_MS = Date.parse('2026-01-01T00:00:00Z');

function resultOf(n: number): CheckResultRecord {
  return {
    at: new Date(START_MS + n * 10_000).toISOString(),
    state: 'ok',
    state_type: 'hard',
    attempt: 1,
    output: `run ${n}`,
    perfdata: [{ label: 'n', value: n, uom: '' }],
    duration_ms: n,
  };
}

function statusOf(check: string, n: number): CheckStatus {
  return {
    name: check,
    type: 'evaluated',
    state: 'ok',
    state_type: 'hard',
    attempt: 1,
    max_attempts: 3,
    last_hard_state: 'ok',
    output: `run ${n}`,
    perfdata: [],
    last_run_at: new Date(START_MS + n * 10_000).toISOString(),
    flapping: false,
    percent_state_change: 0,
    recent_states: ['ok'],
    interval_s: 10,
    retry_interval_s: 10,
    handlers: [],
  };
}

function changeOf(check: string, n: number): CheckStateChange {
  return {
    check,
    at: new Date(START_MS + n * 10_000).toISOString(),
    from: n % 2 === 0 ? 'ok' : 'critical',
    to: n % 2 === 0 ? 'critical' : 'ok',
    state_type: 'hard',
    attempt: 1,
    output: `change ${n}`,
  };
}

async function addResults(
  history: LevelCheckHistory,
  check: string,
  from: number,
  to: number,
): Promise<void> {
  for (let n = from; n < to; n++) await history.addResult(check, resultOf(n), statusOf(check, n));
}

/** Keys actually in the store under a prefix: what the ring holds on disk, not what a read returns. */
async function keysUnder(namespace: Namespace, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of namespace.keys(prefix === undefined ? {} : { prefix })) keys.push(key);
  return keys;
}

const outputs = (records: { output: string }[]) => records.map((record) => record.output);

/** `count` outputs from `label newest` down: what a history reads newest first. */
const countdown = (label: string, newest: number, count: number) =>
  Array.from({ length: count }, (_, n) => `${label} ${newest - n}`);

describe('LevelCheckHistory', () => {
  it('keeps the newest resultsPerCheck results of each check, newest first, and no more on disk', async () => {
    const { namespace, history } = await openHistory(tempDir(), { resultsPerCheck: 5 });
    await addResults(history, 'cpu', 0, 12);
    await addResults(history, 'disk', 0, 3);
    expect(outputs(await history.recentResults('cpu', 100))).toEqual(countdown('run', 11, 5));
    expect(outputs(await history.recentResults('cpu', 2))).toEqual(['run 11', 'run 10']);
    expect(await history.recentResults('cpu', 0)).toEqual([]);
    expect(outputs(await history.recentResults('disk', 100))).toEqual(countdown('run', 2, 3));
    expect(await history.recentResults('never-ran', 10)).toEqual([]);
    expect(await keysUnder(namespace, prefixOf('result', 'cpu'))).toHaveLength(5);
    // A result reads back as written.
    expect((await history.recentResults('cpu', 1))[0]).toStrictEqual(resultOf(11));
  });

  it('keeps the newest changesPerCheck state changes, newest first', async () => {
    const { namespace, history } = await openHistory(tempDir(), { changesPerCheck: 3 });
    for (let n = 0; n < 7; n++) await history.addChange(changeOf('cpu', n));
    await history.addChange(changeOf('disk', 0));
    expect(outputs(await history.changes('cpu', 10))).toEqual(countdown('change', 6, 3));
    expect((await history.changes('cpu', 1))[0]).toStrictEqual(changeOf('cpu', 6));
    expect(outputs(await history.changes('disk', 10))).toEqual(['change 0']);
    expect(await keysUnder(namespace, prefixOf('change', 'cpu'))).toHaveLength(3);
  });

  it('defaults to 100 results and 1,000 changes per check', async () => {
    const { history } = await openHistory(tempDir());
    await addResults(history, 'cpu', 0, 103);
    for (let n = 0; n < 1_002; n++) await history.addChange(changeOf('cpu', n));
    const results = await history.recentResults('cpu', 1_000);
    expect(results).toHaveLength(100);
    expect(results.at(-1)!.output).toBe('run 3');
    const changes = await history.changes('cpu', 5_000);
    expect(changes).toHaveLength(1_000);
    expect(changes.at(-1)!.output).toBe('change 2');
  });

  it('gives back every status, result and change after close and reopen, and goes on from there', async () => {
    const dataDir = tempDir();
    const first = await openHistory(dataDir, { resultsPerCheck: 5, changesPerCheck: 4 });
    await addResults(first.history, 'cpu', 0, 7);
    await addResults(first.history, 'web/api', 0, 2);
    for (let n = 0; n < 6; n++) await first.history.addChange(changeOf('cpu', n));
    await close(first.store);

    const second = await openHistory(dataDir, { resultsPerCheck: 5, changesPerCheck: 4 });
    expect(await second.history.lastStatuses()).toEqual(
      new Map([
        ['cpu', statusOf('cpu', 6)],
        ['web/api', statusOf('web/api', 1)],
      ]),
    );
    expect(outputs(await second.history.recentResults('cpu', 10))).toEqual(countdown('run', 6, 5));
    // The rings go on after the newest entry on disk: nothing overwritten, the oldest trimmed.
    await addResults(second.history, 'cpu', 7, 9);
    await second.history.addChange(changeOf('cpu', 6));
    expect(outputs(await second.history.recentResults('cpu', 10))).toEqual(countdown('run', 8, 5));
    expect(outputs(await second.history.changes('cpu', 10))).toEqual(countdown('change', 6, 4));
    expect(await keysUnder(second.namespace, prefixOf('result', 'cpu'))).toHaveLength(5);
    expect(await keysUnder(second.namespace, prefixOf('change', 'cpu'))).toHaveLength(4);
  });

  it('trims a ring to a bound lowered since it was written, at its next result', async () => {
    const dataDir = tempDir();
    const first = await openHistory(dataDir, { resultsPerCheck: 10 });
    await addResults(first.history, 'cpu', 0, 10);
    await close(first.store);
    const second = await openHistory(dataDir, { resultsPerCheck: 4 });
    await addResults(second.history, 'cpu', 10, 11);
    expect(outputs(await second.history.recentResults('cpu', 100))).toEqual(countdown('run', 10, 4));
    expect(await keysUnder(second.namespace, prefixOf('result', 'cpu'))).toHaveLength(4);
  });

  it('with a status interval, writes a status once per interval or with a change, and reads it back brought up to the newest result', async () => {
    const dataDir = tempDir();
    const clock = { ms: START_MS };
    const options = { statusEveryMs: 60_000, now: () => clock.ms };
    const counted = (n: number): CheckStatus => ({
      ...statusOf('web', n),
      counters: {
        pass: n + 1,
        fail: 0,
        repeated_fails: 0,
        network_fails: 0,
        http_2xx: n + 1,
        http_3xx: 0,
        http_4xx: 0,
        http_5xx: 0,
      },
    });
    const first = await openHistory(dataDir, options);
    let built = 0;
    const add = (n: number, statusNow = false) =>
      first.history.addResult('web', resultOf(n), () => (built++, counted(n)), { statusNow });
    for (let n = 0; n < 4; n++) {
      clock.ms = START_MS + n * 10_000;
      await add(n);
    }
    // Only the first result's status was built and written; the ring has all four results.
    expect(built).toBe(1);
    expect(await keysUnder(first.namespace, prefixOf('status'))).toHaveLength(1);
    clock.ms = START_MS + 40_000;
    await add(4, true);
    expect(built).toBe(2);
    clock.ms = START_MS + 50_000;
    await add(5);
    clock.ms = START_MS + 100_000;
    await add(6);
    // 60 s after the status written with result 4: due again.
    expect(built).toBe(3);
    clock.ms = START_MS + 110_000;
    await add(7);
    expect(built).toBe(3);
    // A stop that does not flush (as a SIGKILL): the status is result 6's, the ring's newest is 7.
    await close(first.store);
    const second = await openHistory(dataDir, options);
    const status = (await second.history.lastStatuses()).get('web')!;
    expect(status.output).toBe('run 7');
    expect(status.last_run_at).toBe(resultOf(7).at);
    expect(status.duration_ms).toBe(7);
    expect(status.perfdata).toEqual(resultOf(7).perfdata);
    // What the ring cannot give back stays as the status written last.
    expect(status.counters!.pass).toBe(7);
    // flush() (a stop) writes the newest status, built then.
    clock.ms = START_MS + 120_000;
    await second.history.addResult('web', resultOf(8), () => counted(8));
    await second.history.addResult('web', resultOf(9), () => counted(9));
    await second.history.flush();
    await close(second.store);
    const third = await openHistory(dataDir, options);
    expect((await third.history.lastStatuses()).get('web')).toEqual(counted(9));
  });

  it('writes the status with its result: queued all at once, they land in order, the last status last', async () => {
    const { history } = await openHistory(tempDir(), { resultsPerCheck: 3 });
    await Promise.all(
      Array.from({ length: 40 }, (_, n) => history.addResult('cpu', resultOf(n), statusOf('cpu', n))),
    );
    expect(outputs(await history.recentResults('cpu', 10))).toEqual(countdown('run', 39, 3));
    expect((await history.lastStatuses()).get('cpu')!.output).toBe('run 39');
  });

  it('forget() drops the results, changes and status of the checks named, and only theirs', async () => {
    const dataDir = tempDir();
    const { store, history } = await openHistory(dataDir, { resultsPerCheck: 5 });
    for (const check of ['cpu', 'cpu/extra', 'disk']) {
      await addResults(history, check, 0, 8);
      await history.addChange(changeOf(check, 0));
    }
    await history.forget(['cpu', 'disk', 'not-defined']);
    expect([...(await history.lastStatuses()).keys()]).toEqual(['cpu/extra']);
    for (const check of ['cpu', 'disk']) {
      expect(await history.recentResults(check, 10)).toEqual([]);
      expect(await history.changes(check, 10)).toEqual([]);
    }
    expect(outputs(await history.recentResults('cpu/extra', 1))).toEqual(['run 7']);
    // Nothing of them is left on disk, after a reopen too: only cpu/extra's 5 results, change, status.
    await close(store);
    const again = await openHistory(dataDir, { resultsPerCheck: 5 });
    const everything = await keysUnder(again.namespace);
    expect(everything).toHaveLength(7);
    expect(everything.every((key) => key.split('/')[1] === 'cpu%2Fextra')).toBe(true);
    // A check defined again starts afresh.
    await addResults(again.history, 'cpu', 100, 101);
    expect(outputs(await again.history.recentResults('cpu', 10))).toEqual(['run 100']);
  });
});

describe('LevelCheckHistory: bounded work per write', () => {
  /** The namespace, counting the entries and keys its reads return. */
  function counting(namespace: Namespace) {
    const reads = { entries: 0 };
    async function* count<T>(items: AsyncIterable<T>): AsyncIterable<T> {
      for await (const item of items) {
        reads.entries += 1;
        yield item;
      }
    }
    const counted: Namespace = {
      name: namespace.name,
      get: (key) => namespace.get(key),
      write: (ops, options) => namespace.write(ops, options),
      put: (key, value, options) => namespace.put(key, value, options),
      del: (key, options) => namespace.del(key, options),
      entries: <V>(range?: KeyRange) => count(namespace.entries<V>(range)),
      keys: (range?: KeyRange) => count(namespace.keys(range)),
    };
    return { counted, reads };
  }

  it('never reads a ring to trim it: its first and last keys once after the open, then nothing', async () => {
    const dataDir = tempDir();
    const first = await openHistory(dataDir, { resultsPerCheck: 50 });
    await addResults(first.history, 'cpu', 0, 50);
    await close(first.store);

    const store = await openStore(dataDir);
    opened.push(store);
    const { counted, reads } = counting(store.sublevel('checks'));
    const history = new LevelCheckHistory(counted, { resultsPerCheck: 50 });
    await addResults(history, 'cpu', 50, 51);
    expect(reads.entries).toBe(2);
    await addResults(history, 'cpu', 51, 300);
    expect(reads.entries).toBe(2);
    expect(outputs(await history.recentResults('cpu', 2))).toEqual(['run 299', 'run 298']);
    expect(await keysUnder(counted, prefixOf('result', 'cpu'))).toHaveLength(50);
  });
});

describe('LevelCheckHistory writes in groups', () => {
  /** The namespace, with each write it is asked for recorded (its size and fsync). */
  function recordingWrites(namespace: Namespace): { ops: number; sync: boolean }[] {
    const writes: { ops: number; sync: boolean }[] = [];
    const write = namespace.write.bind(namespace);
    namespace.write = (ops, options) => {
      writes.push({ ops: ops.length, sync: options?.sync ?? false });
      return write(ops, options);
    };
    return writes;
  }

  it('gathers results for groupMs and writes them in one batch, not fsync\u2019d', async () => {
    const timers = new ManualTimers();
    const { namespace, history } = await openHistory(tempDir(), { groupMs: 1000, timers });
    const writes = recordingWrites(namespace);
    const written = ['cpu', 'disk', 'load'].map((check) =>
      history.addResult(check, resultOf(1), statusOf(check, 1)),
    );
    await vi.waitFor(() => expect(timers.delays).toEqual([1000]));
    // Gathered: nothing in the store yet.
    expect(writes).toEqual([]);
    expect(await keysUnder(namespace)).toEqual([]);
    timers.advance(1000);
    await Promise.all(written);
    // Three results and three statuses, in one write.
    expect(writes).toEqual([{ ops: 6, sync: false }]);
    expect(await keysUnder(namespace, prefixOf('status'))).toHaveLength(3);
  });

  it('writes a change at once, fsync\u2019d, with the results gathered before it', async () => {
    const timers = new ManualTimers();
    const { namespace, history } = await openHistory(tempDir(), { groupMs: 1000, timers });
    const writes = recordingWrites(namespace);
    const result = history.addResult('cpu', resultOf(1), statusOf('cpu', 1));
    await history.addChange(changeOf('cpu', 1));
    await result;
    expect(writes).toEqual([{ ops: 3, sync: true }]);
    // The group's timer went with it: nothing is left to write.
    expect(timers.size).toBe(0);
  });

  it('writes what is gathered before a read, and on flush()', async () => {
    const timers = new ManualTimers();
    const { namespace, history } = await openHistory(tempDir(), { groupMs: 60_000, timers });
    void history.addResult('cpu', resultOf(1), statusOf('cpu', 1));
    expect(outputs(await history.recentResults('cpu', 10))).toEqual(['run 1']);
    void history.addResult('cpu', resultOf(2), statusOf('cpu', 2));
    await history.flush();
    // In the store itself, not through a read of the history (which writes first anyway).
    expect(await keysUnder(namespace, prefixOf('result', 'cpu'))).toHaveLength(2);
    expect((await history.lastStatuses()).get('cpu')?.output).toBe('run 2');
  });

  it('writes one group at a time, in order: a later status is never overwritten by an earlier one', async () => {
    const { namespace, history } = await openHistory(tempDir());
    const write = namespace.write.bind(namespace);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const started: number[] = [];
    namespace.write = async (ops, options) => {
      started.push(ops.length);
      // The first group waits: the second must not be sent meanwhile.
      if (started.length === 1) await held;
      return write(ops, options);
    };
    const first = history.addResult('cpu', resultOf(1), statusOf('cpu', 1));
    const second = history.addResult('cpu', resultOf(2), statusOf('cpu', 2));
    await vi.waitFor(() => expect(started).toHaveLength(1));
    // Both results are planned (the second right after the first): only the first group is sent.
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toHaveLength(1);
    release();
    await Promise.all([first, second]);
    expect(started).toHaveLength(2);
    expect((await history.lastStatuses()).get('cpu')?.output).toBe('run 2');
    expect(outputs(await history.recentResults('cpu', 10))).toEqual(['run 2', 'run 1']);
  });
});
