// Placement of checks on the cluster (run_on): rendezvous hashing picks the same runners on every
// node and moves only what a departed member held; the combined state is the worst that a quorum
// reports; the subsystem runs a placed check only where it is placed, moves it when membership
// changes, counts its combined state in /status and announces combined changes from one node.
import { Type } from '@sinclair/typebox';
import { afterEach, describe, expect, it } from 'vitest';
import type { CheckResult, CheckType } from '../../agent/checks/check-type.js';
import { CheckDefinitionSchema } from '../../agent/checks/definition.js';
import { MemoryCheckHistory } from '../../agent/checks/memory-history.js';
import { IN_AGENT_SPAWNER } from '../../agent/checks/nagios/spawn-in-agent.js';
import { OVERRIDE_FILE } from '../../agent/checks/override-store.js';
import { combineResults, defaultQuorum, pickRunners } from '../../agent/checks/placement.js';
import type { CheckTime } from '../../agent/checks/scheduler.js';
import { ChecksSubsystem } from '../../agent/checks/subsystem.js';
import type { PlacementMember } from '../../agent/checks/placed-checks.js';
import type { Definition } from '../../agent/config/index.js';
import { type CheckStateChangeEvent, EventBus } from '../../agent/events/index.js';
import { Logger } from '../../agent/log/index.js';
import type { NodeCheckTable, PlacedRunner } from '../../agent/shared/api-types.js';
import { schemaCheck } from '../../agent/shared/schema-check.js';
import { join } from 'node:path';
import { tempDir } from '../helpers/agent-process.js';
import { ManualTimers } from '../helpers/manual-timers.js';

const members = (count: number) =>
  Array.from({ length: count }, (_, index) => ({ id: `id-${index + 1}`, name: `node-${index + 1}` }));

describe('rendezvous hashing', () => {
  it('picks K runners, the same whatever the order the members are listed in', () => {
    const all = members(10);
    const runners = pickRunners('web-site', all, 3);
    expect(runners).toHaveLength(3);
    expect(new Set(runners.map((runner) => runner.id)).size).toBe(3);
    expect(pickRunners('web-site', [...all].reverse(), 3)).toEqual(runners);
  });

  it('a member leaving moves only the checks it ran; one arriving takes only what it wins', () => {
    const all = members(10);
    const checks = Array.from({ length: 500 }, (_, index) => `check-${index}`);
    const before = new Map(checks.map((name) => [name, pickRunners(name, all, 3).map((r) => r.id)]));
    const gone = 'id-4';
    const fewer = all.filter((member) => member.id !== gone);
    for (const name of checks) {
      const after = pickRunners(name, fewer, 3).map((r) => r.id);
      const held = before.get(name)!;
      if (!held.includes(gone)) expect(after).toEqual(held);
      else {
        // The two others stay, one replacement comes in.
        expect(after.filter((id) => held.includes(id))).toHaveLength(2);
        expect(after).not.toContain(gone);
      }
    }
    const more = [...all, { id: 'id-11', name: 'node-11' }];
    for (const name of checks) {
      const after = pickRunners(name, more, 3).map((r) => r.id);
      if (!after.includes('id-11')) expect(after).toEqual(before.get(name));
    }
  });

  it('spreads checks evenly: each of 10 members runs 30% of 1,000 checks at 3 replicas, within 5 points', () => {
    const all = members(10);
    const counts = new Map<string, number>();
    for (let index = 0; index < 1000; index++)
      for (const runner of pickRunners(`check-${index}`, all, 3))
        counts.set(runner.id, (counts.get(runner.id) ?? 0) + 1);
    for (const member of all) expect(Math.abs((counts.get(member.id) ?? 0) / 1000 - 0.3)).toBeLessThan(0.05);
  });

  it('fewer candidates than replicas: all of them run it', () => {
    expect(pickRunners('x', members(2), 3)).toHaveLength(2);
    expect(pickRunners('x', [], 3)).toEqual([]);
  });
});

const runner = (
  node: string,
  state: PlacedRunner['state'],
  stateType: 'hard' | 'soft' = 'hard',
): PlacedRunner => ({
  node,
  node_id: `id-${node}`,
  state,
  state_type: stateType,
  output: `${state} from ${node}`,
  since: 0,
});

describe('combined state', () => {
  it('the default quorum is a majority', () => {
    expect([1, 2, 3, 4, 5].map(defaultQuorum)).toEqual([1, 2, 2, 3, 3]);
  });

  it('one runner CRITICAL of three: OK; two: CRITICAL; CRITICAL, WARNING, OK: WARNING', () => {
    expect(combineResults([runner('a', 'ok'), runner('b', 'critical'), runner('c', 'ok')], 2)).toEqual({
      state: 'ok',
      state_type: 'hard',
      quorum: 2,
      output: 'OK for 2 of 3 runners (quorum 2): a: ok from a',
    });
    const down = combineResults([runner('a', 'critical'), runner('b', 'critical'), runner('c', 'ok')], 2);
    expect(down).toMatchObject({ state: 'critical', state_type: 'hard' });
    expect(down.output).toBe('CRITICAL for 2 of 3 runners (quorum 2): a: critical from a');
    expect(
      combineResults([runner('a', 'critical'), runner('b', 'warning'), runner('c', 'ok')], 2).state,
    ).toBe('warning');
    expect(
      combineResults([runner('a', 'critical'), runner('b', 'warning'), runner('c', 'ok')], 2).output,
    ).toBe('WARNING for 2 of 3 runners (quorum 2): b: warning from b');
  });

  it('soft while fewer than the quorum of the agreeing results are hard', () => {
    const combined = combineResults(
      [runner('a', 'critical', 'soft'), runner('b', 'critical'), runner('c', 'ok')],
      2,
    );
    expect(combined).toMatchObject({ state: 'critical', state_type: 'soft' });
  });

  it('pending until a quorum has reported; fewer runners than the quorum: all must agree', () => {
    expect(
      combineResults([runner('a', 'critical'), runner('b', 'pending'), runner('c', 'pending')], 2),
    ).toMatchObject({
      state: 'pending',
      output: 'waiting for results: 1 of the 2 needed from a, b, c',
    });
    // Two members in the group for three replicas and a quorum of 2: both.
    expect(combineResults([runner('a', 'critical'), runner('b', 'ok')], 2).state).toBe('ok');
    // One member left: it alone decides.
    expect(combineResults([runner('a', 'critical')], 2)).toMatchObject({ state: 'critical', quorum: 1 });
    expect(combineResults([], 2)).toMatchObject({
      state: 'pending',
      output: 'no member of the group runs it',
    });
  });
});

// ---- the subsystem, on injected time, with a membership and tables the test sets ----------------

const EPOCH = Date.parse('2026-12-05T00:00:00.000Z');
const fill = schemaCheck(CheckDefinitionSchema, { fillDefaults: true });

function placedCheck(name: string, runOn: Record<string, unknown>): Definition {
  const body: Record<string, unknown> = {
    name,
    scripted: true,
    interval: '10s',
    max_attempts: 1,
    run_on: runOn,
  };
  if (!fill(body)) throw new Error(fill.problem());
  return { kind: 'check', name, body, source: { file: '/etc/opsbro/conf.d/placed.yml', line: 1 } };
}

class Cluster {
  readonly timers = new ManualTimers();
  readonly time: CheckTime = {
    timers: this.timers,
    now: () => EPOCH + this.timers.now,
    monotonicNow: () => this.timers.now,
  };
  readonly events = new EventBus();
  readonly history = new MemoryCheckHistory();
  /** Every member but this node (id-1), as gossip would list them. */
  others: PlacementMember[] = [];
  tables: NodeCheckTable[] = [];
  readonly runs: string[] = [];
  readonly announced: CheckStateChangeEvent[] = [];
  next: CheckResult = { state: 'ok', output: 'fine', perfdata: [] };
  subsystem?: ChecksSubsystem;

  constructor() {
    this.events.on('check-state-change', (event) => this.announced.push(event));
  }

  readonly type: CheckType = {
    type: 'scripted',
    description: 'results the test sets',
    impliedBy: ['scripted'],
    schema: Type.Object({}),
    create: (spec) => ({
      run: () => {
        this.runs.push(spec.name);
        return Promise.resolve(this.next);
      },
    }),
  };

  async start(definitions: Definition[], groups = ['web']): Promise<ChecksSubsystem> {
    this.subsystem = new ChecksSubsystem({
      definitions,
      packs: [],
      types: new Map([['scripted', this.type]]),
      dependencies: {
        evaluator: {
          evaluate: () => Promise.reject(new Error('none')),
          searchText: () => Promise.reject(new Error('none')),
        },
        nagiosPluginsDir: '/usr/lib/nagios/plugins',
        pluginSpawner: IN_AGENT_SPAWNER,
      },
      history: this.history,
      events: this.events,
      logger: Logger.create({ level: 'error', format: 'text', sink: { kind: 'fd', fd: 2 } }),
      node: { name: 'node-1', id: 'id-1', hostname: 'host-1', address: () => '127.0.0.1' },
      groups: () => groups,
      overrideFile: join(tempDir(), OVERRIDE_FILE),
      collectorsReady: () => Promise.resolve(),
      clusterTables: () => this.tables,
      members: () => this.others,
      time: this.time,
    });
    await this.subsystem.start();
    return this.subsystem;
  }

  /** A remote member's table holding one brief for `check`. */
  report(id: string, check: string, state: 'ok' | 'critical', stateType: 'hard' | 'soft' = 'hard'): void {
    const name = this.others.find((member) => member.id === id)!.name;
    this.tables = this.tables.filter((table) => table.node_id !== id);
    this.tables.push({
      node: name,
      node_id: id,
      version: 1,
      checks: [{ name: check, state, state_type: stateType, output: `${state} seen by ${name}`, since: 1 }],
    });
  }
}

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.subsystem?.stop();
  cluster = undefined;
});

const web = (count: number): PlacementMember[] =>
  Array.from({ length: count }, (_, index) => ({
    id: `id-${index + 2}`,
    name: `node-${index + 2}`,
    state: 'alive',
    groups: ['web'],
  }));

/**
 * A check name for which node-1 has `rank` (0: the best) among node-1..node-5: a runner at 0-2 with
 * 3 replicas; at 3, the first replacement when one runner goes.
 */
function nameWhere(rank: number): string {
  const all = [{ id: 'id-1', name: 'node-1' }, ...web(4)];
  for (let index = 0; ; index++) {
    const name = `site-${index}`;
    if (pickRunners(name, all, all.length).findIndex((runner) => runner.id === 'id-1') === rank) return name;
  }
}
const nameRunning = (here: boolean) => nameWhere(here ? 1 : 3);

describe('placed checks in the checks subsystem', () => {
  it('runs only where placed; shows every runner and the combined state; /status counts the combined one', async () => {
    cluster = new Cluster();
    cluster.others = web(4);
    const here = nameRunning(true);
    const elsewhere = nameRunning(false);
    const checks = await cluster.start([
      placedCheck(here, { group: 'web', replicas: 3 }),
      placedCheck(elsewhere, { group: 'web', replicas: 3 }),
    ]);
    await cluster.timers.until(() => cluster!.runs.includes(here), 60_000, 'a run');
    expect(checks.names()).toEqual([here]);
    expect(cluster.runs).not.toContain(elsewhere);

    // This node sees CRITICAL, the two other runners OK: the combined state is OK.
    cluster.next = { state: 'critical', output: 'connection refused', perfdata: [] };
    const runs = cluster.runs.length;
    await cluster.timers.until(() => cluster!.runs.length > runs, 60_000, 'a critical run');
    await cluster.timers.advanceAsync(0);
    const placement = checks.placements().find((each) => each.name === here)!;
    const others = placement.runners.filter((each) => each.node_id !== 'id-1');
    for (const other of others) cluster.report(other.node_id, here, 'ok');
    const seen = checks.placements().find((each) => each.name === here)!;
    expect(seen.runs_here).toBe(true);
    expect(seen.runners.map((each) => [each.node, each.state])).toEqual(
      placement.runners.map((each) => [each.node, each.node_id === 'id-1' ? 'critical' : 'ok']),
    );
    expect(seen).toMatchObject({ group: 'web', replicas: 3, quorum: 2, state: 'ok', state_type: 'hard' });
    const status = checks.status();
    expect(status.status).toBe('OK');
    expect(checks.statuses()[0]!.state).toBe('critical');
    expect(checks.statuses()[0]!.placement?.state).toBe('ok');

    // The check placed elsewhere is shown here too, from its runners' tables.
    const away = checks.placements().find((each) => each.name === elsewhere)!;
    expect(away.runs_here).toBe(false);
    expect(away.state).toBe('pending');
  });

  it('moves to a replacement when a runner dies, and leaves this node when a better member arrives', async () => {
    cluster = new Cluster();
    cluster.others = web(4);
    const name = nameRunning(false);
    const checks = await cluster.start([placedCheck(name, { group: 'web', replicas: 3 })]);
    expect(checks.names()).toEqual([]);
    const runners = checks.placements()[0]!.runners;
    // Kill runners one at a time (as gossip declares them dead) until this node is picked.
    let killed = 0;
    for (const held of runners) {
      cluster.others = cluster.others.map((member) =>
        member.id === held.node_id ? { ...member, state: 'dead' } : member,
      );
      killed++;
      cluster.events.emit('node-dead', { node: { id: held.node_id, name: held.node } } as never);
      if (checks.names().length) break;
    }
    expect(checks.names()).toEqual([name]);
    expect(killed).toBe(1);
    await cluster.timers.until(() => cluster!.runs.includes(name), 60_000, 'the replacement runs');
    // The dead runner comes back alive: the check goes back to it, this node drops it.
    cluster.others = web(4);
    cluster.events.emit('node-join', { node: {} } as never);
    expect(checks.names()).toEqual([]);
  });

  it.each([
    ['the first runner', 0],
    ['another runner', 2],
  ])('a combined change is announced once by the first runner, never a runner’s own: %s', async (_, rank) => {
    cluster = new Cluster();
    cluster.others = web(4);
    const name = nameWhere(rank);
    const checks = await cluster.start([placedCheck(name, { group: 'web', replicas: 3 })]);
    const others = checks.placements()[0]!.runners.filter((each) => each.node_id !== 'id-1');
    cluster.next = { state: 'critical', output: 'down', perfdata: [] };
    await cluster.timers.until(() => cluster!.runs.length > 0, 60_000, 'a run');
    // This node's own hard CRITICAL (max_attempts 1) is one voice: nothing announced.
    await cluster.timers.advanceAsync(2000);
    expect(checks.statuses()[0]).toMatchObject({ state: 'critical', state_type: 'hard' });
    expect(cluster.announced).toEqual([]);
    cluster.report(others[0]!.node_id, name, 'critical');
    cluster.report(others[1]!.node_id, name, 'ok');
    await cluster.timers.advanceAsync(2000);
    expect(checks.placements()[0]!.state).toBe('critical');
    expect(cluster.announced.map(({ check, from, to }) => [check, from, to])).toEqual(
      rank === 0 ? [[name, 'pending', 'critical']] : [],
    );
    // Back to OK: announced from critical, once.
    cluster.report(others[0]!.node_id, name, 'ok');
    await cluster.timers.advanceAsync(5000);
    expect(cluster.announced.map(({ from, to }) => [from, to])).toEqual(
      rank === 0
        ? [
            ['pending', 'critical'],
            ['critical', 'ok'],
          ]
        : [],
    );
  });
});
