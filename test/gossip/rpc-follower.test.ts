// The cluster RPC following the primary key: one RPC at a time, on the latest key, and a failed
// restart retried until it works, so a node is never left unable to push-pull. The backoff runs on
// manual timers (manual-timers.ts): no test waits it out.
import { describe, expect, it } from 'vitest';
import { RpcFollower } from '../../agent/gossip/rpc-follower.js';
import type { ClusterRpc } from '../../agent/rpc/types.js';
import { ManualTimers } from '../helpers/manual-timers.js';

/** A fake RPC: records its key, counts who runs at once, fails to start while `failStarts` > 0. */
class FakeRpc implements ClusterRpc {
  static running = new Set<FakeRpc>();
  static failStarts = 0;
  readonly peerId = 'peer';
  constructor(readonly key: string) {}
  handle(): void {}
  start(): Promise<void> {
    if (FakeRpc.failStarts > 0) {
      FakeRpc.failStarts--;
      return Promise.reject(new Error('EADDRINUSE'));
    }
    // Starting takes a while (libp2p binds and loads its key): room for a second change to arrive.
    return new Promise((resolve) =>
      setTimeout(() => {
        FakeRpc.running.add(this);
        resolve();
      }, 5),
    );
  }
  stop(): Promise<void> {
    FakeRpc.running.delete(this);
    return Promise.resolve();
  }
  request(): Promise<Uint8Array> {
    return Promise.reject(new Error('unused'));
  }
}

function follower(currentKey: () => string): RpcFollower {
  return new RpcFollower({
    create: (key) => new FakeRpc(key?.toString() ?? 'none'),
    setup: () => undefined,
    currentKey: () => Buffer.from(currentKey()),
  });
}

describe('RPC follower', () => {
  it('ends on the latest key with one RPC running, however fast the primary changes', async () => {
    FakeRpc.running.clear();
    let key = 'k1';
    const rpc = follower(() => key);
    await rpc.start();
    for (const next of ['k2', 'k3', 'k4']) {
      key = next;
      rpc.follow();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await rpc.settled();
    expect([...FakeRpc.running].map((running) => running.key)).toEqual(['k4']);
    expect((rpc.current as FakeRpc).key).toBe('k4');
    await rpc.stop();
    expect(FakeRpc.running.size).toBe(0);
  });

  it('retries a failed restart until it works, backing off from the first delay, doubling, up to the max', async () => {
    FakeRpc.running.clear();
    let key = 'k1';
    const failures: number[] = [];
    const timers = new ManualTimers();
    const rpc = new RpcFollower({
      create: (buffer) => new FakeRpc(buffer?.toString() ?? 'none'),
      setup: () => undefined,
      currentKey: () => Buffer.from(key),
      onFailure: (_, retryInMs) => failures.push(retryInMs),
      retryMs: { first: 500, max: 1000 },
      timers,
    });
    await rpc.start();
    FakeRpc.failStarts = 3;
    key = 'k2';
    rpc.follow();
    for (let attempt = 1; attempt <= 3; attempt++) {
      await until(() => timers.size === 1);
      expect(rpc.current).toBeUndefined();
      timers.advance(timers.delays.at(-1)!);
    }
    await rpc.settled();
    expect(failures).toEqual([500, 1000, 1000]);
    expect(timers.delays).toEqual([500, 1000, 1000]);
    expect([...FakeRpc.running].map((running) => running.key)).toEqual(['k2']);
    await rpc.stop();
  });

  it('stop() during the backoff stops at once and leaves nothing running', async () => {
    FakeRpc.running.clear();
    let key = 'k1';
    const timers = new ManualTimers();
    const rpc = new RpcFollower({
      create: (buffer) => new FakeRpc(buffer?.toString() ?? 'none'),
      setup: () => undefined,
      currentKey: () => Buffer.from(key),
      retryMs: { first: 3_600_000, max: 3_600_000 },
      timers,
    });
    await rpc.start();
    FakeRpc.failStarts = 1;
    key = 'k2';
    rpc.follow();
    await until(() => timers.size === 1);
    await rpc.stop(); // the backoff (an hour) never runs: stop() ends it
    expect(timers.size).toBe(0);
    expect(FakeRpc.running.size).toBe(0);
    expect(rpc.current).toBeUndefined();
  });

  it('stop() while a restart is starting, which then fails, returns at once instead of after the backoff', async () => {
    FakeRpc.running.clear();
    let key = 'k1';
    /** Fails the start of the restart, under way when stop() comes. */
    let failStart: ((error: Error) => void) | undefined;
    const rpc = new RpcFollower({
      create: (buffer) => {
        const fake = new FakeRpc(buffer?.toString() ?? 'none');
        if (fake.key === 'k2')
          fake.start = () =>
            new Promise<void>((_, reject) => {
              failStart = reject;
            });
        return fake;
      },
      setup: () => undefined,
      currentKey: () => Buffer.from(key),
      retryMs: { first: 3_600_000, max: 3_600_000 },
    });
    await rpc.start();
    key = 'k2';
    rpc.follow();
    await until(() => failStart !== undefined);
    let stopped = false;
    const stopping = rpc.stop().then(() => {
      stopped = true;
    });
    failStart!(new Error('EADDRINUSE'));
    // A few turns of the event loop: the failed start is cleaned up, and stop() returns (it
    // waited the whole backoff, an hour here, when the sleep began after stop()).
    await until(() => stopped);
    await stopping;
    expect(FakeRpc.running.size).toBe(0);
    expect(rpc.current).toBeUndefined();
  });
});

/** Lets the event loop turn until `check` holds: at most 100 turns (no timer involved). */
async function until(check: () => boolean): Promise<void> {
  for (let turn = 0; !check(); turn++) {
    if (turn > 100) throw new Error('not within 100 turns of the event loop');
    await new Promise((resolve) => setImmediate(resolve));
  }
}
