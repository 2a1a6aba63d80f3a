// Review of issue 10: a file with more than one name (most of /usr and /etc on an OSTree host)
// made every read walk each protected directory, up to 10,000 lstat calls through the evaluator's
// 2-slot I/O gate, and once the data dir held more than 10,000 entries every such file was refused
// as "unsure". The protected files that themselves have other names are now kept in a set, built
// by one bounded walk and rebuilt when it is 5 s old or a protected directory changes; a read
// checks the set.
import { linkSync, mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostAccess } from '../../agent/evaluator/host/host-access.js';
import { ProtectedPaths, type FsCall } from '../../agent/evaluator/host/protected-paths.js';
import { fixtureRoot, removeFixtureRoots } from './helpers.js';

afterAll(removeFixtureRoots);

/** A data dir with `storeFiles` files in data/store, and an `outside` dir with a file of two names. */
function fixture(storeFiles: number): { base: string; dataDir: string; outside: string; linked: string } {
  const base = fixtureRoot({ '/data/keyring.json': '{}', '/outside/shared.txt': 'shared\n' });
  const dataDir = join(base, 'data');
  const outside = join(base, 'outside');
  mkdirSync(join(dataDir, 'store'));
  for (let index = 0; index < storeFiles; index++) writeFileSync(join(dataDir, 'store', `${index}.log`), '');
  // Not protected, but with two names: the kind of file whose reads used to walk the data dir.
  linkSync(join(outside, 'shared.txt'), join(outside, 'shared-2.txt'));
  // The directory's mtime clearly in the past: a change made by the test is a change of mtime.
  utimesSync(dataDir, new Date(2020, 0, 1), new Date(2020, 0, 1));
  return { base, dataDir, outside, linked: join(outside, 'shared.txt') };
}

/** A clock the test moves. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let nowMs = 1_000;
  return { now: () => nowMs, advance: (ms) => (nowMs += ms) };
}

/** Runs the calls as they come and counts them. */
function countingFsCall(): { fsCall: FsCall; calls: () => number } {
  let calls = 0;
  return {
    fsCall: (call) => {
      calls++;
      return call();
    },
    calls: () => calls,
  };
}

describe('the set of protected files with other names', () => {
  it('is built by one walk: 20 checks of a file with two names cost fewer calls than the data dir has files', async () => {
    const { dataDir, linked } = fixture(300);
    const counter = countingFsCall();
    const clock = manualClock();
    const paths = new ProtectedPaths(
      [{ path: dataDir, what: "the agent's data dir" }],
      counter.fsCall,
      clock.now,
    );
    const stats = statSync(linked, { bigint: true });
    expect(stats.nlink).toBe(2n);

    expect(await paths.refusal(linked, stats)).toBeUndefined();
    const firstCalls = counter.calls();
    expect(firstCalls).toBeGreaterThan(300);
    for (let check = 0; check < 19; check++) {
      clock.advance(100);
      expect(await paths.refusal(linked, stats)).toBeUndefined();
    }
    // Each later check stats the protected dir and the file's ancestors, and walks nothing.
    expect(counter.calls() - firstCalls).toBeLessThan(300);
  });

  it('is not walked again within 10 times the last walk: a 3 s walk waits 30 s, even when the data dir changes', async () => {
    const { dataDir, linked } = fixture(300);
    const clock = manualClock();
    const counter = countingFsCall();
    // Every file-system call takes 10 ms on this clock: the walk of 300 files takes over 3 s.
    const slowCall: FsCall = (call) => {
      clock.advance(10);
      return counter.fsCall(call);
    };
    const paths = new ProtectedPaths([{ path: dataDir, what: "the agent's data dir" }], slowCall, clock.now);
    const stats = statSync(linked, { bigint: true });
    await paths.refusal(linked, stats);
    const afterWalk = counter.calls();
    writeFileSync(join(dataDir, 'changed'), '');
    clock.advance(20_000);
    await paths.refusal(linked, stats);
    expect(counter.calls() - afterWalk).toBeLessThan(300);
    clock.advance(10_000);
    const beforeRewalk = counter.calls();
    await paths.refusal(linked, stats);
    expect(counter.calls() - beforeRewalk).toBeGreaterThan(300);
  });

  it('sees a link made to a file deep in the data dir once the set is 5 s old', async () => {
    const { dataDir, outside } = fixture(10);
    const clock = manualClock();
    const host = new HostAccess(
      { root: '/', protectedPaths: [{ path: dataDir, what: "the agent's data dir" }] },
      { clock: clock.now },
    );
    expect(await host.readFile(join(outside, 'shared.txt'))).toBe('shared\n');
    const later = join(outside, 'store-link');
    linkSync(join(dataDir, 'store', '7.log'), later);
    clock.advance(5_000);
    await expect(host.readFile(later)).rejects.toThrow(
      "is another name (a hard link) of a file in the agent's data dir",
    );
  });

  it('is rebuilt at once when a protected directory changes (a new file in it)', async () => {
    const { dataDir, outside } = fixture(10);
    const clock = manualClock();
    const host = new HostAccess(
      { root: '/', protectedPaths: [{ path: dataDir, what: "the agent's data dir" }] },
      { clock: clock.now },
    );
    expect(await host.readFile(join(outside, 'shared.txt'))).toBe('shared\n');
    writeFileSync(join(dataDir, 'new-key'), 'SECRET\n');
    linkSync(join(dataDir, 'new-key'), join(outside, 'new-key-link'));
    await expect(host.readFile(join(outside, 'new-key-link'))).rejects.toThrow('hard link');
  });

  it('reads files with other names next to a data dir of 12,000 entries, and still refuses a link into it', async () => {
    const { dataDir, outside } = fixture(12_000);
    linkSync(join(dataDir, 'store', '11999.log'), join(outside, 'last-link'));
    const host = new HostAccess({
      root: '/',
      protectedPaths: [{ path: dataDir, what: "the agent's data dir" }],
    });
    expect(await host.readFile(join(outside, 'shared-2.txt'))).toBe('shared\n');
    await expect(host.readFile(join(outside, 'last-link'))).rejects.toThrow('hard link');
  });

  it('refuses a file with other names as unsure when the walk hits a bound (a data dir nested 33 deep)', async () => {
    const { dataDir, outside } = fixture(0);
    let deep = join(dataDir, 'store');
    for (let depth = 0; depth < 33; depth++) deep = join(deep, 'd');
    mkdirSync(deep, { recursive: true });
    const host = new HostAccess({
      root: '/',
      protectedPaths: [{ path: dataDir, what: "the agent's data dir" }],
    });
    await expect(host.readFile(join(outside, 'shared.txt'))).rejects.toThrow(
      "has other names (hard links) and the agent's data dir is too large to rule out that they are in it",
    );
    // A file with one name needs no walk.
    writeFileSync(join(outside, 'single.txt'), 'one\n');
    expect(await host.readFile(join(outside, 'single.txt'))).toBe('one\n');
  });
});
