// The disabled-checks set's news (agent/checks/switches.ts): nodes read the KV key only when a
// member announces a newer index than they hold, so a cluster where nothing was ever switched off
// reads nothing; one switch is read once by each other node, and kept with its index on disk.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckSwitches, type SwitchNews, type SwitchStore } from '../../agent/checks/switches.js';
import { Logger } from '../../agent/log/index.js';
import { ManualTimers } from '../helpers/manual-timers.js';

const logger = Logger.create({ level: 'error', format: 'text', sink: { kind: 'fd', fd: 2 } });

/** The KV key as one replica set: reads can be made to fail or to answer an older copy. */
class MemoryStore implements SwitchStore {
  names: string[] = [];
  index = 0;
  reads = 0;
  failing = 0;
  stale = 0;
  private next = 100;

  read(): ReturnType<SwitchStore['read']> {
    this.reads++;
    if (this.failing > 0) {
      this.failing--;
      return Promise.reject(new Error('no quorum'));
    }
    if (this.stale > 0) {
      this.stale--;
      return Promise.resolve({ names: [], index: 0 });
    }
    return Promise.resolve({ names: [...this.names], index: this.index });
  }

  write(names: string[], index: number): Promise<number | undefined> {
    if (index !== this.index) return Promise.resolve(undefined);
    this.names = [...names];
    this.index = this.next++;
    return Promise.resolve(this.index);
  }
}

/** What gossip does for the set: each node's announced index, seen by the others. */
class MemoryGossip {
  readonly announced = new Map<string, number>();
  private readonly listeners = new Set<() => void>();

  news(self: string): SwitchNews {
    return {
      highest: () =>
        Math.max(0, ...[...this.announced].filter(([node]) => node !== self).map(([, index]) => index)),
      announce: (index) => {
        this.announced.set(self, index);
        for (const listener of this.listeners) listener();
      },
      subscribe: (listener) => {
        this.listeners.add(listener);
        return () => this.listeners.delete(listener);
      },
    };
  }
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setUp(count: number, files: Array<string | undefined> = []) {
  const timers = new ManualTimers();
  const store = new MemoryStore();
  const gossip = new MemoryGossip();
  const dir = mkdtempSync(join(tmpdir(), 'opsbro-switches-'));
  dirs.push(dir);
  const changes = new Map<string, number>();
  const node = (name: string, index: number) => {
    const file = join(dir, `${name}.json`);
    if (files[index] !== undefined) writeFileSync(file, files[index]);
    changes.set(name, 0);
    return new CheckSwitches({
      store,
      news: gossip.news(name),
      file,
      timers,
      logger,
      onChange: () => changes.set(name, changes.get(name)! + 1),
    });
  };
  const nodes = Array.from({ length: count }, (_, index) => node(`n${index + 1}`, index));
  return { timers, store, gossip, dir, nodes, changes, node };
}

describe('check switches', () => {
  it('reads nothing in a cluster where no check was ever switched off', async () => {
    const { timers, store, nodes } = setUp(3);
    for (const node of nodes) node.start();
    await timers.advanceAsync(60_000);
    expect(store.reads).toBe(0);
    expect(timers.size).toBe(0);
  });

  it('makes every other node read a switch once, and keeps it with its index', async () => {
    const { timers, store, gossip, dir, nodes, changes } = setUp(3);
    for (const node of nodes) node.start();
    await nodes[0]!.set('disk', false);
    const written = store.index;
    expect(store.reads).toBe(1);
    expect(gossip.announced.get('n1')).toBe(written);
    await timers.until(() => nodes.every((node) => node.isDisabled('disk')), 1000, 'the switch everywhere');
    // The writer's read of the CAS, then one read by each of the two others; none after.
    await timers.advanceAsync(60_000);
    expect(store.reads).toBe(3);
    expect([...gossip.announced.values()]).toEqual([written, written, written]);
    expect([...changes.values()]).toEqual([1, 1, 1]);
    expect(JSON.parse(readFileSync(join(dir, 'n2.json'), 'utf8'))).toEqual({
      names: ['disk'],
      index: written,
    });
  });

  it('reads again, later and later, while the read fails or finds an older index than announced', async () => {
    const { timers, store, nodes, node } = setUp(1);
    nodes[0]!.start();
    await nodes[0]!.set('disk', false);
    store.failing = 2;
    store.stale = 1;
    const late = node('n2', 1);
    late.start();
    await timers.until(() => late.isDisabled('disk'), 200_000, 'the switch on n2');
    // Failed, failed, stale, then read: 10 s, 20 s, 40 s after the first try.
    expect(store.reads).toBe(5);
    expect(timers.delays.slice(-3)).toEqual([10_000, 20_000, 40_000]);
    expect(late.index).toBe(store.index);
  });

  it('keeps the set it holds when a read answers an older one', async () => {
    const { store, nodes, gossip } = setUp(1, [JSON.stringify({ names: ['disk'], index: 7 })]);
    nodes[0]!.start();
    store.stale = 1;
    // Enabling a check that is not off reads the set and writes nothing; the stale answer (no
    // set, index 0) must not switch disk back on here.
    await nodes[0]!.set('load', true);
    expect(store.reads).toBe(1);
    expect(nodes[0]!.disabled()).toEqual(['disk']);
    expect(nodes[0]!.index).toBe(7);
    expect(gossip.announced.get('n1')).toBe(7);
  });

  it('keeps its set across a restart without a read, and reads once a file from before indexes', async () => {
    const kept = JSON.stringify({ names: ['disk'], index: 7 });
    const { timers, store, gossip, nodes } = setUp(2, [kept, JSON.stringify(['load'])]);
    expect(nodes[0]!.isDisabled('disk')).toBe(true);
    expect(nodes[1]!.isDisabled('load')).toBe(true);
    store.names = ['disk'];
    store.index = 7;
    for (const node of nodes) node.start();
    expect(gossip.announced.get('n1')).toBe(7);
    await timers.until(() => nodes[1]!.index === 7, 1000, 'the old file read');
    await timers.advanceAsync(60_000);
    // n1 announced what it holds and read nothing; n2 read once, took the cluster's set.
    expect(store.reads).toBe(1);
    expect(nodes[1]!.disabled()).toEqual(['disk']);
    expect(gossip.announced.get('n2')).toBe(7);
  });
});
