// POST /agent/evaluator/eval's own rules, its handler called directly: the body is validated
// against a schema (no cast), each caller may have max_evaluations_per_caller evaluations in
// flight (429 beyond), and a full regexp queue is 503; both messages say when to retry.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { HttpError, type RequestContext, type Route } from '../../agent/shared/http.js';
import { Evaluator } from '../../agent/evaluator/index.js';
import { evaluatorRoutes } from '../../agent/evaluator/routes.js';
import { fakeProviders, fixtureRoot, ManualTimers, removeFixtureRoots } from './helpers.js';

const root = fixtureRoot({ '/long': `${'a'.repeat(40)}!\n` });
const REDOS = "grep_file('^(a+)+$', '/long', True)";
const evaluators: Evaluator[] = [];

afterEach(async () => {
  await Promise.all(evaluators.splice(0).map((evaluator) => evaluator.close()));
});
afterAll(removeFixtureRoots);

function setup(
  limit: number,
  regexp = {},
): { call: (caller: string, body: unknown) => Promise<unknown>; timers: ManualTimers; evaluator: Evaluator } {
  const timers = new ManualTimers();
  const evaluator = new Evaluator(fakeProviders({ root }), {
    timers,
    regexp: { timeoutMs: 1000, ...regexp },
  });
  evaluators.push(evaluator);
  const route = evaluatorRoutes(evaluator, { maxEvaluationsPerCaller: () => limit }).find(
    (candidate) => candidate.path === '/agent/evaluator/eval',
  ) as Route;
  const call = (caller: string, body: unknown) =>
    Promise.resolve().then(() =>
      route.handler({
        params: {},
        query: new URLSearchParams(),
        body,
        principal: { name: caller, role: 'admin' },
        connection: { local: true, reachedAt: 'unix:' },
        rawPath: '/agent/evaluator/eval',
        signal: new AbortController().signal,
      } satisfies RequestContext),
    );
  return { call, timers, evaluator };
}

/** The HttpError a call fails with. */
async function httpError(promise: Promise<unknown>): Promise<HttpError> {
  const error = await promise.then(
    (value) => new Error(`answered ${JSON.stringify(value)}`),
    (caught: unknown) => caught as Error,
  );
  expect(error).toBeInstanceOf(HttpError);
  return error as HttpError;
}

/** Waits until `count` evaluations run in the regexp pool (their file read is real I/O). */
async function running(evaluator: Evaluator, count: number): Promise<void> {
  await expect.poll(() => evaluator.load().regexp.busy, { timeout: 10_000, interval: 5 }).toBe(count);
}

describe('POST /agent/evaluator/eval', () => {
  it.each([
    [undefined, 'body: must have required property \'expression\'; expected {"expression": "..."}'],
    [{}, "body: must have required property 'expression'"],
    [{ expression: 5 }, 'expression: must be string'],
    [{ expression: '  ' }, 'expression: must match pattern'],
    [{ expression: '1', extra: true }, 'unknown field "extra"'],
    [['1 + 1'], 'body: must be object'],
  ])('answers 400 to the body %j', async (body, message) => {
    const { call } = setup(4);
    const error = await httpError(call('local-token', body));
    expect(error.status).toBe(400);
    expect(error.message).toContain(message);
  });

  it('evaluates a valid body, and answers 422 for an expression that fails', async () => {
    const { call } = setup(4);
    expect(await call('local-token', { expression: '1 + 1' })).toEqual({
      expression: '1 + 1',
      value: 2,
      references: [],
    });
    const error = await httpError(call('local-token', { expression: 'log(0)' }));
    expect(error.status).toBe(422);
    expect(error.message).toContain('unknown: log(0) is infinite');
  });

  it("answers 429 to a caller's evaluations beyond the limit, not to other callers", async () => {
    const { call, timers, evaluator } = setup(2, { workers: 4 });
    const held = [call('token:a', { expression: REDOS }), call('token:a', { expression: REDOS })];
    const refused = await httpError(call('token:a', { expression: '1' }));
    expect(refused.status).toBe(429);
    expect(refused.message).toBe(
      'too many evaluations in flight for token:a (limit 2, evaluator.max_evaluations_per_caller); retry in 1 s',
    );
    expect(refused.headers).toEqual({ 'Retry-After': '1' });
    expect(await call('token:b', { expression: '1' })).toMatchObject({ value: 1 });
    await running(evaluator, 2);
    timers.advance(1000);
    for (const error of await Promise.all(held.map(httpError))) expect(error.status).toBe(422);
    // Slots are given back when evaluations end.
    expect(await call('token:a', { expression: '2' })).toMatchObject({ value: 2 });
  });

  it('answers 503 when the regexp queue is full', async () => {
    const { call, timers, evaluator } = setup(4, { workers: 1, queueJobs: 0 });
    const first = call('token:a', { expression: REDOS });
    await running(evaluator, 1);
    const busy = await httpError(call('token:b', { expression: REDOS }));
    expect(busy.status).toBe(503);
    expect(busy.message).toContain('the regular-expression workers are busy');
    expect(busy.message).toContain('retry in 1 s');
    expect(busy.headers).toEqual({ 'Retry-After': '1' });
    timers.advance(1000);
    expect((await httpError(first)).status).toBe(422);
  });
});
