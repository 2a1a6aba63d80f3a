// The evaluated check type against the real evaluator, with collector data given through the
// evaluator's providers: DESIGN.md's cpu check as written, default outputs, and what a failing
// expression or a missing collector value gives.
import { describe, expect, it } from 'vitest';
import type { CheckResult, CheckRunContext } from '../../agent/checks/check-type.js';
import { EVALUATED_CHECK_TYPE } from '../../agent/checks/types/evaluated.js';
import { Evaluator } from '../../agent/evaluator/index.js';
import { fakeProviders } from '../evaluator/helpers.js';
import { DESIGN_CHECK } from '../fixtures/design-examples.js';
import { IN_AGENT_SPAWNER } from '../../agent/checks/nagios/spawn-in-agent.js';

const CONTEXT: CheckRunContext = {
  signal: new AbortController().signal,
  timeoutMs: 30_000,
  node: { name: 'n1', hostname: 'n1', address: '127.0.0.1' },
};

/** One run of a check of `body` on an evaluator holding `collectors`. */
function run(
  body: Record<string, unknown>,
  collectors: Record<string, Record<string, unknown>> = {},
  packParameters: Record<string, unknown> = {},
): Promise<CheckResult> {
  const evaluator = new Evaluator(fakeProviders({ collectors }));
  const runner = EVALUATED_CHECK_TYPE.create(
    { name: 'check', body, packParameters },
    { evaluator, nagiosPluginsDir: '/usr/lib/nagios/plugins', pluginSpawner: IN_AGENT_SPAWNER },
  );
  return runner.run(CONTEXT);
}

const idle = (percent: number) => ({ cpustats: { cpuall: { '%idle': percent, '%user': 1 } } });

describe("DESIGN.md's cpu check, as written", () => {
  it('is OK at 97.5% idle, with its ok_output', async () => {
    expect(await run(DESIGN_CHECK, idle(97.5))).toEqual({
      state: 'ok',
      output: 'OK: cpu is great: 2.5%',
      perfdata: [],
    });
  });

  it('is WARNING below 5% idle ({configuration.thresholds.cpuidle.warning}), with its warning_output', async () => {
    expect(await run(DESIGN_CHECK, idle(3))).toMatchObject({
      state: 'warning',
      output: 'Warning: cpu is very high: 97%',
    });
  });

  it('is CRITICAL below 1% idle: critical_if is asked first', async () => {
    expect(await run(DESIGN_CHECK, idle(0.5))).toMatchObject({
      state: 'critical',
      output: 'Critical: cpu is too high: 99.5%',
    });
  });

  it('follows its own thresholds: a body with other values gives another state on the same data', async () => {
    const stricter = { ...DESIGN_CHECK, thresholds: { cpuidle: { warning: 50, critical: 20 } } };
    expect((await run(stricter, idle(30))).state).toBe('warning');
    expect((await run(stricter, idle(10))).state).toBe('critical');
  });

  it('is UNKNOWN with the reason while the collector has no data', async () => {
    const result = await run(DESIGN_CHECK, {});
    expect(result.state).toBe('unknown');
    expect(result.output).toMatch(/^unknown: collector\.cpustats.* is not available/);
  });
});

describe('outputs', () => {
  it('without *_output: the state and the expression that held', async () => {
    const body = { critical_if: '{collector.load.load1} > 4', warning_if: '{collector.load.load1} > 2' };
    expect((await run(body, { load: { load1: 5 } })).output).toBe(
      'CRITICAL: critical_if holds: {collector.load.load1} > 4',
    );
    expect((await run(body, { load: { load1: 3 } })).output).toBe(
      'WARNING: warning_if holds: {collector.load.load1} > 2',
    );
    expect(await run(body, { load: { load1: 1 } })).toEqual({
      state: 'ok',
      output: 'OK: neither critical_if nor warning_if holds',
      perfdata: [],
    });
  });

  it('an output expression that fails keeps the state its condition gave, and says why', async () => {
    const result = await run(
      { critical_if: 'True', critical_output: "'load %s' % {collector.load.load5}" },
      { load: { load1: 5 } },
    );
    expect(result.state).toBe('critical');
    expect(result.output).toMatch(
      /^CRITICAL: critical_if holds: True \(critical_output failed: unknown: collector\.load\.load5 .*not available/,
    );
  });

  it('a list or a number from an output expression is written as text', async () => {
    expect((await run({ warning_if: 'False', ok_output: '[1, 2]' })).output).toBe('[1,2]');
    expect((await run({ warning_if: 'False', ok_output: '6 * 7' })).output).toBe('42');
  });
});

describe('conditions', () => {
  it('are true the way Python is: 0, an empty string and an empty list are false', async () => {
    for (const falsy of ['0', "''", '[]'])
      expect((await run({ critical_if: falsy }, {})).state, falsy).toBe('ok');
    for (const truthy of ['1', "'x'", '[0]'])
      expect((await run({ critical_if: truthy }, {})).state, truthy).toBe('critical');
  });

  it('read the pack parameters as {parameters.…}', async () => {
    const body = { critical_if: '{collector.redis.port} != {parameters.port}' };
    const data = { redis: { port: 6379 } };
    expect((await run(body, data, { port: 6379 })).state).toBe('ok');
    expect((await run(body, data, { port: 6380 })).state).toBe('critical');
  });

  it('an expression that fails as it runs is UNKNOWN with the evaluator message', async () => {
    expect(await run({ critical_if: "'text' > {configuration.threshold}", threshold: 3 })).toEqual({
      state: 'unknown',
      output: "operator '>' does not apply to string and number (in: 'text' > {configuration.threshold})",
      perfdata: [],
    });
    expect(await run({ warning_if: '{configuration.thresholds.load} > 1' })).toMatchObject({
      state: 'unknown',
      output: 'unknown: configuration.thresholds.load is not available',
    });
  });
});
