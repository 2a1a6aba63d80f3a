// Definition defaults that depend on other keys (a collector's timeout follows its interval), and
// the agent.yml text that switches packs off.
import { CheckDefinitionSchema } from '../../agent/checks/index.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  COLLECTOR_TYPES,
  CollectorsSubsystem,
  collectorDefinitionSchema,
} from '../../agent/collectors/index.js';
import { disabledPacksYaml, loadConfig, shippedPackNames } from '../../agent/config/index.js';
import { DetectorDefinitionSchema } from '../../agent/detectors/index.js';
import { EventBus } from '../../agent/events/index.js';
import { Logger } from '../../agent/log/index.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';

afterAll(cleanupAll);

const definitionSchemas = {
  detector: DetectorDefinitionSchema,
  collector: collectorDefinitionSchema([...COLLECTOR_TYPES.keys()]),
  check: CheckDefinitionSchema,
};

describe('collector timeout', () => {
  it('defaults to the interval, at most 10 s; an explicit one is kept', () => {
    const root = tempDir();
    mkdirSync(join(root, 'etc', 'conf.d'), { recursive: true });
    writeFileSync(join(root, 'etc', 'agent.yml'), '');
    writeFileSync(
      join(root, 'etc', 'conf.d', 'collectors.yml'),
      [
        '- collector: {name: fast, type: uptime, interval: 2s}',
        '- collector: {name: slow, type: uptime, interval: 60s}',
        '- collector: {name: usual, type: uptime}',
        '- collector: {name: explicit, type: uptime, interval: 60s, timeout: 30s}',
        '',
      ].join('\n'),
    );
    const loaded = loadConfig({ configDir: join(root, 'etc'), definitionSchemas, packDirs: [] });
    expect(loaded.warnings).toEqual([]);
    // The schema leaves an absent timeout absent (no default filled in for it).
    expect(loaded.definitions.find((d) => d.name === 'fast')!.body).not.toHaveProperty('timeout');
    const collectors = new CollectorsSubsystem({
      settings: loaded.settings,
      definitions: loaded.definitions,
      packs: loaded.packs,
      types: COLLECTOR_TYPES,
      events: new EventBus(),
      logger: Logger.create({ level: 'error', format: 'text' }),
    });
    expect(
      collectors.list().map(({ name, interval_s, timeout_s }) => ({ name, interval_s, timeout_s })),
    ).toEqual([
      { name: 'fast', interval_s: 2, timeout_s: 2 },
      { name: 'slow', interval_s: 60, timeout_s: 10 },
      { name: 'usual', interval_s: 10, timeout_s: 10 },
      { name: 'explicit', interval_s: 60, timeout_s: 30 },
    ]);
  });
});

describe('disabledPacksYaml', () => {
  it('is a packs: block with one disabled pack per line, without a trailing newline', () => {
    expect(disabledPacksYaml(['redis', 'mysql'])).toBe(
      'packs:\n  redis: {enabled: false}\n  mysql: {enabled: false}',
    );
    expect(disabledPacksYaml([])).toBe('packs: {}');
  });

  it('switches every shipped pack off in a loaded configuration', () => {
    const root = tempDir();
    mkdirSync(join(root, 'etc'), { recursive: true });
    const yaml = disabledPacksYaml(shippedPackNames());
    expect(parse(yaml)).toEqual({
      packs: Object.fromEntries(shippedPackNames().map((name) => [name, { enabled: false }])),
    });
    writeFileSync(join(root, 'etc', 'agent.yml'), `groups: [web]\n${yaml}\nnode_name: x\n`);
    const loaded = loadConfig({ configDir: join(root, 'etc'), definitionSchemas });
    expect(loaded.warnings).toEqual([]);
    expect(loaded.settings).toMatchObject({ groups: ['web'], node_name: 'x' });
    expect(loaded.packs.map((pack) => pack.enabled)).toEqual(shippedPackNames().map(() => false));
    expect(loaded.definitions).toEqual([]);
  });
});
