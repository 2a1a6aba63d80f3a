// The store's group commit (agent/store/level-store.ts), in a real process under strace: synced
// writes made while one is under way share one LevelDB batch and one fsync of the log; every one
// of them resolves only once durable, and all are there after a reopen. close() writes what was
// asked before it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { openStore } from '../../agent/store/index.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';
import { describeWhenAvailable, straceMissing } from '../helpers/requirements.js';
import { killStoreChildren, requireFreshBuild, storeChild } from './store-child.js';

afterEach(() => {
  killStoreChildren();
  cleanupAll();
});

describeWhenAvailable('store group commit (strace)', straceMissing(), () => {
  beforeAll(requireFreshBuild);

  it('writes 200 concurrent synced puts with far fewer fsyncs, each resolved once durable', async () => {
    const dataDir = tempDir();
    const trace = join(tempDir(), 'strace.out');
    const child = storeChild(
      `
      const store = await openStore(args[0]);
      const kv = store.sublevel('kv');
      // One at a time first: one fsync each.
      for (let n = 0; n < 5; n++) await kv.put('alone/' + n, n, { sync: true });
      console.log('alone');
      // Then 200 at once: they queue behind the first and go together.
      await Promise.all(Array.from({ length: 200 }, (_, n) => kv.put('together/' + n, n, { sync: true })));
      // close() writes what was asked before it, awaited or not.
      void kv.put('at-close', 1, { sync: true });
      await store.close();
      console.log('done');
    `,
      [dataDir],
      ['strace', '-f', '-y', '-e', 'trace=fdatasync,fsync', '-o', trace],
    );
    await child.line(/^done$/);
    expect(await child.exited()).toBe(0);
    const logSyncs = readFileSync(trace, 'utf8')
      .split('\n')
      .filter((line) => /\b(fsync|fdatasync)\(.*\.log>\)/.test(line));
    // 5 alone, the first of the 200 alone, the rest in a few groups, and the one at close.
    expect(logSyncs.length, logSyncs.join('\n')).toBeGreaterThanOrEqual(7);
    expect(logSyncs.length, logSyncs.join('\n')).toBeLessThan(5 + 20);
    const store = await openStore(dataDir);
    try {
      const kv = store.sublevel('kv');
      let found = 0;
      for await (const [key] of kv.entries({ prefix: 'together/' })) if (key) found++;
      expect(found).toBe(200);
      expect(await kv.get('at-close')).toBe(1);
      expect(await kv.get('alone/4')).toBe(4);
    } finally {
      await store.close();
    }
  });
});
