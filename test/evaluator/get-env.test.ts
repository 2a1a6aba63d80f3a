// Issue 10: get_env answered any variable of the agent's environment, where its secrets are
// (OPSBRO_TOKEN, a key substituted into agent.yml). Only names listed in evaluator.env_allow are
// readable now, and names that look like secrets are refused even when listed. A refusal is an
// ExpressionError that does not tell whether the variable is set.
import { afterEach, describe, expect, it } from 'vitest';
import { Evaluator, ExpressionError } from '../../agent/evaluator/index.js';
import { DEFAULT_ENV_ALLOW, fakeProviders } from './helpers.js';

const SET_BY_TEST = ['OPSBRO_TOKEN', 'EVALUATOR_TEST_LISTED', 'EVALUATOR_TEST_UNLISTED', 'APP_DB_PASSWORD'];
afterEach(() => {
  for (const name of SET_BY_TEST) delete process.env[name];
});

function evaluatorAllowing(names: string[]): Evaluator {
  return new Evaluator(fakeProviders({ envAllowList: names }));
}

async function refusal(evaluator: Evaluator, expression: string): Promise<string> {
  const error = await evaluator.evaluate(expression).then(
    (value) => new Error(`answered ${JSON.stringify(value)}`),
    (caught: unknown) => caught as Error,
  );
  expect(error).toBeInstanceOf(ExpressionError);
  return error.message;
}

describe('get_env', () => {
  it('refuses OPSBRO_TOKEN and other unlisted names, set or not, without their value', async () => {
    process.env.OPSBRO_TOKEN = 'tok-secret-1234567890';
    process.env.EVALUATOR_TEST_UNLISTED = 'hidden-value';
    const evaluator = evaluatorAllowing(DEFAULT_ENV_ALLOW);
    const token = await refusal(evaluator, "get_env('OPSBRO_TOKEN')");
    expect(token).toContain(`get_env("OPSBRO_TOKEN"): refused: OPSBRO_TOKEN looks like it holds a secret`);
    expect(token).not.toContain('tok-secret');
    const unlisted = await refusal(evaluator, "get_env('EVALUATOR_TEST_UNLISTED', 'default')");
    expect(unlisted).toContain(
      'refused: EVALUATOR_TEST_UNLISTED is not in evaluator.env_allow (readable: PATH, HOME, LANG, LC_ALL, TZ, HOSTNAME, USER, SHELL)',
    );
    expect(unlisted).not.toContain('hidden-value');
    // The same answer for a name that is not set: a refusal tells nothing about the environment.
    expect(await refusal(evaluator, "get_env('EVALUATOR_TEST_NEVER_SET')")).toContain(
      'is not in evaluator.env_allow',
    );
  });

  it('refuses names that look like secrets even when an operator lists them', async () => {
    process.env.APP_DB_PASSWORD = 'hunter2';
    const evaluator = evaluatorAllowing([
      'APP_DB_PASSWORD',
      'OPSBRO_TOKEN',
      'AWS_SECRET_ACCESS_KEY',
      'GH_TOKEN',
    ]);
    for (const name of ['APP_DB_PASSWORD', 'OPSBRO_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'GH_TOKEN']) {
      const message = await refusal(evaluator, `get_env('${name}')`);
      expect(message).toContain('looks like it holds a secret');
      expect(message).not.toContain('hunter2');
    }
  });

  it('reads listed names, with the default when they are not set', async () => {
    process.env.EVALUATOR_TEST_LISTED = 'yes';
    const evaluator = evaluatorAllowing([...DEFAULT_ENV_ALLOW, 'EVALUATOR_TEST_LISTED']);
    expect(await evaluator.evaluate("get_env('EVALUATOR_TEST_LISTED')")).toBe('yes');
    expect(await evaluator.evaluate("get_env('PATH')")).toBe(process.env.PATH ?? '');
    expect(await evaluator.evaluate("get_env('TZ', 'UTC')")).toBe(process.env.TZ ?? 'UTC');
  });

  it('follows the allow list as it is now (a reload changes it)', async () => {
    let allowed = ['EVALUATOR_TEST_LISTED'];
    process.env.EVALUATOR_TEST_LISTED = 'yes';
    const evaluator = new Evaluator({ ...fakeProviders(), envAllowList: () => allowed });
    expect(await evaluator.evaluate("get_env('EVALUATOR_TEST_LISTED')")).toBe('yes');
    allowed = [];
    expect(await refusal(evaluator, "get_env('EVALUATOR_TEST_LISTED')")).toContain('(readable: none)');
  });
});
