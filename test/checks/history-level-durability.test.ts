// What the check history's durability rests on, shown on the real files and system calls:
// - a batch torn anywhere (the agent killed between two write(2) calls of one LevelDB log record,
//   at a 32 KB block boundary where the fragments before it are whole and checksummed, or inside
//   one) comes back whole or not at all: the ring and the status never disagree;
// - addChange() fsyncs LevelDB's log (strace sees one fdatasync per change), addResult() does not.
import { cpSync, readdirSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { LevelCheckHistory } from '../../agent/checks/level-history.js';
import type { CheckStatus } from '../../agent/shared/api-types.js';
import { openStore } from '../../agent/store/index.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';
import { describeWhenAvailable, straceMissing } from '../helpers/requirements.js';
import { resultRecord } from '../store/fixtures.js';
import { killStoreChildren, requireFreshBuild, storeChild } from '../store/store-child.js';

afterEach(() => {
  killStoreChildren();
  cleanupAll();
});

const RING = 4;
/** LevelDB's log is written in blocks of 32 KiB; a record longer than what is left spans blocks. */
const LOG_BLOCK_BYTES = 32 * 1024;
const PADDING = 'x'.repeat(100_000);

const resultOf = (n: number) => resultRecord(n, PADDING);

function statusOf(n: number): CheckStatus {
  return { name: 'cpu', output: `run ${n}`, long_output: PADDING } as CheckStatus;
}

/** The store's current log file (the highest-numbered *.log). */
function logFileOf(storeDir: string): string {
  const logs = readdirSync(storeDir)
    .filter((name) => name.endsWith('.log'))
    .sort();
  return join(storeDir, logs.at(-1)!);
}

it('a batch torn at any point of its log record comes back whole or not at all', async () => {
  const dataDir = tempDir();
  const store = await openStore(dataDir);
  const history = LevelCheckHistory.on(store, { resultsPerCheck: RING });
  for (let n = 0; n < 9; n++) await history.addResult('cpu', resultOf(n), statusOf(n));
  // LevelDB hands each record to the kernel before the write resolves: the sizes are on disk.
  const log = logFileOf(store.location);
  const before = statSync(log).size;
  await history.addResult('cpu', resultOf(9), statusOf(9));
  const after = statSync(log).size;
  await store.close();
  expect(logFileOf(join(dataDir, 'store'))).toBe(log);
  expect(after - before).toBeGreaterThan(2 * LOG_BLOCK_BYTES);

  const blockBoundaries = [];
  for (
    let offset = Math.ceil(before / LOG_BLOCK_BYTES) * LOG_BLOCK_BYTES;
    offset < after;
    offset += LOG_BLOCK_BYTES
  ) {
    blockBoundaries.push(offset, offset + 7); // a fragment's 7-byte header alone, then none of its data
  }
  const cuts = [before, before + 3, ...blockBoundaries, after - 1];
  for (let offset = before + 1_000; offset < after; offset += 9_973) cuts.push(offset);

  for (const cut of [...cuts, after]) {
    const copyDir = tempDir();
    cpSync(join(dataDir, 'store'), join(copyDir, 'store'), { recursive: true });
    truncateSync(join(copyDir, 'store', log.split('/').at(-1)!), cut);
    const reopened = await openStore(copyDir);
    try {
      const reread = LevelCheckHistory.on(reopened, { resultsPerCheck: RING });
      const ring = (await reread.recentResults('cpu', 100)).map((result) => result.output);
      const status = (await reread.lastStatuses()).get('cpu')!;
      const newest = cut === after ? 9 : 8;
      const where = `log cut at ${cut} of ${before}..${after}`;
      expect(ring, where).toEqual(Array.from({ length: RING }, (_, n) => `run ${newest - n}`));
      expect(status.output, where).toBe(`run ${newest}`);
      expect((await reread.recentResults('cpu', 1))[0]!.long_output, where).toBe(PADDING);
    } finally {
      await reopened.close();
    }
  }
});

describeWhenAvailable('check history fsyncs (strace)', straceMissing(), () => {
  beforeAll(requireFreshBuild);

  it('fsyncs the log once per addChange, never for addResult', async () => {
    const dataDir = tempDir();
    const trace = join(tempDir(), 'strace.out');
    // Opening fsyncs the table index and CURRENT; only the log's syncs count here.
    const child = storeChild(
      `
      const store = await openStore(args[0]);
      const history = LevelCheckHistory.on(store);
      const result = { at: 't', state: 'ok', state_type: 'hard', attempt: 1, output: 'fine', perfdata: [], duration_ms: 1 };
      for (let n = 0; n < 20; n++) await history.addResult('cpu', result, { name: 'cpu', output: 'fine' });
      for (let n = 0; n < 3; n++) {
        await history.addChange({ check: 'cpu', at: 't' + n, from: 'ok', to: 'warning', state_type: 'soft', attempt: 1, output: 'high' });
        await history.addResult('cpu', result, { name: 'cpu', output: 'fine' });
      }
      await store.close();
      console.log('done');
    `,
      [dataDir],
      ['strace', '-f', '-y', '-e', 'trace=fsync,fdatasync,sync_file_range,msync', '-o', trace],
    );
    await child.line(/^done$/);
    expect(await child.exited()).toBe(0);
    const syncs = readFileSync(trace, 'utf8')
      .split('\n')
      .filter((line) => /\b(fsync|fdatasync|sync_file_range|msync)\(/.test(line));
    const logSyncs = syncs.filter((line) => /\.log>\)/.test(line));
    expect(logSyncs, syncs.join('\n')).toHaveLength(3);
    expect(logSyncs.every((line) => / = 0$/.test(line))).toBe(true);
  });
});
