// The detectors subsystem across a reload: the new detectors' first pass runs with the groups held,
// and the groups are published once at its end. A reload that changes nothing publishes nothing
// (a flap would make gossip and the group-gated collectors stop and start again).
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentSettings, Definition } from '../../agent/config/index.js';
import { DetectorsSubsystem } from '../../agent/detectors/index.js';
import { EventBus } from '../../agent/events/index.js';
import { Logger } from '../../agent/log/index.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const made: DetectorsSubsystem[] = [];
afterEach(async () => {
  for (const subsystem of made.splice(0)) await subsystem.stop();
});

/** One detector per group; its rule is the group name, and answers true after `delays[group]` ms. */
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

function detectorsSubsystem(options: {
  groups: string[];
  staticGroups: string[];
  delays: Record<string, number>;
  collectorsReady?: () => Promise<void>;
}) {
  const events = new EventBus();
  const published: string[][] = [];
  const evaluated: string[] = [];
  events.on('groups-changed', ({ groups }) => published.push(groups));
  const subsystem = new DetectorsSubsystem({
    settings: settings(options.staticGroups),
    definitions: definitions(options.groups),
    packs: [],
    evaluator: {
      evaluate: async (rule) => {
        evaluated.push(rule);
        await sleep(options.delays[rule] ?? 0);
        return true;
      },
      renderTemplate: (template) => Promise.resolve(template),
    },
    events,
    logger: Logger.create({ level: 'error', format: 'text' }),
    collectorsReady: options.collectorsReady ?? (() => Promise.resolve()),
  });
  made.push(subsystem);
  return { subsystem, published, evaluated };
}

/** Until every detector has run once and the end of the pass had its turn. */
async function passDone(subsystem: DetectorsSubsystem): Promise<void> {
  await expect
    .poll(() => subsystem.list().every((detector) => detector.state === 'OK'), { timeout: 5_000 })
    .toBe(true);
  await sleep(20);
}

describe('DetectorsSubsystem reload', () => {
  const delays = { a: 40, b: 5, c: 20 };

  /** Detectors a, b, c and the static group web, started, their first pass done. */
  async function afterFirstPass() {
    const made = detectorsSubsystem({ groups: ['a', 'b', 'c'], staticGroups: ['web'], delays });
    await made.subsystem.start();
    await passDone(made.subsystem);
    return made;
  }

  it('publishes the groups once after the first pass', async () => {
    const { subsystem, published } = await afterFirstPass();
    expect(subsystem.state()).toEqual({ status: 'ok' });
    expect(published).toEqual([['a', 'b', 'c', 'web']]);
  });

  it('publishes nothing when the reloaded rules and static groups are the same, and never drops a group', async () => {
    const { subsystem, published, evaluated } = await afterFirstPass();
    expect(published).toEqual([['a', 'b', 'c', 'web']]);

    subsystem.reloadDefinitions(settings(['web']), definitions(['a', 'b', 'c']), []);
    // While the new detectors run their first pass, the node keeps its groups.
    expect(subsystem.nodeGroups()).toEqual(['a', 'b', 'c', 'web']);
    for (let waited = 0; waited < 100; waited += 10) {
      await sleep(10);
      expect(subsystem.nodeGroups()).toEqual(['a', 'b', 'c', 'web']);
    }
    await passDone(subsystem);
    expect(evaluated.filter((rule) => rule === 'a')).toHaveLength(2);
    expect(published).toEqual([['a', 'b', 'c', 'web']]);
    expect(subsystem.nodeGroups()).toEqual(['a', 'b', 'c', 'web']);
  });

  it('publishes a reload that changes the groups once, with the new groups', async () => {
    const { subsystem, published } = await afterFirstPass();

    subsystem.reloadDefinitions(settings(['db']), definitions(['a', 'c', 'd']), []);
    expect(subsystem.nodeGroups()).toEqual(['a', 'b', 'c', 'web']);
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
      delays,
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
