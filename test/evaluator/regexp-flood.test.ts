// Issue 10: 200 concurrent `grep_file('^(a+)+$', FILE, True)` made ~97 threads and 660 MB, one
// worker thread per call. Through the evaluator now: at most evaluator.regexp.workers threads,
// the queue's excess refused at once as busy (EvaluatorBusyError), every call settled, the event
// loop free throughout, and no worker left once the pool is closed.
import { afterAll, describe, expect, it } from 'vitest';
import { Evaluator, EvaluatorBusyError, ExpressionError } from '../../agent/evaluator/index.js';
import { fakeProviders, fixtureRoot, removeFixtureRoots, threadCount } from './helpers.js';

afterAll(removeFixtureRoots);

const root = fixtureRoot({ '/var/log/long': `${'a'.repeat(40)}!\n` });
const CALLS = 200;

describe('200 concurrent catastrophic regexps through the evaluator', () => {
  it('use at most 2 worker threads, refuse the excess as busy, and keep the event loop free', async () => {
    const evaluator = new Evaluator(fakeProviders({ root }), {
      // The default pool (2 workers, 32 waiting), with a short deadline to keep the test short.
      regexp: { timeoutMs: 150 },
    });
    // libuv's pool threads start with the first file read: count them in the baseline.
    expect(await evaluator.evaluate("grep('a', '/var/log/long')")).toBe(true);
    const baselineThreads = threadCount();

    let maxThreads = baselineThreads;
    let maxPoolThreads = 0;
    let maxHeld = 0;
    let ticks = 0;
    const sampler = setInterval(() => {
      ticks++;
      maxThreads = Math.max(maxThreads, threadCount());
      const { regexp } = evaluator.load();
      maxPoolThreads = Math.max(maxPoolThreads, regexp.threads);
      maxHeld = Math.max(maxHeld, regexp.busy + regexp.queued);
    }, 10);
    const startedMs = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: CALLS }, () =>
        evaluator.evaluate("grep_file('^(a+)+$', '/var/log/long', True)").then(
          (value) => new Error(`matched: ${String(value)}`),
          (error: unknown) => error as Error,
        ),
      ),
    );
    const elapsedMs = Date.now() - startedMs;
    clearInterval(sampler);

    const busy = outcomes.filter((error) => error instanceof EvaluatorBusyError);
    const expired = outcomes.filter(
      (error) => error instanceof ExpressionError && error.message.includes('ran longer than 150 ms'),
    );
    // At most 2 running and 32 waiting at any time; each admitted job ran into its deadline. The
    // rest: busy, at once. The calls reach the pool after their file reads, which a loaded machine
    // spreads out: a slot freed by an expired job meanwhile admits one more, so the count of
    // admitted jobs is not exactly 34, but what the pool holds never exceeds it.
    expect(busy.length + expired.length).toBe(CALLS);
    expect(maxHeld).toBeGreaterThan(0);
    expect(maxHeld).toBeLessThanOrEqual(34);
    expect(busy.length).toBeGreaterThanOrEqual(CALLS / 2);
    expect(busy[0]?.message).toContain('the regular-expression workers are busy');
    expect(maxPoolThreads).toBeLessThanOrEqual(2);
    // Threads of this process: the baseline plus the pool's 2 (and one V8 may add for a moment).
    expect(maxThreads - baselineThreads).toBeLessThanOrEqual(3);
    // 34 jobs of 150 ms on 2 workers: about 2.6 s; the event loop ran all along.
    expect(elapsedMs).toBeLessThan(15_000);
    expect(ticks).toBeGreaterThan(elapsedMs / 10 / 4);

    await evaluator.close();
    expect(evaluator.load().regexp.threads).toBe(0);
    expect(threadCount()).toBeLessThanOrEqual(baselineThreads);
  });
});
