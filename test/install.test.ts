// The README's install line for real: `npm install -g` of the clone puts the `opsbro` command in
// <prefix>/bin, a link into the clone, and it runs from any directory. The prefix is a temporary
// directory (never the machine's global prefix), removed after the test.
import { execFile } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/agent-process.js';

const execFileAsync = promisify(execFile);

const createdDirs: string[] = [];

afterEach(() => {
  for (const dir of createdDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * The environment of the children: `npm test` exports npm_config_* (the machine's prefix among them)
 * and the package's npm_* variables, which must not reach the npm under test; OPSBRO_* would point
 * the command at another agent. The node running the tests comes first on PATH, for the command's
 * `#!/usr/bin/env node`.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(npm_|OPSBRO_)/i.test(name)) env[name] = value;
  }
  env.PATH = [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter);
  env.NO_COLOR = '1';
  return env;
}

/** True when the path exists, a dangling link included. */
function pathExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

async function run(file: string, args: string[], cwd: string): Promise<string> {
  const { stdout } = await execFileAsync(file, args, { cwd, env: cleanEnv(), timeout: 60_000 });
  return stdout;
}

describe('npm install -g from the clone', () => {
  it(
    'puts a working `opsbro` in <prefix>/bin, linked to the clone, and npm uninstall -g removes it',
    { timeout: 120_000 },
    async () => {
      const root = mkdtempSync(join(tmpdir(), 'opsbro-install-'));
      createdDirs.push(root);
      const prefix = join(root, 'prefix');
      const elsewhere = join(root, 'elsewhere');
      mkdirSync(elsewhere);
      // --offline with an empty cache: the install must not need the network (it links the clone,
      // whose dependencies `npm ci` installed). --ignore-scripts: the clone's `prepare` (the build)
      // already ran in `npm ci`, and rebuilding dist/ here would rewrite it under the agents that the
      // other test files are running.
      const npmFlags = [
        '--prefix',
        prefix,
        '--cache',
        join(root, 'npm-cache'),
        '--offline',
        '--no-audit',
        '--no-fund',
      ];
      await run('npm', ['install', '-g', ...npmFlags, '--ignore-scripts', REPO_ROOT], elsewhere);

      const command = join(prefix, 'bin', 'opsbro');
      expect(lstatSync(command).isSymbolicLink()).toBe(true);
      expect(realpathSync(command)).toBe(realpathSync(join(REPO_ROOT, 'bin', 'opsbro.js')));
      expect(realpathSync(join(prefix, 'lib', 'node_modules', 'opsbro'))).toBe(realpathSync(REPO_ROOT));
      // Nothing was downloaded into the cache (npm writes its logs there, nothing else).
      expect(readdirSync(join(root, 'npm-cache')).filter((entry) => entry !== '_logs')).toEqual([]);

      const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
        version: string;
      };
      expect((await run(command, ['--version'], elsewhere)).trim()).toBe(version);

      const key = (await run(command, ['agent', 'keygen'], elsewhere)).trim();
      expect(key).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(Buffer.from(key, 'base64')).toHaveLength(32);

      // The README's undo: the command and the link go, the clone stays.
      await run('npm', ['uninstall', '-g', ...npmFlags, 'opsbro'], elsewhere);
      expect(pathExists(command)).toBe(false);
      expect(pathExists(join(prefix, 'lib', 'node_modules', 'opsbro'))).toBe(false);
      expect(existsSync(join(REPO_ROOT, 'bin', 'opsbro.js'))).toBe(true);
      expect(existsSync(join(REPO_ROOT, 'package.json'))).toBe(true);
    },
  );
});
