// Issue 12's acceptance: SIGKILL the agent right after a state change, and the change is in
// history after the restart. The agent announces a change (its check table, what gossip and
// `checks list` read) only once history holds it durably; the test kills it the moment the table
// shows the change, several times in a row, each time on another state.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckDetail, NodeCheckTable } from '../../agent/shared/api-types.js';
import {
  cleanupAll,
  prepareAgentDirs,
  runCli,
  type RunningAgent,
  startAgent,
  tempDir,
  WITHOUT_PACKS,
} from '../helpers/agent-process.js';
import { waitFor } from '../helpers/gossip-agents.js';

afterAll(cleanupAll);

const ROUNDS = 4;

describe('a state change survives a SIGKILL right after it', () => {
  it(`is in history after the restart (${ROUNDS} kills)`, async () => {
    const flag = join(tempDir(), 'down');
    const dirs = await prepareAgentDirs(
      `${WITHOUT_PACKS}\ncheck:\n  name: flag\n  interval: 1s\n  max_attempts: 1\n` +
        `  critical_if: "file_exists('${flag}')"\n  critical_output: "'flag is there'"\n  ok_output: "'no flag'"\n`,
    );
    const socket = ['--api', `unix:${join(dirs.dataDir, 'api.sock')}`];
    const json = <T>(args: string[]): T => {
      const result = runCli([...args, '--json', ...socket]);
      if (result.code !== 0) throw new Error(`${args.join(' ')}: ${result.stderr}`);
      return JSON.parse(result.stdout) as T;
    };
    /** The flag check's state in this node's table, as `checks list --all` shows it (announced). */
    const localState = () =>
      json<NodeCheckTable[]>(['checks', 'list', '--all'])
        .flatMap((table) => table.checks)
        .find((brief) => brief.name === 'flag')?.state;

    let agent: RunningAgent = await startAgent(dirs);
    await waitFor(() => Promise.resolve(localState() === 'ok'), 20_000, 'the check is OK');
    for (let round = 1; round <= ROUNDS; round++) {
      const target = round % 2 === 1 ? 'critical' : 'ok';
      if (target === 'critical') writeFileSync(flag, '');
      else rmSync(flag);
      // Polled as fast as the CLI answers; killed the moment the change is announced.
      await waitFor(() => Promise.resolve(localState() === target), 20_000, `the check turns ${target}`);
      const killedAt = Date.now();
      agent.process.kill('SIGKILL');
      expect((await agent.exited).signal).toBe('SIGKILL');

      agent = await startAgent(dirs);
      const detail = json<CheckDetail>(['checks', 'show', 'flag']);
      expect(detail.changes[0], `round ${round}`).toMatchObject({ check: 'flag', to: target });
      // The change kept from before the kill, not one the restarted agent's first run recorded
      // anew (the check runs every second): that would hide a lost change.
      expect(Date.parse(detail.changes[0]!.at), `round ${round}`).toBeLessThan(killedAt);
      expect(detail.changes.filter((change) => change.to === 'critical')).toHaveLength(Math.ceil(round / 2));
    }
  }, 120_000);
});
