// The checks subsystem on injected time (ManualTimers): scripted results drive soft and hard states
// as Nagios does, the event is emitted once per hard change, history and the table follow, runs are
// bounded by their timeout, a restart resumes where the checks were, groups and reloads add and
// remove checks, and the override survives a restart.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { CheckResult, CheckRunContext, CheckType } from '../../agent/checks/check-type.js';
import type { TableChange } from '../../agent/checks/check-table.js';
import { CheckDefinitionSchema } from '../../agent/checks/definition.js';
import { MemoryCheckHistory } from '../../agent/checks/memory-history.js';
import { OVERRIDE_FILE } from '../../agent/checks/override-store.js';
import type { CheckTime } from '../../agent/checks/scheduler.js';
import { ChecksSubsystem } from '../../agent/checks/subsystem.js';
import type { Definition, LoadedConfig } from '../../agent/config/index.js';
import { type CheckStateChangeEvent, EventBus } from '../../agent/events/index.js';
import { Logger } from '../../agent/log/index.js';
import type { CheckResultRecord, CheckStatus } from '../../agent/shared/api-types.js';
import { schemaCheck } from '../../agent/shared/schema-check.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';
import { ManualTimers } from '../helpers/manual-timers.js';
import { IN_AGENT_SPAWNER } from '../../agent/checks/nagios/spawn-in-agent.js';

afterAll(cleanupAll);

/** The wall clock of the tests: the manual timers' clock counts from here. */
const EPOCH = Date.parse('2026-12-05T00:00:00.000Z');

/**
 * What a scripted check does at one run: a result, hang (even when aborted), throw, or wait for
 * its abort and then take `windDownMs` to end (a plugin's process group being killed).
 */
type Step = CheckResult | 'hang' | Error | { windDownMs: number };

const OK: CheckResult = { state: 'ok', output: 'all good', perfdata: [] };
const result = (state: CheckResult['state'], output = state.toUpperCase()): CheckResult => ({
  state,
  output,
  perfdata: [],
});

/** History that also lists what was written, in order. */
class RecordingHistory extends MemoryCheckHistory {
  readonly written: Array<{ check: string; result: CheckResultRecord }> = [];
  override addResult(check: string, record: CheckResultRecord, status: CheckStatus): Promise<void> {
    this.written.push({ check, result: record });
    return super.addResult(check, record, status);
  }
}

/** One test's world: time, bus, history, a scripted check type and what the subsystem announced. */
class World {
  readonly timers = new ManualTimers();
  readonly time: CheckTime = {
    timers: this.timers,
    now: () => EPOCH + this.timers.now,
    monotonicNow: () => this.timers.now,
  };
  readonly events = new EventBus();
  history = new RecordingHistory();
  readonly dataDir = tempDir();
  readonly script = new Map<string, Step[]>();
  /** Every run's start: the check and the test clock. */
  readonly runs: Array<{ check: string; at: number; context: CheckRunContext }> = [];
  readonly created: string[] = [];
  /** When the last run that winds down after its abort ended (test clock). */
  woundDownAt?: number;
  readonly hardChanges: CheckStateChangeEvent[] = [];
  readonly tableChanges: TableChange[] = [];
  readonly metrics: Array<{ source: string; metrics: Array<[string, number]> }> = [];
  private readonly subsystems: ChecksSubsystem[] = [];

  constructor() {
    this.events.on('check-state-change', (event) => this.hardChanges.push(event));
    this.events.on('check-table-changed', (change) => this.tableChanges.push(change));
    this.events.on('metrics', ({ source, metrics }) => this.metrics.push({ source, metrics }));
  }

  readonly type: CheckType = {
    type: 'scripted',
    description: 'results from the test script',
    impliedBy: ['scripted'],
    schema: Type.Object({}),
    create: (spec) => {
      this.created.push(spec.name);
      return {
        run: (context) => {
          this.runs.push({ check: spec.name, at: this.timers.now, context });
          const step = this.script.get(spec.name)?.shift() ?? OK;
          if (step === 'hang') return new Promise<CheckResult>(() => undefined);
          if (step instanceof Error) return Promise.reject(step);
          if ('windDownMs' in step)
            return new Promise<CheckResult>((resolve) =>
              context.signal.addEventListener('abort', () =>
                this.timers.setTimeout(() => {
                  this.woundDownAt = this.timers.now;
                  resolve(result('critical', 'killed'));
                }, step.windDownMs),
              ),
            );
          return Promise.resolve(step);
        },
      };
    },
  };

  then(name: string, ...steps: Step[]): void {
    this.script.set(name, [...(this.script.get(name) ?? []), ...steps]);
  }

  subsystem(definitions: Definition[], groups: string[] = []): ChecksSubsystem {
    const subsystem = new ChecksSubsystem({
      definitions,
      packs: [],
      types: new Map([['scripted', this.type]]),
      dependencies: {
        evaluator: {
          evaluate: () => Promise.reject(new Error('no evaluator here')),
          searchText: () => Promise.reject(new Error('no evaluator here')),
        },
        nagiosPluginsDir: '/usr/lib/nagios/plugins',
        pluginSpawner: IN_AGENT_SPAWNER,
      },
      history: this.history,
      events: this.events,
      logger: Logger.create({ level: 'error', format: 'text', sink: { kind: 'fd', fd: 2 } }),
      node: { name: 'node-1', id: 'id-1', hostname: 'host-1', address: () => '127.0.0.1' },
      groups: () => groups,
      overrideFile: join(this.dataDir, OVERRIDE_FILE),
      collectorsReady: () => Promise.resolve(),
      time: this.time,
    });
    this.subsystems.push(subsystem);
    return subsystem;
  }

  /** Runs timers until the check has run `count` more times and each run is recorded. */
  async runs_(name: string, count = 1): Promise<void> {
    const target = this.recorded(name) + count;
    await this.timers.until(() => this.recorded(name) >= target, 10 * 60_000, `${count} run(s) of ${name}`);
  }

  recorded(name: string): number {
    return this.history.written.filter((each) => each.check === name).length;
  }

  async stopAll(): Promise<void> {
    for (const subsystem of this.subsystems.splice(0)) await subsystem.stop();
  }
}

const fill = schemaCheck(CheckDefinitionSchema, { fillDefaults: true });

/** A `check:` definition as the loader gives it (defaults filled). */
function check(name: string, body: Record<string, unknown> = {}): Definition {
  const full: Record<string, unknown> = { name, scripted: true, interval: '10s', ...body };
  if (!fill(full)) throw new Error(`bad test definition: ${fill.problem()}`);
  return { kind: 'check', name, body: full, source: { file: '/etc/opsbro/conf.d/checks.yml', line: 1 } };
}

const config = (definitions: Definition[]) => ({ definitions, packs: [] }) as unknown as LoadedConfig;

let world: World;
afterEach(async () => {
  await world?.stopAll();
});

describe('soft and hard states', () => {
  it('max_attempts 3: OK, CRITICAL x4, WARNING, OK as Nagios; one event per hard change; retries faster while soft', async () => {
    world = new World();
    const checks = world.subsystem([check('disk', { max_attempts: 3, interval: '10s' })]);
    await checks.start();
    world.then('disk', OK, result('critical'), result('critical'), result('critical'), result('critical'));
    world.then('disk', result('warning'), OK);

    const seen: Array<[string, string, number]> = [];
    for (let run = 0; run < 7; run++) {
      await world.runs_('disk');
      const status = checks.statuses()[0]!;
      seen.push([status.state, status.state_type, status.attempt]);
    }
    expect(seen).toEqual([
      ['ok', 'hard', 1],
      ['critical', 'soft', 1],
      ['critical', 'soft', 2],
      ['critical', 'hard', 3],
      ['critical', 'hard', 3],
      ['warning', 'hard', 3],
      ['ok', 'hard', 1],
    ]);
    expect(world.hardChanges.map(({ from, to, attempt }) => [from, to, attempt])).toEqual([
      ['ok', 'critical', 3],
      ['critical', 'warning', 3],
      ['warning', 'ok', 1],
    ]);
    expect(world.hardChanges[0]).toMatchObject({
      node: 'node-1',
      node_id: 'id-1',
      check: 'disk',
      output: 'CRITICAL',
      handlers: [],
      at: new Date(EPOCH + world.runs[3]!.at).toISOString(),
    });
    // The interval after OK and hard results, the retry interval (10 s / 5) while soft.
    const gaps = world.runs.slice(1).map((run, index) => run.at - world.runs[index]!.at);
    expect(gaps).toEqual([10_000, 2000, 2000, 10_000, 10_000, 10_000]);

    // History: every result; every change of state or state type (pending->ok included), soft and hard.
    const changes = await world.history.changes('disk', 100);
    expect(changes.reverse().map(({ from, to, state_type }) => `${from}>${to} ${state_type}`)).toEqual([
      'pending>ok hard',
      'ok>critical soft',
      'critical>critical hard',
      'critical>warning hard',
      'warning>ok hard',
    ]);
    expect((await world.history.recentResults('disk', 100)).map((each) => each.attempt)).toEqual([
      1, 3, 3, 3, 2, 1, 1,
    ]);
  });

  it('max_attempts 1: a problem is hard at once; a soft recovery notifies nobody (max_attempts 5)', async () => {
    world = new World();
    const checks = world.subsystem([
      check('at-once', { max_attempts: 1 }),
      check('patient', { max_attempts: 5 }),
    ]);
    await checks.start();
    world.then('at-once', result('critical'));
    world.then('patient', result('warning'), result('warning'), OK);
    await world.runs_('at-once');
    await world.runs_('patient', 3);
    expect(world.hardChanges[0]).toMatchObject({
      check: 'at-once',
      from: 'pending',
      to: 'critical',
      attempt: 1,
    });
    expect(world.hardChanges.filter((change) => change.check === 'patient')).toEqual([]);
    const patient = await world.history.changes('patient', 10);
    // Newest first: the first WARNING (from pending) and the soft recovery; no hard change.
    expect(patient.map(({ from, to, state_type }) => `${from}>${to} ${state_type}`)).toEqual([
      'warning>ok soft',
      'pending>warning soft',
    ]);
  });

  it('the table is announced at every change of state or state type, the version up by one each time', async () => {
    world = new World();
    const checks = world.subsystem([check('web'), check('db')]);
    await checks.start();
    const start = checks.localTable().version;
    expect(world.tableChanges).toEqual([
      {
        version: start,
        changed: [
          expect.objectContaining({ name: 'web', state: 'pending' }) as unknown,
          expect.objectContaining({ name: 'db', state: 'pending' }) as unknown,
        ],
        removed: [],
      },
    ]);
    world.then('web', OK, OK, result('critical', 'down'));
    await world.runs_('web', 3);
    const webChanges = world.tableChanges.filter((change) =>
      change.changed.some((brief) => brief.name === 'web'),
    );
    // Activation, pending->ok, ok->critical soft: the second OK changed nothing.
    expect(webChanges.map((change) => change.changed[0]!.state)).toEqual(['pending', 'ok', 'critical']);
    const versions = world.tableChanges.map((change) => change.version);
    expect(versions).toEqual(versions.map((_version, index) => start + index));
    expect(checks.localTable()).toMatchObject({
      node: 'node-1',
      node_id: 'id-1',
      version: versions.at(-1),
      checks: expect.arrayContaining([
        {
          name: 'web',
          state: 'critical',
          state_type: 'soft',
          output: 'down',
          since: EPOCH + world.runs.filter((run) => run.check === 'web')[2]!.at,
        },
      ]) as unknown,
    });
    // Versions start at the start time (ms): above those of an agent that ran before.
    expect(start).toBeGreaterThan(EPOCH);
  });
});

describe('one run', () => {
  it('past its timeout: aborted, UNKNOWN "timed out after N s", and the check runs on', async () => {
    world = new World();
    const checks = world.subsystem([check('slow', { timeout: '5s', interval: '60s', max_attempts: 1 })]);
    await checks.start();
    world.then('slow', 'hang', OK);
    await world.runs_('slow');
    const hung = world.runs[0]!;
    expect(hung.context.signal.aborted).toBe(true);
    expect(world.runs[0]!.context.timeoutMs).toBe(5000);
    const status = checks.statuses()[0]!;
    expect(status).toMatchObject({ state: 'unknown', output: 'timed out after 5 s' });
    expect(world.history.written[0]!.result.duration_ms).toBe(5000);
    await world.runs_('slow');
    expect(checks.statuses()[0]!.state).toBe('ok');
  });

  it('a run past its timeout holds its slot while its runner winds down (bounded), and is recorded then', async () => {
    world = new World();
    const checks = world.subsystem([check('plugin', { timeout: '5s', interval: '10s' })]);
    await checks.start();
    world.then('plugin', { windDownMs: 1500 });
    await world.runs_('plugin');
    const started = world.runs[0]!.at;
    // Recorded once the runner ended, 1.5 s after the timeout; its duration is the timeout.
    expect(world.woundDownAt).toBe(started + 6500);
    expect(world.history.written[0]!.result).toMatchObject({
      state: 'unknown',
      output: 'timed out after 5 s',
      duration_ms: 5000,
    });
    // UNKNOWN is a soft problem: a retry falls due 2 s after the start, while the run still winds
    // down; it is skipped, never run beside it, and comes 2 s after the end.
    await world.runs_('plugin');
    expect(world.runs[1]!.at).toBe(world.woundDownAt! + 2000);
  });

  it('a type that throws is UNKNOWN with its message', async () => {
    world = new World();
    const checks = world.subsystem([check('buggy')]);
    await checks.start();
    world.then('buggy', new Error('socket exploded'));
    await world.runs_('buggy');
    expect(checks.statuses()[0]).toMatchObject({ state: 'unknown', output: 'socket exploded' });
  });

  it('output: the first line alone, the rest as long output, each capped at 4 KiB with a marker', async () => {
    world = new World();
    const checks = world.subsystem([check('chatty')]);
    await checks.start();
    world.then('chatty', {
      state: 'warning',
      output: `${'é'.repeat(3000)}\nsecond line`,
      longOutput: 'x'.repeat(10_000),
      perfdata: [],
    });
    await world.runs_('chatty');
    const status = checks.statuses()[0]!;
    expect(Buffer.byteLength(status.output)).toBeLessThanOrEqual(4096);
    expect(status.output).toMatch(/^é+\.\.\. \(output cut at 4 KiB\)$/);
    expect(status.long_output).toMatch(/^second line\nx+\.\.\. \(output cut at 4 KiB\)$/);
    expect(Buffer.byteLength(status.long_output!)).toBeLessThanOrEqual(4096);
    // The brief the cluster gets is shorter still.
    expect(Buffer.byteLength(checks.localTable().checks[0]!.output)).toBeLessThanOrEqual(256);
  });

  it('perfdata is published on the metrics event as <check>.<label>', async () => {
    world = new World();
    const checks = world.subsystem([check('load')]);
    await checks.start();
    world.then('load', {
      state: 'ok',
      output: 'load fine',
      perfdata: [
        { label: 'load1', value: 0.5, uom: '', warn: '5', crit: '10', min: 0 },
        { label: 'load5', value: 0.25, uom: '' },
      ],
    });
    await world.runs_('load');
    expect(world.metrics).toEqual([
      {
        source: 'check:load',
        metrics: [
          ['load.load1', 0.5],
          ['load.load5', 0.25],
        ],
      },
    ]);
    expect(checks.statuses()[0]!.perfdata).toHaveLength(2);
  });

  it('runNow: runs at once, first in line, and answers with what it found', async () => {
    world = new World();
    const checks = world.subsystem([check('api', { interval: '1h' })]);
    await checks.start();
    world.then('api', {
      state: 'critical',
      output: 'HTTP 500',
      perfdata: [{ label: 'time', value: 0.2, uom: 's' }],
    });
    const answer = await world.timers.settle(checks.runNow('api'), 1000, 'runNow');
    expect(answer).toMatchObject({
      name: 'api',
      state: 'critical',
      state_type: 'soft',
      attempt: 1,
      output: 'HTTP 500',
      perfdata: [{ label: 'time', value: 0.2, uom: 's' }],
      duration_ms: 0,
      at: new Date(EPOCH).toISOString(),
    });
    expect(await checks.runNow('nothing')).toBeUndefined();
  });
});

describe('the agent stops, restarts, reloads', () => {
  it('a restart resumes soft/hard and flapping from the statuses kept in history', async () => {
    world = new World();
    const first = world.subsystem([check('disk', { max_attempts: 3 })]);
    await first.start();
    world.then('disk', result('critical'), result('critical'), result('critical'));
    await world.runs_('disk', 3);
    expect(world.hardChanges).toHaveLength(1);
    const before = first.statuses()[0]!;
    await world.stopAll();

    const second = world.subsystem([check('disk', { max_attempts: 3 })]);
    await second.start();
    const resumed = second.statuses()[0]!;
    expect(resumed).toMatchObject({
      state: 'critical',
      state_type: 'hard',
      attempt: 3,
      last_hard_state: 'critical',
      output: 'CRITICAL',
      last_change_at: before.last_change_at,
      recent_states: before.recent_states,
    });
    // Still CRITICAL after the restart: no new hard change; the recovery is one.
    world.then('disk', result('critical'), OK);
    await world.runs_('disk', 2);
    expect(world.hardChanges.map(({ from, to }) => `${from}>${to}`)).toEqual(['ok>critical', 'critical>ok']);
  });

  it('stop abandons a run under way: no result is recorded after it', async () => {
    world = new World();
    const checks = world.subsystem([check('stuck', { timeout: '30s' })]);
    await checks.start();
    world.then('stuck', 'hang');
    await world.timers.until(() => world.runs.length === 1, 60_000, 'the run starts');
    await world.timers.settle(checks.stop(), 2000, 'stop');
    expect(world.runs[0]!.context.signal.aborted).toBe(true);
    await world.timers.advanceAsync(120_000);
    expect(world.history.written).toEqual([]);
    expect(world.runs).toHaveLength(1);
  });

  it('a reload that removes a check stops its run under way: it does not hold a slot to its timeout', async () => {
    world = new World();
    const checks = world.subsystem([check('stuck', { timeout: '30s' }), check('other')]);
    await checks.start();
    world.then('stuck', 'hang');
    await world.timers.until(() => world.runs.some((run) => run.check === 'stuck'), 60_000, 'the run starts');
    const stuck = world.runs.find((run) => run.check === 'stuck')!;
    checks.reload(config([check('other')]));
    expect(stuck.context.signal.aborted).toBe(true);
    await world.timers.advanceAsync(1000);
    expect(checks.schedulerStats().running).toBe(0);
  });

  it('a reload keeps unchanged checks as they were, reconfigures changed ones with their state, drops removed ones', async () => {
    world = new World();
    const checks = world.subsystem([check('same'), check('changed', { max_attempts: 3 }), check('gone')]);
    await checks.start();
    await world.runs_('same');
    await world.runs_('gone');
    world.then('changed', result('critical'), result('critical'));
    await world.runs_('changed', 2);
    const created = world.created.length;
    const sameBefore = checks.statuses().find((status) => status.name === 'same')!;

    checks.reload(
      config([check('same'), check('changed', { max_attempts: 2, interval: '20s' }), check('new')]),
    );
    // A new runner for the changed check and the new one; none for the unchanged.
    expect(world.created.slice(created).sort()).toEqual(['changed', 'new']);
    const statuses = Object.fromEntries(checks.statuses().map((status) => [status.name, status]));
    expect(Object.keys(statuses).sort()).toEqual(['changed', 'new', 'same']);
    expect(statuses.same).toMatchObject({ state: 'ok', last_run_at: sameBefore.last_run_at });
    // Kept its soft CRITICAL 2/3; now 2/2 is the most.
    expect(statuses.changed).toMatchObject({
      state: 'critical',
      state_type: 'soft',
      attempt: 2,
      max_attempts: 2,
      interval_s: 20,
    });
    expect(statuses.new!.state).toBe('pending');
    expect(world.tableChanges.at(-1)).toMatchObject({
      removed: ['gone'],
      changed: [expect.objectContaining({ name: 'new', state: 'pending' }) as unknown],
    });
    expect(await world.history.changes('gone', 10)).toEqual([]);
    // The changed check's next problem result is its second of two: hard.
    world.then('changed', result('critical'));
    await world.runs_('changed');
    expect(world.hardChanges.map(({ check: name, to }) => `${name} ${to}`)).toEqual(['changed critical']);
  });
});

describe('groups', () => {
  it('a check with if_group joins when the node enters the group and leaves when it goes, keeping its state', async () => {
    world = new World();
    const checks = world.subsystem([check('redis', { if_group: 'redis' }), check('always')]);
    await checks.start();
    expect(checks.names()).toEqual(['always']);
    world.events.emit('groups-changed', { groups: ['redis'] });
    expect(checks.names()).toEqual(['always', 'redis']);
    expect(world.tableChanges.at(-1)).toMatchObject({
      changed: [expect.objectContaining({ name: 'redis' }) as unknown],
      removed: [],
    });
    world.then('redis', result('critical'));
    await world.runs_('redis');
    world.events.emit('groups-changed', { groups: [] });
    expect(checks.names()).toEqual(['always']);
    expect(world.tableChanges.at(-1)).toMatchObject({ changed: [], removed: ['redis'] });
    const runsBefore = world.runs.filter((run) => run.check === 'redis').length;
    await world.timers.advanceAsync(60_000);
    expect(world.runs.filter((run) => run.check === 'redis')).toHaveLength(runsBefore);
    world.events.emit('groups-changed', { groups: ['redis'] });
    expect(checks.statuses().find((status) => status.name === 'redis')).toMatchObject({ state: 'critical' });
  });

  it('enabled: false builds nothing', async () => {
    world = new World();
    const checks = world.subsystem([check('off', { enabled: false })]);
    await checks.start();
    expect(checks.names()).toEqual([]);
    expect(world.created).toEqual([]);
  });
});

describe('status and override', () => {
  it('worst-of counts hard states; the override forces CRITICAL, is kept in the data dir and survives a restart', async () => {
    world = new World();
    const checks = world.subsystem([check('a', { max_attempts: 2 }), check('b', { max_attempts: 2 })]);
    await checks.start();
    world.then('a', result('warning', 'slow'), result('warning', 'slow'));
    world.then('b', result('critical', 'down'));
    await world.runs_('a', 2);
    await world.runs_('b');
    // a: hard WARNING; b: a soft CRITICAL, not confirmed: WARNING is the node's.
    expect(checks.status()).toMatchObject({ status: 'WARNING', message: 'WARNING a: slow' });

    checks.setOverride('draining');
    const file = join(world.dataDir, OVERRIDE_FILE);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      state: 'critical',
      reason: 'draining',
      since: expect.any(String) as unknown,
    });
    expect(checks.status()).toMatchObject({
      status: 'CRITICAL',
      message: expect.stringMatching(
        /^overridden to CRITICAL since .*: draining; WARNING a: slow$/,
      ) as unknown,
    });
    expect(world.tableChanges.at(-1)).toMatchObject({
      changed: [],
      removed: [],
      override: { reason: 'draining' },
    });
    await world.stopAll();

    const again = world.subsystem([check('a')]);
    await again.start();
    expect(again.status()).toMatchObject({ status: 'CRITICAL', override: { reason: 'draining' } });
    expect(again.localTable().override).toMatchObject({ reason: 'draining' });
    expect(again.clearOverride()).toBe(true);
    expect(existsSync(file)).toBe(false);
    expect(world.tableChanges.at(-1)).not.toHaveProperty('override');
    expect(again.clearOverride()).toBe(false);
  });
});
