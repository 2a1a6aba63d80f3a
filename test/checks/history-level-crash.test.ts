// The check history survives SIGKILL (issue 12, acceptance): a real node process (the built agent
// modules, as bin/opsbro.js runs them) writes to the store and is killed; the test reopens the
// store in its place. A change is kept once addChange() resolved, 20 times in a row; and a kill
// that lands while results are being written never leaves half a batch: the ring's newest result
// and the check's status as read back always agree (the status is written once a minute, as the
// agent has it, and brought up to the newest result), and no result whose write had resolved is lost.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LevelCheckHistory } from '../../agent/checks/level-history.js';
import { openStore } from '../../agent/store/index.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';
import { seededRandom } from '../helpers/seeded-random.js';
import { killStoreChildren, requireFreshBuild, storeChild } from '../store/store-child.js';

beforeAll(requireFreshBuild);
afterEach(() => {
  killStoreChildren();
  cleanupAll();
});

/** Reads the history of `dataDir` in this process, then closes the store (the next child needs it). */
async function readHistory<T>(dataDir: string, read: (history: LevelCheckHistory) => Promise<T>): Promise<T> {
  const store = await openStore(dataDir);
  try {
    return await read(LevelCheckHistory.on(store, { resultsPerCheck: RING }));
  } finally {
    await store.close();
  }
}

const RING = 8;

describe('check history and SIGKILL', () => {
  it('a change is in history after a SIGKILL right after addChange resolved (20 times)', async () => {
    const dataDir = tempDir();
    const child = `
      const store = await openStore(args[0]);
      const history = LevelCheckHistory.on(store);
      await history.addChange({
        check: 'disk', at: new Date().toISOString(), from: 'ok', to: 'critical', state_type: 'hard',
        attempt: 3, output: 'change ' + args[1],
      });
      console.log('written');
      setInterval(() => {}, 60_000);
    `;
    for (let round = 0; round < 20; round++) {
      const writer = storeChild(child, [dataDir, String(round)]);
      await writer.line(/^written$/);
      await writer.kill();
      const changes = await readHistory(dataDir, (history) => history.changes('disk', 100));
      expect(
        changes.map((change) => change.output),
        `round ${round}`,
      ).toEqual(Array.from({ length: round + 1 }, (_, n) => `change ${round - n}`));
    }
  });

  const SEED = Number(process.env.OPSBRO_CRASH_SEED ?? 1_212_007);

  it(`a kill while results are being written leaves whole batches only (seed ${SEED})`, async () => {
    const random = seededRandom(SEED);
    const dataDir = tempDir();
    // Outputs of 100 KB: each batch spans several 32 KB blocks of LevelDB's log, written by
    // several write(2) calls, so a kill can fall between two of them. The child prints each
    // result's number once its write resolved.
    const child = `
      const store = await openStore(args[0]);
      // As the agent runs it: a status written with a result at most once a minute.
      const history = LevelCheckHistory.on(store, { resultsPerCheck: ${RING}, statusEveryMs: 60_000 });
      const padding = 'x'.repeat(100_000);
      console.log('started');
      for (let n = Number(args[1]); ; n++) {
        const at = new Date().toISOString();
        const output = 'run ' + n;
        await history.addResult(
          'burst',
          { at, state: 'ok', state_type: 'hard', attempt: 1, output, long_output: padding, perfdata: [], duration_ms: 1 },
          () => ({ name: 'burst', type: 'evaluated', state: 'ok', output, long_output: padding, last_run_at: at }),
        );
        console.log('written ' + n);
      }
    `;
    let next = 0;
    for (let round = 0; round < 10; round++) {
      const killAfterMs = Math.floor(random() * 60);
      const writer = storeChild(child, [dataDir, String(next)]);
      await writer.line(/^started$/);
      await new Promise((resolve) => setTimeout(resolve, killAfterMs));
      await writer.kill();
      const acknowledged = [...writer.output().matchAll(/^written (\d+)$/gm)].map((match) =>
        Number(match[1]),
      );
      const lastAcknowledged = acknowledged.at(-1) ?? next - 1;
      const { ring, status } = await readHistory(dataDir, async (history) => ({
        ring: (await history.recentResults('burst', 100)).map((result) =>
          Number(result.output.split(' ')[1]),
        ),
        status: (await history.lastStatuses()).get('burst'),
      }));
      const where = `round ${round} (kill after ${killAfterMs} ms, seed ${SEED}): ring ${ring.join(',')}, status ${status?.output}`;
      expect(status, where).toBeDefined();
      const newest = ring[0]!;
      expect(status!.output, where).toBe(`run ${newest}`);
      // Whole results, consecutive, newest first, as many as were written up to the ring's size.
      expect(ring, where).toEqual(Array.from({ length: Math.min(RING, newest + 1) }, (_, n) => newest - n));
      // What resolved is kept; at most the one write in flight at the kill is in the store unacknowledged.
      expect(newest, where).toBeGreaterThanOrEqual(lastAcknowledged);
      expect(newest, where).toBeLessThanOrEqual(lastAcknowledged + 1);
      next = newest + 1;
    }
    // The rounds did write: the test is not about an empty ring.
    expect(next).toBeGreaterThan(10);
  });
});
