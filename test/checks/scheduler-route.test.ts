// GET /monitoring/scheduler, its handler called directly on a subsystem driven by manual timers:
// with one slot and two checks, the run under way and the one waiting for the slot are counted, and
// the waiting run's lag is the time it spent waiting (the bench reads this route for its lag figures).
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { CheckResult, CheckType } from '../../agent/checks/check-type.js';
import { CheckDefinitionSchema } from '../../agent/checks/definition.js';
import { MemoryCheckHistory } from '../../agent/checks/memory-history.js';
import { OVERRIDE_FILE } from '../../agent/checks/override-store.js';
import { checkRoutes } from '../../agent/checks/routes.js';
import { ChecksSubsystem } from '../../agent/checks/subsystem.js';
import type { Definition } from '../../agent/config/index.js';
import { EventBus } from '../../agent/events/index.js';
import { Logger } from '../../agent/log/index.js';
import type { CheckSchedulerAnswer } from '../../agent/shared/api-types.js';
import type { RequestContext } from '../../agent/shared/http.js';
import { schemaCheck } from '../../agent/shared/schema-check.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';
import { ManualTimers } from '../helpers/manual-timers.js';
import { IN_AGENT_SPAWNER } from '../../agent/checks/nagios/spawn-in-agent.js';

afterAll(cleanupAll);

const fill = schemaCheck(CheckDefinitionSchema, { fillDefaults: true });

function check(name: string): Definition {
  const body: Record<string, unknown> = { name, held: true, interval: '10s' };
  if (!fill(body)) throw new Error(`bad test definition: ${fill.problem()}`);
  return { kind: 'check', name, body, source: { file: '/etc/opsbro/conf.d/checks.yml', line: 1 } };
}

let checks: ChecksSubsystem | undefined;
afterEach(async () => {
  await checks?.stop();
});

describe('GET /monitoring/scheduler', () => {
  it('counts the run under way and the one queued for the only slot; the queued run lags by its wait', async () => {
    const timers = new ManualTimers();
    const EPOCH = Date.parse('2026-12-05T00:00:00.000Z');
    /** Each run holds its slot until the test releases it. */
    const held: Array<(result: CheckResult) => void> = [];
    const type: CheckType = {
      type: 'held',
      description: 'runs that end when the test says',
      impliedBy: ['held'],
      schema: Type.Object({}),
      create: () => ({ run: () => new Promise<CheckResult>((resolve) => held.push(resolve)) }),
    };
    checks = new ChecksSubsystem({
      definitions: [check('first'), check('second')],
      packs: [],
      types: new Map([['held', type]]),
      dependencies: {
        evaluator: {
          evaluate: () => Promise.reject(new Error('no evaluator here')),
          searchText: () => Promise.reject(new Error('no evaluator here')),
        },
        nagiosPluginsDir: '/usr/lib/nagios/plugins',
        pluginSpawner: IN_AGENT_SPAWNER,
      },
      history: new MemoryCheckHistory(),
      events: new EventBus(),
      logger: Logger.create({ level: 'error', format: 'text', sink: { kind: 'fd', fd: 2 } }),
      node: { name: 'node-1', id: 'id-1', hostname: 'host-1', address: () => '127.0.0.1' },
      groups: () => [],
      overrideFile: join(tempDir(), OVERRIDE_FILE),
      collectorsReady: () => Promise.resolve(),
      maxConcurrent: 1,
      time: { timers, now: () => EPOCH + timers.now, monotonicNow: () => timers.now },
    });
    const route = checkRoutes(checks).find((each) => each.path === '/monitoring/scheduler')!;
    expect(route).toMatchObject({ method: 'GET', access: 'read' });
    const ask = (): CheckSchedulerAnswer =>
      route.handler({
        params: {},
        query: new URLSearchParams(),
        body: undefined,
        principal: { name: 'loopback', role: 'read' },
        connection: { local: true, reachedAt: '127.0.0.1:6770' },
        rawPath: '/monitoring/scheduler',
        signal: new AbortController().signal,
      } satisfies RequestContext) as CheckSchedulerAnswer;

    await checks.start();
    // Both fall due within their first interval; the second finds the slot taken.
    await timers.until(() => ask().queued === 1, 10_000, 'the second check queued');
    expect(ask()).toEqual({
      checks: 2,
      max_concurrent: 1,
      running: 1,
      queued: 1,
      started: 1,
      skipped: 0,
      lag_p50_ms: 0,
      lag_p99_ms: 0,
    });

    // 1.5 s later the first run ends: the second starts at once, 1.5 s after it fell due.
    await timers.advanceAsync(1500);
    held.shift()!({ state: 'ok', output: 'done', perfdata: [] });
    await expect.poll(() => ask().started, { timeout: 5000, interval: 5 }).toBe(2);
    expect(ask()).toMatchObject({ running: 1, queued: 0, started: 2, lag_p50_ms: 0, lag_p99_ms: 1500 });
  });
});
