// A full disk, for real: the store on a 2 MiB tmpfs filled up by another file. Writes then fail
// with an error that says so (the process goes on: nothing throws outside the write's promise),
// reads of what was written go on, and once space is freed writes resume by themselves, durably:
// what they write is there after a reopen. (A naive store loses those: LevelDB keeps appending
// after the torn record the failed write left in its log, and the next open stops reading there.)
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { LevelCheckHistory } from '../../agent/checks/level-history.js';
import type { CheckStateChange, CheckStatus } from '../../agent/shared/api-types.js';
import { openStore, type Store, StoreError } from '../../agent/store/index.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';
import { describeWhenAvailable } from '../helpers/requirements.js';
import { resultRecord, storeErrorFrom } from './fixtures.js';

const TMPFS_BYTES = 2 * 1024 * 1024;

/** Why a tmpfs cannot be mounted here (not root, no CAP_SYS_ADMIN), or undefined when it can. */
function tmpfsMissing(): string | undefined {
  const probe = tempDir('opsbro-tmpfs-probe-');
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe]);
  if (mounted.error || mounted.status !== 0) {
    return `cannot mount a tmpfs (needs root with CAP_SYS_ADMIN): ${mounted.stderr?.toString().trim() || mounted.error?.message}`;
  }
  spawnSync('umount', [probe]);
  return undefined;
}

const mounts: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  for (const mount of mounts.splice(0)) execFileSync('umount', [mount]);
  cleanupAll();
});

// Random text: LevelDB compresses tables, and a full disk must stay full for the retry too.
const resultOf = (n: number) => resultRecord(n, randomBytes(7_500).toString('base64'));

const statusOf = (n: number) => ({ name: 'disk', output: `run ${n}` }) as CheckStatus;

const changeOf = (output: string): CheckStateChange => ({
  check: 'disk',
  at: 't',
  from: 'ok',
  to: 'critical',
  state_type: 'hard',
  attempt: 1,
  output,
});

describeWhenAvailable('store on a full disk', tmpfsMissing(), () => {
  it('fails writes in words, keeps reads, and resumes durably once space is freed', async () => {
    const mount = tempDir('opsbro-tmpfs-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES}`, 'tmpfs', mount]);
    mounts.push(mount);
    const dataDir = join(mount, 'data');
    let nowMs = 0;
    const store = await openStore(dataDir, { retryAfterFailureMs: 5_000, now: () => nowMs });
    stores.push(store);
    const history = LevelCheckHistory.on(store, { resultsPerCheck: 1_000 });
    const filler = join(mount, 'filler');
    writeFileSync(filler, Buffer.alloc(TMPFS_BYTES - 400 * 1024));

    let written = 0;
    let failure: unknown;
    while (failure === undefined && written < 1_000) {
      await history.addResult('disk', resultOf(written), statusOf(written)).then(
        () => (written += 1),
        (error: unknown) => (failure = error ?? 'undefined'),
      );
    }
    expect(failure).toBeInstanceOf(StoreError);
    const error = failure as StoreError;
    expect(written).toBeGreaterThan(5);
    expect(error.problem).toBe('disk-full');
    expect(error.operation).toBe('write');
    expect(error.message).toContain(`cannot write the store ${join(dataDir, 'store')}: the disk is full`);
    expect(error.message).toContain('the agent keeps running');
    expect(error.message).toContain('writes resume by themselves once space is freed');
    // What was written reads back while the disk is full.
    expect((await history.recentResults('disk', 1))[0]!.output).toBe(`run ${written - 1}`);

    // While the disk stays full every write fails the same way, the retry after the wait too.
    expect((await storeErrorFrom(history.addChange(changeOf('while full')))).problem).toBe('disk-full');
    expect(
      (await storeErrorFrom(history.addResult('disk', resultOf(written), statusOf(written)))).problem,
    ).toBe('disk-full');
    nowMs += 5_000;
    expect(
      (await storeErrorFrom(history.addResult('disk', resultOf(written), statusOf(written)))).problem,
    ).toBe('disk-full');

    rmSync(filler);
    nowMs += 5_000;
    await history.addResult('disk', resultOf(written), statusOf(written));
    await history.addChange(changeOf('after space was freed'));
    expect((await history.recentResults('disk', 1))[0]!.output).toBe(`run ${written}`);

    // Durable: everything acknowledged is there after a reopen, the writes after the failure too.
    await store.close();
    stores.splice(0);
    const reopened = await openStore(dataDir);
    stores.push(reopened);
    const reread = LevelCheckHistory.on(reopened, { resultsPerCheck: 1_000 });
    const ring = (await reread.recentResults('disk', 2_000)).map((result) => result.output);
    expect(ring).toEqual(Array.from({ length: written + 1 }, (_, n) => `run ${written - n}`));
    expect((await reread.lastStatuses()).get('disk')!.output).toBe(`run ${written}`);
    expect((await reread.changes('disk', 10)).map((change) => change.output)).toEqual([
      'after space was freed',
    ]);
  });
});
