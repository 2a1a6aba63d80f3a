// The dependency direction of docs/architecture.md is enforced by `npm run lint` (dependency-cruiser,
// .dependency-cruiser.cjs): the real tree passes, and a wrong import in a probe tree fails it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupAll, REPO_ROOT, tempDir } from './helpers/agent-process.js';

afterAll(cleanupAll);

const DEPCRUISE = join(REPO_ROOT, 'node_modules', '.bin', 'depcruise');
const CONFIG = join(REPO_ROOT, '.dependency-cruiser.cjs');

function cruise(cwd: string, paths: string[]): { code: number | null; output: string } {
  const result = spawnSync(DEPCRUISE, [...paths, '--config', CONFIG], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, output: result.stdout + result.stderr };
}

/** A tree with the repository's layout holding only `files`, and a tsconfig. */
function probeTree(files: Record<string, string>): string {
  const root = tempDir('opsbro-arch-');
  writeFileSync(
    join(root, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true } }),
  );
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('import rules', () => {
  it('the agent and the CLI follow them', () => {
    const { code, output } = cruise(REPO_ROOT, ['agent', 'cli']);
    expect(output).toContain('no dependency violations found');
    expect(code).toBe(0);
  });

  it.each([
    [
      'the evaluator importing gossip',
      'agent/evaluator/probe.ts',
      "import { x } from '../gossip/thing.js';",
      'evaluator-imports',
    ],
    [
      'the API importing a subsystem',
      'agent/api/probe.ts',
      "import { x } from '../gossip/thing.js';",
      'api-imports',
    ],
    [
      'shared code importing config',
      'agent/shared/probe.ts',
      "import { y } from '../config/thing.js';",
      'shared-imports',
    ],
    [
      'the CLI importing a subsystem',
      'cli/probe.ts',
      "import { x } from '../agent/gossip/thing.js';",
      'cli-imports-shared-only',
    ],
    [
      'the CLI loading main statically',
      'cli/probe.ts',
      "import { z } from '../agent/main.js';",
      'cli-loads-main-lazily',
    ],
    [
      'a subsystem importing main',
      'agent/gossip/probe.ts',
      "import { z } from '../main.js';",
      'nothing-imports-main',
    ],
  ])('fail on %s', (_what, path, line, rule) => {
    const root = probeTree({
      'agent/gossip/thing.ts': 'export const x = 1;\n',
      'agent/config/thing.ts': 'export const y = 1;\n',
      'agent/main.ts': 'export const z = 1;\n',
      [path]: `${line}\nexport const probe = 1;\n`,
    });
    const { code, output } = cruise(root, path.startsWith('cli/') ? ['agent', 'cli'] : ['agent']);
    expect(output).toContain(`error ${rule}:`);
    expect(code).not.toBe(0);
  });

  it('fail on an import cycle, and not on a type-only import back', () => {
    const cycle = probeTree({
      'agent/gossip/a.ts': "import { b } from './b.js';\nexport const a = b;\n",
      'agent/gossip/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
    });
    expect(cruise(cycle, ['agent']).output).toContain('error no-cycles:');
    const typeOnly = probeTree({
      'agent/gossip/a.ts': "import { b } from './b.js';\nexport class A { run = b; }\n",
      'agent/gossip/b.ts': "import type { A } from './a.js';\nexport const b = (a?: A) => a;\n",
    });
    expect(cruise(typeOnly, ['agent']).output).toContain('no dependency violations found');
  });
});
