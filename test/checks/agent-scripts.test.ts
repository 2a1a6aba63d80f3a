// A real agent running a script check: its plugins are children of the plugin launcher, not of the
// agent, and the launcher goes when the agent stops (and with it anything a plugin left running).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

import type { CheckRunAnswer } from '../../agent/shared/api-types.js';
import {
  cleanupAll,
  isAlive,
  prepareAgentDirs,
  runCli,
  startAgent,
  tempDir,
  WITHOUT_PACKS,
} from '../helpers/agent-process.js';
import { waitUntilGone, writePlugin } from './script-fixtures.js';

afterAll(cleanupAll);

it('runs plugins through the launcher, which stops with the agent', async () => {
  const pluginDir = tempDir();
  const pidFile = join(pluginDir, 'launcher.pid');
  const plugin = writePlugin(
    pluginDir,
    'check_parent',
    `echo $PPID > ${pidFile}; echo "OK parent $(cat /proc/$PPID/comm) of agent $(cut -d' ' -f4 /proc/$PPID/stat)"`,
  );
  const dirs = await prepareAgentDirs(`node_name: scripts-test\n${WITHOUT_PACKS}`);
  writeFileSync(
    join(dirs.configDir, 'conf.d', 'parent.yml'),
    `check: {name: parent, interval: 1h, script: "${plugin}"}\n`,
  );
  const agent = await startAgent(dirs);
  const api = ['--api', `unix:${join(dirs.dataDir, 'api.sock')}`];
  const run = runCli(['checks', 'run', 'parent', '--json', ...api]);
  expect(run.code, run.stderr).toBe(0);
  const answer = JSON.parse(run.stdout) as CheckRunAnswer;
  // The launcher's parent is the agent itself.
  expect(answer).toMatchObject({
    state: 'ok',
    output: `OK parent opsbro-plugin-l of agent ${agent.process.pid}`,
  });
  const launcherPid = Number(readFileSync(pidFile, 'utf8'));
  expect(isAlive(launcherPid)).toBe(true);

  expect(runCli(['agent', 'stop', ...api]).code).toBe(0);
  await agent.exited;
  // The agent closed it before it exited (it would die of its closed stdin all the same).
  await waitUntilGone([launcherPid]);
});
