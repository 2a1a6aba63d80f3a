// The store module on a real LevelDB in a temporary data dir: namespaces, atomic batches, ordered
// iteration, encodings, reopening, the open errors in words (a lock held by another process, a
// corrupt store and its repair), and the online backup.
import { ClassicLevel } from 'classic-level';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  KeyedSerial,
  keyOf,
  type Namespace,
  openStore,
  prefixOf,
  type Store,
} from '../../agent/store/index.js';
import { cleanupAll, REPO_ROOT, tempDir } from '../helpers/agent-process.js';
import { storeErrorFrom } from './fixtures.js';
import { killStoreChildren, requireFreshBuild, storeChild } from './store-child.js';

const opened: Store[] = [];
afterEach(async () => {
  killStoreChildren();
  for (const store of opened.splice(0)) await store.close().catch(() => undefined);
  cleanupAll();
});

async function open(dataDir: string): Promise<Store> {
  const store = await openStore(dataDir);
  opened.push(store);
  return store;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

describe('store: namespaces, batches, iteration', () => {
  it('keeps each namespace to its own keys, in <data-dir>/store', async () => {
    const dataDir = tempDir();
    const store = await open(dataDir);
    expect(store.location).toBe(join(dataDir, 'store'));
    const checks = store.sublevel('checks');
    const kv = store.sublevel('kv');
    await checks.put('a', 'of checks');
    await kv.put('a', 'of kv');
    await kv.put('b', 'of kv too');
    expect(await checks.get('a')).toBe('of checks');
    expect(await kv.get('a')).toBe('of kv');
    expect(await checks.get('b')).toBeUndefined();
    expect(await collect(checks.keys())).toEqual(['a']);
    expect(await collect(kv.entries())).toEqual([
      ['a', 'of kv'],
      ['b', 'of kv too'],
    ]);
  });

  it('writes a batch of puts and deletes as one, optionally fsync’d', async () => {
    const space = (await open(tempDir())).sublevel('checks');
    await space.write([
      { type: 'put', key: 'x', value: 1 },
      { type: 'put', key: 'y', value: 2 },
    ]);
    await space.write(
      [
        { type: 'del', key: 'x' },
        { type: 'put', key: 'z', value: 3 },
      ],
      { sync: true },
    );
    expect(await collect(space.entries())).toEqual([
      ['y', 2],
      ['z', 3],
    ]);
  });

  it('reads a prefix or bounds, ascending or newest first, up to a limit', async () => {
    const space = (await open(tempDir())).sublevel('checks');
    const ops = [];
    for (const check of ['cpu', 'cpu2', 'disk']) {
      for (let n = 0; n < 12; n++)
        ops.push({ type: 'put' as const, key: keyOf('result', check, n), value: `${check} ${n}` });
    }
    await space.write(ops);
    const values = async (range: Parameters<Namespace['entries']>[0]) =>
      (await collect(space.entries<string>(range))).map(([, value]) => value);
    expect(await values({ prefix: prefixOf('result', 'cpu'), order: 'descending', limit: 3 })).toEqual([
      'cpu 11',
      'cpu 10',
      'cpu 9',
    ]);
    expect(await values({ prefix: prefixOf('result', 'cpu') })).toHaveLength(12);
    expect(
      await values({ gte: keyOf('result', 'disk', 3), lt: keyOf('result', 'disk', 6), order: 'descending' }),
    ).toEqual(['disk 5', 'disk 4', 'disk 3']);
    expect(await values({ gt: keyOf('result', 'disk', 10) })).toEqual(['disk 11']);
    expect(await values({ lte: keyOf('result', 'cpu', 1) })).toEqual(['cpu 0', 'cpu 1']);
    await expect(
      space.entries({ prefix: 'result/', gt: 'a' })[Symbol.asyncIterator]().next(),
    ).rejects.toThrow(/prefix or bounds/);
  });

  it('encodes values explicitly: msgpack by default (undefined fields left out), JSON on request', async () => {
    const store = await open(tempDir());
    const value = {
      text: 'é ✓',
      count: 3,
      ratio: 0.25,
      list: [1, 'two', null],
      gone: undefined,
      nested: { ok: true },
    };
    const packed = store.sublevel('checks');
    const json = store.sublevel('kv', { codec: 'json' });
    await packed.put('v', value);
    await json.put('v', value);
    const { gone: _gone, ...kept } = value;
    expect(await packed.get('v')).toStrictEqual(kept);
    expect(await json.get('v')).toStrictEqual(kept);
    // On disk, under the namespace's prefix: JSON text in one, msgpack bytes in the other.
    await store.close();
    const raw = new ClassicLevel<string, string>(store.location, { valueEncoding: 'utf8' });
    try {
      expect(JSON.parse((await raw.get('!kv!v'))!)).toStrictEqual(kept);
      expect((await raw.get('!checks!v', { valueEncoding: 'buffer' }))![0]).toBe(0x85); // a msgpack map of 5 (`gone` left out)
    } finally {
      await raw.close();
    }
  });

  it('keeps everything across close and reopen; a closed store says so', async () => {
    const dataDir = tempDir();
    const first = await openStore(dataDir);
    await first.sublevel('checks').put('kept', { n: 1 });
    await first.close();
    const closedError = await storeErrorFrom(first.sublevel('checks').put('late', 1));
    expect(closedError.problem).toBe('closed');
    expect(closedError.message).toMatch(/closed \(the agent is stopping\)/);
    const second = await open(dataDir);
    expect(await second.sublevel('checks').get('kept')).toEqual({ n: 1 });
  });

  it('refuses a namespace name outside [a-z0-9-]', async () => {
    const store = await open(tempDir());
    for (const name of ['', 'Checks', 'a!b', 'a/b', '9x'])
      expect(() => store.sublevel(name)).toThrow(/namespace/);
  });
});

describe('store: open errors in words', () => {
  beforeAll(requireFreshBuild);

  it('a store held by another process: says who may hold it and what to do; opens once it is gone', async () => {
    const dataDir = tempDir();
    const holder = storeChild(`await openStore(args[0]); console.log('open'); setInterval(() => {}, 1000);`, [
      dataDir,
    ]);
    await holder.line(/^open$/);
    const error = await storeErrorFrom(openStore(dataDir));
    expect(error.problem).toBe('locked');
    expect(error.operation).toBe('open');
    expect(error.message).toContain(
      `cannot open the store ${join(dataDir, 'store')}: it is locked by another process`,
    );
    expect(error.message).toContain('give this agent its own --data-dir');
    await holder.kill();
    const store = await open(dataDir);
    expect(await store.sublevel('checks').get('anything')).toBeUndefined();
  });

  it('a corrupt store: names the repair command, which brings the data back', async () => {
    const dataDir = tempDir();
    const store = await openStore(dataDir);
    await store.sublevel('checks').write(
      Array.from({ length: 50 }, (_, n) => ({
        type: 'put' as const,
        key: keyOf('result', 'cpu', n),
        value: n,
      })),
    );
    await store.close();
    // CURRENT names the table index (MANIFEST); LevelDB refuses one that does not end with a newline.
    writeFileSync(join(dataDir, 'store', 'CURRENT'), 'MANIFEST-garbage');
    const error = await storeErrorFrom(openStore(dataDir));
    expect(error.problem).toBe('corrupt');
    expect(error.message).toContain('it is corrupt');
    expect(error.message).toContain(`mv ${join(dataDir, 'store')} ${join(dataDir, 'store')}.corrupt`);
    // The command as the agent (running dist/) prints it, run as an operator would paste it.
    const agent = storeChild(`await openStore(args[0]).catch((error) => console.log(error.message));`, [
      dataDir,
    ]);
    const message = await agent.line(/corrupt/);
    const command = /repair it: node (\S+) (\S+) \(/.exec(message);
    expect(command?.[2]).toBe(join(dataDir, 'store'));
    const printed = execFileSync(process.execPath, [command![1]!, command![2]!], { encoding: 'utf8' });
    expect(printed).toContain(`repaired ${join(dataDir, 'store')}`);
    const repaired = await open(dataDir);
    const values = await collect(
      repaired.sublevel('checks').entries<number>({ prefix: prefixOf('result', 'cpu') }),
    );
    expect(values.map(([, value]) => value)).toEqual(Array.from({ length: 50 }, (_, n) => n));
  });

  it('the repair command refuses a directory that does not exist', () => {
    requireFreshBuild();
    const missing = join(tempDir(), 'nothing-here');
    let failure = '';
    try {
      execFileSync(process.execPath, [join(REPO_ROOT, 'dist', 'agent', 'store', 'repair-main.js'), missing], {
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (error) {
      failure = String((error as { stderr: string }).stderr);
    }
    expect(failure).toContain(`${missing} does not exist`);
  });
});

describe('store: backup', () => {
  it('copies one consistent snapshot while writes go on; the copy opens as a store', async () => {
    const store = await open(tempDir());
    const space = store.sublevel('checks');
    // Each batch moves a counter and adds the entry it numbers: a consistent copy has both agree.
    let written = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await space.write([
          { type: 'put', key: keyOf('entry', written), value: written },
          { type: 'put', key: 'counter', value: written },
        ]);
        written += 1;
      }
    })();
    while (written < 200) await new Promise((resolve) => setImmediate(resolve));
    const backupDataDir = tempDir();
    const { entries } = await store.backup(join(backupDataDir, 'store'));
    writing = false;
    await writer;
    await expect(store.backup(join(backupDataDir, 'store'))).rejects.toThrow(
      `the backup target ${join(backupDataDir, 'store')} already exists: give a directory that does not`,
    );
    const copy = (await open(backupDataDir)).sublevel('checks');
    const counter = (await copy.get<number>('counter'))!;
    // The writes went on while the backup ran: some came after its snapshot.
    expect(written).toBeGreaterThan(counter + 1);
    const copied = await collect(copy.keys({ prefix: 'entry/' }));
    expect(copied).toHaveLength(counter + 1);
    expect(entries).toBe(counter + 2);
  });
});

describe('KeyedSerial', () => {
  it('runs the tasks of one key in order, one at a time, other keys alongside; holds nothing once idle', async () => {
    const serial = new KeyedSerial();
    const events: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = serial.run('a', async () => {
      events.push('a1 start');
      await gate;
      events.push('a1 end');
    });
    const second = serial.run('a', () => {
      events.push('a2');
      return Promise.reject(new Error('a2 fails'));
    });
    const third = serial.run('a', () => Promise.resolve(events.push('a3')));
    const other = serial.run('b', () => Promise.resolve(events.push('b1')));
    await other;
    expect(events).toEqual(['a1 start', 'b1']);
    release();
    await first;
    await expect(second).rejects.toThrow('a2 fails');
    await third;
    expect(events).toEqual(['a1 start', 'b1', 'a1 end', 'a2', 'a3']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(serial.busyKeys).toBe(0);
  });
});
