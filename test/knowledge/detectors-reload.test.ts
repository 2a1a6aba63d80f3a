// The detectors subsystem across a reload: the new detectors' first pass runs with the groups held,
// and the groups are published once at its end. A reload that changes nothing publishes nothing
// (a flap would make gossip and the group-gated collectors stop and start again).
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentSettings, Definition } from '../../agent/config/index.js';
import { DetectorsSubsystem } from '../../agent/detectors/index.js';
import { EventBus } from '../../agent/events/index.js';
import { Logger } from '../../agent/log/index.js';

const made: DetectorsSubsystem[] = [];
afterEach(async () => {
  for (const subsystem of made.splice(0)) await subsystem.stop();
});

/** A real turn of the event loop: every promise callback queued until now has run. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One detector per group; its rule is the group name, and answers true when the test says so. */
function definitions(groups: string[]): Definition[] {
  return groups.map((group) => ({
    kind: 'detector',
    name: `has-${group}`,
    body: { apply_if: group, groups: [group], interval: '60s' },
    source: { file: 'test.yml', line: 1 },
  }));
}

function settings(groups: string[]): AgentSettings {
  return { groups } as unknown as AgentSettings;
}

/**
 * The detectors subsystem on a fake evaluator: each evaluation of a rule waits until the test
 * answers it (answer(rule)), or is answered at once when `held` is off. The test decides the order
 * in which a pass's rules finish, and looks at the node's groups between any two of them.
 */
function detectorsSubsystem(options: {
  groups: string[];
  staticGroups: string[];
  held?: boolean;
  collectorsReady?: () => Promise<void>;
}) {
  const events = new EventBus();
  const published: string[][] = [];
  const evaluated: string[] = [];
  const waiting = new Map<string, () => void>();
  events.on('groups-changed', ({ groups }) => published.push(groups));
  const subsystem = new DetectorsSubsystem({
    settings: settings(options.staticGroups),
    definitions: definitions(options.groups),
    packs: [],
    evaluator: {
      evaluate: (rule) => {
        evaluated.push(rule);
        if (!options.held) return Promise.resolve(true);
        return new Promise((resolve) => waiting.set(rule, () => resolve(true)));
      },
      renderTemplate: (template) => Promise.resolve(template),
    },
    events,
    logger: Logger.create({ level: 'error', format: 'text' }),
    collectorsReady: options.collectorsReady ?? (() => Promise.resolve()),
  });
  made.push(subsystem);
  /** Answers the evaluation of `rule` under way, then lets what follows from it run. */
  const answer = async (rule: string) => {
    await nextTurn();
    const release = waiting.get(rule);
    if (!release)
      throw new Error(`no evaluation of ${rule} is waiting (waiting: ${[...waiting.keys()].join(', ')})`);
    waiting.delete(rule);
    release();
    await nextTurn();
  };
  return { subsystem, published, evaluated, answer, waiting };
}

/**
 * Until every detector has run once and the end of the pass had its turn: the evaluations are
 * answered, so what is left of the pass are promise callbacks, all run by the next turn.
 */
async function passDone(subsystem: DetectorsSubsystem): Promise<void> {
  await expect
    .poll(() => subsystem.list().every((detector) => detector.state === 'OK'), { timeout: 5_000 })
    .toBe(true);
  expect(subsystem.list().length).toBeGreaterThan(0);
  await nextTurn();
}

describe('DetectorsSubsystem reload', () => {
  /** Detectors a, b, c and the static group web, started, their first pass done. */
  async function afterFirstPass() {
    const made = detectorsSubsystem({ groups: ['a', 'b', 'c'], staticGroups: ['web'], held: true });
    await made.subsystem.start();
    for (const rule of ['b', 'c', 'a']) await made.answer(rule);
    await passDone(made.subsystem);
    return made;
  }

  it('publishes the groups once after the first pass', async () => {
    const { subsystem, published } = await afterFirstPass();
    expect(subsystem.state()).toEqual({ status: 'ok' });
    expect(published).toEqual([['a', 'b', 'c', 'web']]);
  });

  it('publishes nothing when the reloaded rules and static groups are the same, and never drops a group', async () => {
    const { subsystem, published, evaluated, answer, waiting } = await afterFirstPass();
    expect(published).toEqual([['a', 'b', 'c', 'web']]);

    subsystem.reloadDefinitions(settings(['web']), definitions(['a', 'b', 'c']), []);
    // While the new detectors run their first pass, the node keeps its groups: before any rule
    // answered, and after each one did, in the order b, c, a.
    expect(subsystem.nodeGroups()).toEqual(['a', 'b', 'c', 'web']);
    await expect.poll(() => [...waiting.keys()].sort()).toEqual(['a', 'b', 'c']);
    for (const rule of ['b', 'c', 'a']) {
      expect(subsystem.nodeGroups()).toEqual(['a', 'b', 'c', 'web']);
      await answer(rule);
    }
    await passDone(subsystem);
    expect(evaluated.filter((rule) => rule === 'a')).toHaveLength(2);
    expect(published).toEqual([['a', 'b', 'c', 'web']]);
    expect(subsystem.nodeGroups()).toEqual(['a', 'b', 'c', 'web']);
  });

  it('publishes a reload that changes the groups once, with the new groups', async () => {
    const { subsystem, published, answer } = await afterFirstPass();

    subsystem.reloadDefinitions(settings(['db']), definitions(['a', 'c', 'd']), []);
    expect(subsystem.nodeGroups()).toEqual(['a', 'b', 'c', 'web']);
    for (const rule of ['d', 'c']) {
      await answer(rule);
      // Not yet: the groups are published once, at the end of the pass.
      expect(subsystem.nodeGroups()).toEqual(['a', 'b', 'c', 'web']);
      expect(published).toHaveLength(1);
    }
    await answer('a');
    await passDone(subsystem);
    expect(published).toEqual([
      ['a', 'b', 'c', 'web'],
      ['a', 'c', 'd', 'db'],
    ]);
    expect(subsystem.staticNodeGroups()).toEqual(['db']);
  });

  it('runs each detector once when a reload comes before the first pass, and publishes once', async () => {
    let collectorsDone!: () => void;
    const ready = new Promise<void>((resolve) => (collectorsDone = resolve));
    const { subsystem, published, evaluated } = detectorsSubsystem({
      groups: ['a', 'b'],
      staticGroups: ['web'],
      collectorsReady: () => ready,
    });
    await subsystem.start();
    subsystem.reloadDefinitions(settings(['web']), definitions(['a', 'b', 'c']), []);
    expect(subsystem.state().status).toBe('initializing');
    collectorsDone();
    await passDone(subsystem);
    expect(evaluated.sort()).toEqual(['a', 'b', 'c']);
    expect(published).toEqual([['a', 'b', 'c', 'web']]);
    expect(subsystem.state()).toEqual({ status: 'ok' });
  });
});
