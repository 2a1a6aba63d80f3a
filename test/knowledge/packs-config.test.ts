// Packs in the configuration: pack.yml, parameters overridden from conf.d, packs switched off,
// definition names, conf.d replacing a pack's definition; and the shipped packs all load.
import { CheckDefinitionSchema } from '../../agent/checks/index.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COLLECTOR_TYPES, collectorDefinitionSchema } from '../../agent/collectors/index.js';
import { substituteParameters } from '../../agent/collectors/definition.js';
import { ConfigErrors, loadConfig, parseDurationMs } from '../../agent/config/index.js';
import { DetectorDefinitionSchema } from '../../agent/detectors/index.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';

afterAll(cleanupAll);

const definitionSchemas = {
  detector: DetectorDefinitionSchema,
  collector: collectorDefinitionSchema([...COLLECTOR_TYPES.keys()]),
  check: CheckDefinitionSchema,
};

function tree(files: Record<string, string>): string {
  const root = tempDir();
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const REDIS_PACK = {
  'packs/redis/pack.yml':
    'pack:\n  name: redis\n  description: Redis\n  version: "2.1"\n  parameters: {host: 127.0.0.1, port: 6379}\n',
  'packs/redis/detectors/redis.yml':
    'detector:\n  apply_if: "file_exists(\'/usr/bin/redis-server\')"\n  groups: [redis]\n',
  'packs/redis/collectors/redis.yml':
    'collector:\n  type: redis\n  if_group: redis\n  settings: {host: "{parameters.host}", port: "{parameters.port}"}\n',
};

describe('packs', () => {
  it('reads pack.yml and applies parameter overrides from conf.d, warning about unknown ones', () => {
    const root = tree({
      ...REDIS_PACK,
      'etc/agent.yml': '',
      'etc/conf.d/redis.yml': 'packs:\n  redis:\n    parameters: {port: 6380, prot: 1}\n  nosuch: {}\n',
    });
    const loaded = loadConfig({
      configDir: join(root, 'etc'),
      definitionSchemas,
      packDirs: [join(root, 'packs')],
    });
    expect(loaded.packs).toEqual([
      {
        name: 'redis',
        description: 'Redis',
        version: '2.1',
        dir: join(root, 'packs', 'redis'),
        parameters: { host: '127.0.0.1', port: 6380 },
        defaults: { host: '127.0.0.1', port: 6379 },
        overridden: ['port'],
        enabled: true,
      },
    ]);
    const conf = join(root, 'etc', 'conf.d', 'redis.yml');
    expect(loaded.warnings).toEqual([
      `${conf}:3: packs.redis.parameters.prot: pack redis has no parameter prot (it has: host, port), ignored`,
      `${conf}:4: packs.nosuch: no pack of that name, ignored`,
    ]);
    expect(loaded.definitions.map((d) => [d.kind, d.name, d.pack])).toEqual([
      ['detector', 'redis', 'redis'],
      ['collector', 'redis', 'redis'],
    ]);
    // Defaults filled by the schema.
    expect(loaded.definitions[1]!.body).toMatchObject({ interval: '10s', enabled: true });
  });

  it('loads no definition of a pack switched off', () => {
    const root = tree({ ...REDIS_PACK, 'etc/agent.yml': 'packs: {redis: {enabled: false}}\n' });
    const loaded = loadConfig({
      configDir: join(root, 'etc'),
      definitionSchemas,
      packDirs: [join(root, 'packs')],
    });
    expect(loaded.definitions).toEqual([]);
    expect(loaded.packs[0]!.enabled).toBe(false);
  });

  it('lets a conf.d definition replace a pack definition of the same name, and refuses other clashes', () => {
    const root = tree({
      ...REDIS_PACK,
      'etc/agent.yml': '',
      'etc/conf.d/redis.yml': 'detector:\n  apply_if: "True"\n  groups: [redis]\n',
    });
    const configDir = join(root, 'etc');
    const loaded = loadConfig({ configDir, definitionSchemas, packDirs: [join(root, 'packs')] });
    const detectors = loaded.definitions.filter((d) => d.kind === 'detector');
    expect(detectors).toHaveLength(1);
    expect(detectors[0]).toMatchObject({ name: 'redis', body: { apply_if: 'True' } });
    expect(detectors[0]!.pack).toBeUndefined();
    expect(loaded.warnings).toEqual([
      `${join(configDir, 'conf.d', 'redis.yml')}:1: replaces detector redis of pack redis (${join(root, 'packs', 'redis', 'detectors', 'redis.yml')})`,
    ]);

    writeFileSync(
      join(configDir, 'conf.d', 'two.yml'),
      '- detector: {name: web, apply_if: "True", groups: [a]}\n- detector: {name: web, apply_if: "True", groups: [b]}\n',
    );
    expect(() => loadConfig({ configDir, definitionSchemas, packDirs: [join(root, 'packs')] })).toThrow(
      `${join(configDir, 'conf.d', 'two.yml')}:2: a detector named web is already defined at ${join(configDir, 'conf.d', 'two.yml')}:1: give one of them another name`,
    );
  });

  it('names list items by file and index, and refuses an unknown collector type at its line', () => {
    const root = tree({
      'etc/conf.d/many.yml': '- detector: {apply_if: "True", groups: [a]}\n- collector: {type: cpustatz}\n',
    });
    try {
      loadConfig({ configDir: join(root, 'etc'), definitionSchemas, packDirs: [] });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigErrors);
      expect((error as ConfigErrors).errors.map((e) => e.message)).toEqual([
        expect.stringMatching(
          /many\.yml:2: \[1\]\.collector\.type: expected one of .*cpustats.*, got string "cpustatz"$/,
        ),
      ]);
    }
  });

  it('the shipped packs load without errors or warnings, with the seven packs', () => {
    const root = tree({ 'etc/agent.yml': '' });
    const loaded = loadConfig({ configDir: join(root, 'etc'), definitionSchemas });
    expect(loaded.warnings).toEqual([]);
    expect(loaded.packs.map((p) => p.name)).toEqual([
      'linux',
      'mongodb',
      'mysql',
      'nginx',
      'rabbitmq',
      'redis',
      'system',
    ]);
    const collectorTypes = loaded.definitions.filter((d) => d.kind === 'collector').map((d) => d.body.type);
    expect(new Set(collectorTypes)).toEqual(new Set(COLLECTOR_TYPES.keys()));
  });
});

describe('definition helpers', () => {
  it('parses durations', () => {
    expect([
      parseDurationMs('10s'),
      parseDurationMs('500ms'),
      parseDurationMs('2m'),
      parseDurationMs(1.5),
    ]).toEqual([10_000, 500, 120_000, 1500]);
    expect(() => parseDurationMs('10 parsecs')).toThrow('not a duration');
  });

  it('substitutes pack parameters in collector settings, keeping the type of a whole reference', () => {
    expect(
      substituteParameters(
        {
          host: '{parameters.host}',
          port: '{parameters.port}',
          url: 'http://{parameters.host}:{parameters.port}/x',
          n: 3,
        },
        { host: 'db', port: 6379 },
      ),
    ).toEqual({ host: 'db', port: 6379, url: 'http://db:6379/x', n: 3 });
    expect(() => substituteParameters({ a: '{parameters.nope}' }, {})).toThrow(
      'unknown pack parameter {parameters.nope}',
    );
  });
});
