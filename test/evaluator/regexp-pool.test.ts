// The regexp worker pool alone, its timers driven by the test: threads made on demand and reused,
// a worker past its deadline terminated and replaced, the queue bounded by count, bytes and wait,
// and no thread left once the pool has been idle.
import { afterEach, describe, expect, it } from 'vitest';
import { EvaluatorBusyError, ExpressionError } from '../../agent/evaluator/index.js';
import { RegexpPool, type RegexpPoolOptions } from '../../agent/evaluator/regexp/pool.js';
import { ManualTimers, waitFor } from './helpers.js';

/** Never finishes: each extra `a` doubles the backtracking. */
const REDOS = { pattern: '^(a+)+$', text: `${'a'.repeat(40)}!` };

const pools: RegexpPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

function makePool(options: Partial<RegexpPoolOptions>): { pool: RegexpPool; timers: ManualTimers } {
  const timers = new ManualTimers();
  const pool = new RegexpPool({ timers, ...options });
  pools.push(pool);
  return { pool, timers };
}

/** The promise's error, once it rejects. */
function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => new Error('resolved'),
    (error: unknown) => error as Error,
  );
}

describe('RegexpPool', () => {
  it('makes a worker on demand, reuses it, and terminates it after the idle period', async () => {
    const { pool, timers } = makePool({ workers: 2, idleMs: 30_000 });
    expect(pool.load().threads).toBe(0);
    expect(await pool.match('^b', 'a\nB', 'one')).toBe(true);
    expect(await pool.match('^c', 'a\nb', 'two')).toBe(false);
    expect(pool.load()).toMatchObject({ threads: 1, busy: 0, spawned: 1, heldBytes: 0 });
    timers.advance(29_999);
    expect(pool.load().threads).toBe(1);
    timers.advance(1);
    await waitFor(() => pool.load().threads === 0, 'the idle worker exits');
    // Work after the idle period makes a new one.
    expect(await pool.match('x', 'x', 'three')).toBe(true);
    expect(pool.load()).toMatchObject({ threads: 1, spawned: 2 });
  });

  it('terminates a worker whose regexp runs past the deadline, and serves the next job with a new one', async () => {
    const { pool, timers } = makePool({ workers: 1, timeoutMs: 500 });
    const redos = failure(pool.match(REDOS.pattern, REDOS.text, "grep_file('^(a+)+$', ...)"));
    const next = pool.match('^ok$', 'ok', 'next');
    expect(pool.load()).toMatchObject({ threads: 1, busy: 1, queued: 1 });
    timers.advance(500);
    const error = await redos;
    expect(error).toBeInstanceOf(ExpressionError);
    expect(error.message).toBe(
      "grep_file('^(a+)+$', ...): the regular expression ran longer than 500 ms; simplify it",
    );
    // The replacement starts only once the old thread is gone: never two threads at once.
    expect(pool.load().threads).toBeLessThanOrEqual(1);
    expect(await next).toBe(true);
    expect(pool.load()).toMatchObject({ threads: 1, spawned: 2, queued: 0, heldBytes: 0 });
  });

  it('refuses a job as busy at once when the queue holds queueJobs jobs', async () => {
    const { pool, timers } = makePool({ workers: 1, queueJobs: 2, timeoutMs: 1000 });
    const redos = failure(pool.match(REDOS.pattern, REDOS.text, 'redos'));
    const waiting = [pool.match('a', 'a', 'q1'), pool.match('b', 'x', 'q2')];
    const refused = await failure(pool.match('c', 'c', 'q3'));
    expect(refused).toBeInstanceOf(EvaluatorBusyError);
    expect(refused.message).toBe(
      'unknown: q3: the regular-expression workers are busy (2 regular expressions are already waiting); retry in 1 s',
    );
    expect((refused as EvaluatorBusyError).retryAfterS).toBe(1);
    timers.advance(1000);
    expect(await redos).toBeInstanceOf(ExpressionError);
    expect(await Promise.all(waiting)).toEqual([true, false]);
  });

  it('refuses a job as busy when the text held would pass queueBytes', async () => {
    // The running job holds 82 bytes (41 characters).
    const { pool, timers } = makePool({ workers: 1, queueJobs: 10, queueBytes: 100, timeoutMs: 1000 });
    const redos = failure(pool.match(REDOS.pattern, REDOS.text, 'redos'));
    expect(pool.load().heldBytes).toBe(82);
    const small = pool.match('a', 'a'.repeat(9), 'small');
    const refused = await failure(pool.match('a', 'a'.repeat(10), 'large'));
    expect(refused).toBeInstanceOf(EvaluatorBusyError);
    expect(refused.message).toContain('MB of text are already waiting');
    timers.advance(1000);
    await redos;
    expect(await small).toBe(true);
    expect(pool.load().heldBytes).toBe(0);
  });

  it('gives up a job that waited maxWaitMs for a worker, as busy', async () => {
    const { pool, timers } = makePool({ workers: 1, timeoutMs: 10_000, maxWaitMs: 2000 });
    const redos = failure(pool.match(REDOS.pattern, REDOS.text, 'redos'));
    const waited = failure(pool.match('a', 'a', 'waiting'));
    timers.advance(2000);
    const error = await waited;
    expect(error).toBeInstanceOf(EvaluatorBusyError);
    expect(error.message).toContain('waited 2 s for a free worker');
    expect(pool.load()).toMatchObject({ queued: 0, busy: 1, heldBytes: 82 });
    timers.advance(8000);
    expect(await redos).toBeInstanceOf(ExpressionError);
  });

  it('never has more threads than workers, however many jobs arrive', async () => {
    const { pool, timers } = makePool({ workers: 2, queueJobs: 5, timeoutMs: 100 });
    const outcomes = Array.from({ length: 50 }, (_, index) =>
      failure(pool.match(REDOS.pattern, REDOS.text, `job ${index}`)),
    );
    expect(pool.load()).toMatchObject({ threads: 2, busy: 2, queued: 5 });
    // Each deadline frees a slot; jobs already waiting get it, one by one.
    let maxThreads = 0;
    for (let round = 0; round < 20 && pool.load().busy > 0; round++) {
      timers.advance(100);
      await waitFor(() => pool.load().busy > 0 || pool.load().queued === 0, 'the next job starts');
      maxThreads = Math.max(maxThreads, pool.load().threads);
    }
    const errors = await Promise.all(outcomes);
    expect(errors.filter((error) => error instanceof EvaluatorBusyError)).toHaveLength(43);
    expect(errors.filter((error) => error.message.includes('ran longer than 100 ms'))).toHaveLength(7);
    expect(maxThreads).toBeLessThanOrEqual(2);
    expect(pool.load().spawned).toBe(7);
  });

  it('fails waiting jobs and leaves no thread when closed', async () => {
    const { pool } = makePool({ workers: 1 });
    const running = failure(pool.match(REDOS.pattern, REDOS.text, 'running'));
    const waiting = failure(pool.match('a', 'a', 'waiting'));
    await pool.close();
    expect((await waiting).message).toBe('waiting: the evaluator is shutting down');
    expect((await running).message).toBe('running: the regular-expression worker stopped without an answer');
    expect(pool.load()).toMatchObject({ threads: 0, queued: 0, heldBytes: 0 });
    expect((await failure(pool.match('a', 'a', 'late'))).message).toBe(
      'late: the evaluator is shutting down',
    );
  });
});
