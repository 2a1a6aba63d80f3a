// Review of issue 10: only the config dir was protected, by identity, but the loader follows
// agent.yml and conf.d/*.yml symlinks wherever they lead, and config management often keeps the
// real files elsewhere (/srv/cfg/agent.yml holding encryption_key and auth.tokens): an expression
// could read them by their real names. Every file the loader read settings from is now protected
// by the identity of what its name leads to, from the running config, so a reload applies too.
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type LoadedConfig } from '../../agent/config/index.js';
import { DetectorDefinitionSchema } from '../../agent/detectors/index.js';
import { Evaluator, ExpressionError } from '../../agent/evaluator/index.js';
import { evaluatorProtectedPaths } from '../../agent/core/protected-paths.js';
import {
  cleanupAll,
  httpGet,
  prepareAgentDirs,
  startAgent,
  tempDir,
  WITHOUT_PACKS,
} from '../helpers/agent-process.js';
import { fakeProviders } from './helpers.js';

afterAll(cleanupAll);

const SECRET = 'SECRET-7d2e01';

/** A config dir whose agent.yml and conf.d/tokens.yml are links to files in /srv-like `outside`. */
function linkedConfig(): { base: string; configDir: string; dataDir: string; outside: string } {
  const base = tempDir('opsbro-linked-config-');
  const configDir = join(base, 'etc');
  const dataDir = join(base, 'data');
  const outside = join(base, 'srv', 'cfg');
  mkdirSync(join(configDir, 'conf.d'), { recursive: true });
  mkdirSync(dataDir);
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'agent.yml'), `# ${SECRET}\nnode_name: box\n`);
  writeFileSync(join(outside, 'tokens.yml'), `# ${SECRET}\ngroups: [web]\n`);
  writeFileSync(join(outside, 'notes.txt'), 'not read by the loader\n');
  symlinkSync(join(outside, 'agent.yml'), join(configDir, 'agent.yml'));
  symlinkSync(join(outside, 'tokens.yml'), join(configDir, 'conf.d', 'tokens.yml'));
  return { base, configDir, dataDir, outside };
}

async function refusal(evaluator: Evaluator, expression: string): Promise<string> {
  const error = await evaluator.evaluate(expression).then(
    (value) => new Error(`answered ${JSON.stringify(value)}`),
    (caught: unknown) => caught as Error,
  );
  expect(error).toBeInstanceOf(ExpressionError);
  expect(error.message).not.toContain(SECRET);
  return error.message;
}

describe('config files reached through symlinks', () => {
  it('refuses the targets of agent.yml and conf.d links, by their real names, and leaves pack files readable', async () => {
    const { base, configDir, dataDir, outside } = linkedConfig();
    const packDir = join(base, 'packs');
    mkdirSync(join(packDir, 'web', 'detectors'), { recursive: true });
    writeFileSync(join(packDir, 'web', 'pack.yml'), 'pack:\n  description: web\n');
    writeFileSync(
      join(packDir, 'web', 'detectors', 'web.yml'),
      "detector:\n  name: web\n  apply_if: 'True'\n  groups: [web]\n",
    );
    const config = loadConfig({
      configDir,
      packDirs: [packDir],
      definitionSchemas: { detector: DetectorDefinitionSchema },
    });
    expect(config.files).toContain(join(packDir, 'web', 'detectors', 'web.yml'));
    const evaluator = new Evaluator(
      fakeProviders({ root: '/', protectedPaths: evaluatorProtectedPaths(config, dataDir) }),
    );

    expect(await refusal(evaluator, `grep('# SECRET', '${join(outside, 'agent.yml')}')`)).toContain(
      `refused: ${join(outside, 'agent.yml')} is a config file the agent read (${join(configDir, 'agent.yml')})`,
    );
    expect(await refusal(evaluator, `grep_file('^#', '${join(outside, 'tokens.yml')}', True)`)).toContain(
      'is a config file the agent read',
    );
    expect(await refusal(evaluator, `file_exists('${join(outside, 'tokens.yml')}')`)).toContain('refused: ');
    // Through the link's name: the config dir's rule.
    expect(await refusal(evaluator, `grep('x', '${join(configDir, 'conf.d', 'tokens.yml')}')`)).toContain(
      'refused: ',
    );
    // Next to them, a file the loader did not read; and a pack's definition file.
    expect(await evaluator.evaluate(`grep('loader', '${join(outside, 'notes.txt')}')`)).toBe(true);
    expect(
      await evaluator.evaluate(`grep('apply_if', '${join(packDir, 'web', 'detectors', 'web.yml')}')`),
    ).toBe(true);
  });

  it('protects a linked conf.d directory as a whole, files added after the load included', async () => {
    const { base, configDir, dataDir } = linkedConfig();
    const realConfD = join(base, 'srv', 'conf.d');
    mkdirSync(realConfD);
    writeFileSync(join(realConfD, 'a.yml'), 'log: {level: info}\n');
    const linkedDir = join(base, 'etc2');
    mkdirSync(linkedDir);
    symlinkSync(join(configDir, 'agent.yml'), join(linkedDir, 'agent.yml'));
    symlinkSync(realConfD, join(linkedDir, 'conf.d'));
    const config = loadConfig({ configDir: linkedDir, packDirs: [] });
    const evaluator = new Evaluator(
      fakeProviders({ root: '/', protectedPaths: evaluatorProtectedPaths(config, dataDir) }),
    );
    writeFileSync(join(realConfD, 'later.yml'), `# ${SECRET}\n`);
    expect(await refusal(evaluator, `grep('x', '${join(realConfD, 'later.yml')}')`)).toContain(
      "is in the agent's conf.d dir",
    );
  });

  it('follows the list the provider gives at each check: a reload that adds a linked conf.d file protects it', async () => {
    const { configDir, dataDir, outside } = linkedConfig();
    let current: LoadedConfig = loadConfig({ configDir, packDirs: [] });
    const evaluator = new Evaluator({
      ...fakeProviders({ root: '/' }),
      paths: { root: '/', protectedPaths: () => evaluatorProtectedPaths(current, dataDir) },
    });
    writeFileSync(join(outside, 'added.yml'), `# ${SECRET}\n`);
    const read = `grep('# SECRET', '${join(outside, 'added.yml')}')`;
    // Not a config file yet: readable like any other file.
    expect(await evaluator.evaluate(read)).toBe(true);
    symlinkSync(join(outside, 'added.yml'), join(configDir, 'conf.d', 'added.yml'));
    current = loadConfig({ configDir, packDirs: [] });
    expect(await refusal(evaluator, read)).toContain('is a config file the agent read');
  });
});

describe('a real agent whose agent.yml is a symlink', () => {
  it('refuses its target over the API, and a conf.d link added before a reload', async () => {
    const dirs = await prepareAgentDirs(`${WITHOUT_PACKS}# ${SECRET}\n`);
    const outside = join(dirs.root, 'srv');
    mkdirSync(outside);
    const realAgentYml = join(outside, 'agent.yml');
    writeFileSync(realAgentYml, readFileSync(join(dirs.configDir, 'agent.yml')));
    // The link replaces the file: written elsewhere, linked into the config dir.
    rmSync(join(dirs.configDir, 'agent.yml'));
    symlinkSync(realAgentYml, join(dirs.configDir, 'agent.yml'));
    await startAgent(dirs);
    const token = readFileSync(join(dirs.dataDir, 'local-token'), 'utf8').trim();
    const post = (path: string, body?: unknown) =>
      httpGet(`http://127.0.0.1:${dirs.port}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });

    const agentYmlRead = await post('/agent/evaluator/eval', {
      expression: `grep('# SECRET', '${realAgentYml}')`,
    });
    expect(agentYmlRead.body).toContain(`refused: ${realAgentYml} is a config file the agent read`);
    expect(agentYmlRead.body).not.toContain('"value":true');

    const added = join(outside, 'added.yml');
    writeFileSync(added, `# ${SECRET}\n`);
    const addedRead = { expression: `grep('# SECRET', '${added}')` };
    expect((await post('/agent/evaluator/eval', addedRead)).body).toContain('"value":true');
    symlinkSync(added, join(dirs.configDir, 'conf.d', 'added.yml'));
    expect((await post('/agent/reload')).status).toBe(200);
    const afterReload = await post('/agent/evaluator/eval', addedRead);
    expect(afterReload.body).toContain(`refused: ${added} is a config file the agent read`);
    expect(afterReload.body).not.toContain('"value":true');
  });
});
