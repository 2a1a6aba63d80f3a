// DESIGN.md's detector and evaluated-check examples, evaluated against live collector data of this
// machine: the shipped linux pack's collectors run for real (in process), the evaluator reads them.
import { CheckDefinitionSchema } from '../../agent/checks/index.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  COLLECTOR_TYPES,
  CollectorsSubsystem,
  collectorDefinitionSchema,
} from '../../agent/collectors/index.js';
import { loadConfig, type LoadedConfig } from '../../agent/config/index.js';
import { DetectorDefinitionSchema } from '../../agent/detectors/index.js';
import { EventBus } from '../../agent/events/index.js';
import { Evaluator } from '../../agent/evaluator/index.js';
import { Logger } from '../../agent/log/index.js';
import { DESIGN_CHECK, DESIGN_DETECTOR } from '../fixtures/design-examples.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';

let collectors: CollectorsSubsystem;
let config: LoadedConfig;
let root: string;

beforeAll(async () => {
  root = tempDir('opsbro-design-');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'redhat-release'), 'CentOS Linux release 7.9.2009 (Core)\n');
  const configDir = tempDir('opsbro-design-config-');
  config = loadConfig({
    configDir,
    // The shipped packs hold detectors too: a kind no subsystem handles would be refused.
    definitionSchemas: {
      detector: DetectorDefinitionSchema,
      collector: collectorDefinitionSchema([...COLLECTOR_TYPES.keys()]),
      check: CheckDefinitionSchema,
    },
  });
  collectors = new CollectorsSubsystem({
    settings: { ...config.settings, paths: { root: '/', proc: '', sys: '' } },
    definitions: config.definitions.filter((d) => d.pack === 'linux' || d.pack === 'system'),
    packs: config.packs,
    types: COLLECTOR_TYPES,
    events: new EventBus(),
    logger: Logger.create({ level: 'error', format: 'text', sink: { kind: 'fd', fd: 2 } }),
  });
  await collectors.start();
  await collectors.ready();
});

afterAll(async () => {
  await collectors.stop();
  cleanupAll();
});

function evaluator(fileRoot: string): Evaluator {
  return new Evaluator({
    collectorData: (name) => collectors.data(name),
    groups: () => ['linux'],
    staticGroups: () => [],
    countNodes: () => 1,
    paths: { root: fileRoot, protectedPaths: [] },
    envAllowList: () => [],
  });
}

describe("DESIGN.md's examples against live data", () => {
  it("the detector: grep('centos', '/etc/redhat-release')", async () => {
    await expect(evaluator(root).evaluate(DESIGN_DETECTOR.apply_if)).resolves.toBe(true);
    // This machine is Debian: no redhat-release under the real root.
    await expect(evaluator('/').evaluate(DESIGN_DETECTOR.apply_if)).resolves.toBe(false);
  });

  it('the evaluated check: outputs and thresholds over the live cpustats', async () => {
    const scope = { configuration: DESIGN_CHECK };
    const idle = (collectors.data('cpustats') as { cpuall: Record<string, number> }).cpuall['%idle']!;
    expect(idle).toBeGreaterThanOrEqual(0);
    const e = evaluator('/');
    const ok = await e.evaluate(DESIGN_CHECK.ok_output, scope);
    expect(ok).toMatch(/^OK: cpu is great: [\d.]+%$/);
    // The formatted number is 100 - the live %idle, as Python's %s prints it.
    expect(Number(String(ok).slice('OK: cpu is great: '.length, -1))).toBeCloseTo(100 - idle, 6);
    await expect(e.evaluate(DESIGN_CHECK.critical_if, scope)).resolves.toBe(idle < 1);
    await expect(e.evaluate(DESIGN_CHECK.warning_if, scope)).resolves.toBe(idle < 5);
    await expect(e.evaluate(DESIGN_CHECK.critical_output, scope)).resolves.toMatch(
      /^Critical: cpu is too high: [\d.]+%$/,
    );
    await expect(e.evaluate(DESIGN_CHECK.warning_output, scope)).resolves.toMatch(
      /^Warning: cpu is very high: [\d.]+%$/,
    );
  });
});
