// Keyring generations across engines on the in-memory network, with real keys: rotations converge,
// and a node "killed" at a chosen point of a change (right after its save, before the op leaves)
// or down during a change comes back and converges without an operator. Time is fake (vitest's
// timers drive the engines, the network and keyring sync alike): nothing here waits on the clock.
// The agent-process version, with SIGKILL at random points, is key-rotation-crash.test.ts.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { KeyOpMessage } from '../../agent/gossip/codec.js';
import { GossipEngine } from '../../agent/gossip/engine.js';
import { fingerprint, Keyring, type KeyringState } from '../../agent/gossip/keyring.js';
import { KeyringSync } from '../../agent/gossip/keyring-sync.js';
import { MemoryNetwork, type MemoryTransport } from '../../bench/gossip/memory-network.js';
import { FAST, record } from './memory-cluster.js';

/** Thrown by a save hook to stop a change right there, as a SIGKILL would. */
class Killed extends Error {}

interface KeyNode {
  index: number;
  engine: GossipEngine;
  sync: KeyringSync;
  transport: MemoryTransport;
  keyring: Keyring;
  log: string[];
}

class KeyCluster {
  readonly network = new MemoryNetwork();
  readonly nodes = new Map<number, KeyNode>();
  /** What each node saved last: its data dir. */
  readonly disks = new Map<number, KeyringState>();
  /** Set to make the next save of that node "crash" right after writing. */
  readonly killAfterSave = new Set<number>();

  start(index: number, keyring?: Keyring): KeyNode {
    const saved = this.disks.get(index);
    const live = saved ? Keyring.fromState(saved) : keyring!;
    this.disks.set(index, live.toState());
    const self = {
      ...record(index),
      keys: live.fingerprints(),
      primaryKey: live.primaryFingerprint(),
      keyGeneration: live.generation,
    };
    const transport = this.network.attach(self.address, self.port);
    const log: string[] = [];
    const sync = new KeyringSync({
      keyring: live,
      save: (next) => {
        this.disks.set(index, next.toState());
        if (this.killAfterSave.delete(index)) throw new Killed(`node ${index} killed after its save`);
      },
      onPrimaryChange: () => undefined,
      log: { info: (message) => log.push(message), warn: (message) => log.push(message) },
      retryMs: 100,
    });
    const engine = new GossipEngine({
      self,
      transport,
      keyring: live,
      timings: FAST,
      syncState: (member) => this.pushPull(index, member.record.address),
      // As the agent wires it (subsystem.ts).
      onEvent: () => sync.onMembershipEvent(),
      onKeyOp: (message: KeyOpMessage) => sync.onKeyOp(message),
      onKeyOffer: (offer, senderId, from) => sync.onKeyOffer(offer, senderId, from),
    });
    engine.start();
    sync.attach(engine);
    const node = { index, engine, sync, transport, keyring: live, log };
    this.nodes.set(index, node);
    return node;
  }

  async startAndJoin(index: number, keyring?: Keyring): Promise<KeyNode> {
    const node = this.start(index, keyring);
    const seed = [...this.nodes.values()].find((other) => other.index !== index);
    if (seed) {
      const address = { address: seed.engine.selfMember.record.address, port: 6768 };
      const deadline = Date.now() + 10_000;
      while ((await drive(node.engine.join([address], 300))) === 0) {
        if (Date.now() > deadline) throw new Error(`node ${index}: no seed answered within 10 s`);
      }
    }
    return node;
  }

  /** SIGKILL: gone without a word, keeping only what it saved. */
  kill(index: number): void {
    const node = this.nodes.get(index)!;
    node.sync.stop();
    node.engine.stop();
    void node.transport.close();
    this.nodes.delete(index);
  }

  stopAll(): void {
    for (const index of [...this.nodes.keys()]) this.kill(index);
  }

  /**
   * No news left to retransmit anywhere: a restarted node then learns nothing from a key op still
   * in flight, only from what the protocol itself does after a restart.
   */
  quiet(): boolean {
    return [...this.nodes.values()].every(
      ({ engine }) => (engine as unknown as { broadcasts: { length: number } }).broadcasts.length === 0,
    );
  }

  node(index: number): KeyNode {
    return this.nodes.get(index)!;
  }

  /** Every node on one keyring version (same keys too), every node alive in every view. */
  converged(): boolean {
    const nodes = [...this.nodes.values()];
    const versions = new Set(
      nodes.map(({ keyring }) => {
        const version = keyring.version();
        return `${version.generation}/${version.primary}/${[...version.keys].sort().join(',')}`;
      }),
    );
    return (
      versions.size === 1 &&
      nodes.every(
        ({ engine }) => engine.members().filter((member) => member.state === 'alive').length === nodes.length,
      )
    );
  }

  private pushPull(fromIndex: number, toAddress: string): Promise<void> {
    const from = this.nodes.get(fromIndex)?.engine;
    const to = [...this.nodes.values()].find(
      (node) => node.engine.selfMember.record.address === toAddress,
    )?.engine;
    if (!from || !to) return Promise.reject(new Error('unreachable'));
    // The RPC's private network: no exchange while the two primaries differ.
    if (from.selfMember.record.primaryKey !== to.selfMember.record.primaryKey)
      return Promise.reject(new Error('different primary keys'));
    const local = from.localState();
    const remote = to.localState();
    to.mergeState(local, from.selfMember.record.id);
    from.mergeState(remote, to.selfMember.record.id);
    return Promise.resolve();
  }
}

/** Advances fake time, 10 ms at a time, until `check` holds; fails after `timeoutMs` of it. */
async function until(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  let elapsedMs = 0;
  while (!check()) {
    if (elapsedMs > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await vi.advanceTimersByTimeAsync(10);
    elapsedMs += 10;
  }
  return elapsedMs;
}

/** Advances fake time until `promise` settles (a join waiting for its acks). */
async function drive<T>(promise: Promise<T>): Promise<T> {
  let settled = false;
  const done = () => {
    settled = true;
  };
  promise.then(done, done);
  await until(() => settled, 10_000, 'a join');
  return promise;
}

const newKey = () => randomBytes(32);

let cluster: KeyCluster | undefined;
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  cluster?.stopAll();
  cluster = undefined;
  vi.useRealTimers();
});

async function threeNodes(key: Buffer): Promise<KeyCluster> {
  cluster = new KeyCluster();
  for (const index of [1, 2, 3]) await cluster.startAndJoin(index, new Keyring([key]));
  await until(() => cluster!.converged(), 5000, 'three nodes');
  return cluster;
}

describe('keyring generations', () => {
  it('a rotation moves every node to the same generation', async () => {
    const [old, next] = [newKey(), newKey()];
    const nodes = await threeNodes(old);
    nodes.node(1).sync.operatorChange('install', next.toString('base64'));
    await until(() => nodes.converged(), 3000, 'install everywhere');
    nodes.node(2).sync.operatorChange('use', fingerprint(next));
    await until(() => nodes.converged(), 3000, 'use everywhere');
    nodes.node(3).sync.operatorChange('remove', fingerprint(old));
    await until(() => nodes.converged(), 3000, 'remove everywhere');
    expect(nodes.node(1).keyring.version()).toEqual({
      generation: 3,
      primary: fingerprint(next),
      keys: [fingerprint(next)],
    });
    expect([...nodes.node(1).keyring.removed.keys()]).toEqual([fingerprint(old)]);
  });

  it('a node killed right after saving `use`, before the op left, brings the cluster along on restart', async () => {
    const [old, next] = [newKey(), newKey()];
    const nodes = await threeNodes(old);
    nodes.node(1).sync.operatorChange('install', next.toString('base64'));
    await until(() => nodes.converged(), 3000, 'install everywhere');
    nodes.killAfterSave.add(3);
    expect(() => nodes.node(3).sync.operatorChange('use', fingerprint(next))).toThrow(Killed);
    nodes.kill(3);
    // Nobody heard of it: the others are on the old primary.
    expect(nodes.node(1).keyring.primaryFingerprint()).toBe(fingerprint(old));
    await until(() => nodes.quiet(), 3000, 'no news in flight');
    await nodes.startAndJoin(3);
    await until(() => nodes.converged(), 5000, 'converged after the restart');
    expect(nodes.node(1).keyring.primaryFingerprint()).toBe(fingerprint(next));
  });

  it('a node down during install and use gets the key offered and follows, without an operator', async () => {
    const [old, next] = [newKey(), newKey()];
    const nodes = await threeNodes(old);
    nodes.kill(3);
    nodes.node(1).sync.operatorChange('install', next.toString('base64'));
    nodes.node(1).sync.operatorChange('use', fingerprint(next));
    await until(
      () => nodes.node(2).keyring.primaryFingerprint() === fingerprint(next),
      3000,
      'node 2 follows',
    );
    expect(nodes.disks.get(3)!.keys).toEqual([old.toString('base64')]);
    await until(() => nodes.quiet(), 3000, 'no news in flight');
    const back = await nodes.startAndJoin(3);
    await until(() => nodes.converged(), 5000, 'converged after the restart');
    expect(back.keyring.version()).toEqual(nodes.node(1).keyring.version());
  });

  it.each([
    ['newer', 1],
    ['older', -1],
  ])(
    'a removal wins over a stale version that still holds the removed key (%s by the tiebreak)',
    async (_, sign) => {
      // Both changes get generation 2: the primary fingerprints decide which version is the newer.
      let [old, next] = [newKey(), newKey()];
      while ((fingerprint(next) > fingerprint(old) ? 1 : -1) !== sign) [old, next] = [newKey(), newKey()];
      const nodes = await threeNodes(old);
      nodes.node(1).sync.operatorChange('install', next.toString('base64'));
      await until(() => nodes.converged(), 3000, 'install everywhere');
      // Node 3 makes `next` primary and dies before anyone hears of it...
      nodes.killAfterSave.add(3);
      expect(() => nodes.node(3).sync.operatorChange('use', fingerprint(next))).toThrow(Killed);
      nodes.kill(3);
      // ... and the operator, seeing the cluster on `old`, removes `next` (at the same generation).
      nodes.node(1).sync.operatorChange('remove', fingerprint(next));
      await until(
        () => !nodes.node(2).keyring.fingerprints().includes(fingerprint(next)),
        3000,
        'node 2 removed it',
      );
      await until(() => nodes.quiet(), 3000, 'no news in flight');
      await nodes.startAndJoin(3);
      await until(() => nodes.converged(), 5000, 'converged after the restart');
      // Nobody switched to the removed key; node 3 dropped it.
      for (const index of [1, 2, 3])
        expect(nodes.node(index).keyring.version()).toMatchObject({
          primary: fingerprint(old),
          keys: [fingerprint(old)],
        });
    },
  );

  it('a node that lacks a newer primary and cannot be offered it keeps its keyring and says so', async () => {
    const [old, next] = [newKey(), newKey()];
    const nodes = await threeNodes(old);
    nodes.kill(3);
    nodes.node(1).sync.operatorChange('install', next.toString('base64'));
    nodes.node(1).sync.operatorChange('use', fingerprint(next));
    await until(() => nodes.converged(), 3000, 'nodes 1 and 2');
    nodes.node(1).sync.operatorChange('remove', fingerprint(old));
    await until(() => nodes.converged(), 3000, 'old key removed');
    // Node 3 holds only the old key: nobody can reach it, nor it them. It hears node 1's version
    // only from a key op sealed with a key it has (as the first round of an op can be).
    const back = nodes.start(3);
    const heard = {
      type: 10,
      opId: 'x',
      op: 'use',
      key: fingerprint(next),
      version: nodes.node(1).keyring.version(),
    } as KeyOpMessage;
    back.sync.onKeyOp(heard);
    expect(back.keyring.fingerprints()).toEqual([fingerprint(old)]);
    expect(back.sync.status()).toMatchObject({
      behind: { primary: fingerprint(next), missing: [fingerprint(next)] },
    });
    expect(
      back.log.some((line) => line.startsWith('a newer cluster keyring needs keys this node lacks')),
    ).toBe(true);
    // Changes made there would carry its old keyring to the cluster: refused.
    expect(() => back.sync.operatorChange('remove', fingerprint(old))).toThrow(/this node is behind/);
    // Installing the key (the operator's fix) is enough: it follows the version it heard.
    back.sync.operatorChange('install', next.toString('base64'));
    await until(
      () => back.keyring.primaryFingerprint() === fingerprint(next),
      3000,
      'node 3 follows once it holds the key',
    );
    expect(back.keyring.version()).toEqual(nodes.node(1).keyring.version());
    expect(back.sync.status().behind).toBeUndefined();
  });
});
