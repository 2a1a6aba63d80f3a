// KV between two nodes over the real cluster RPC (libp2p, Noise, the private network of a shared
// key): a coordinator on one node writes and reads through the other's replica store; a malformed
// or hostile request (bad fields, a value over the limit, a version far in the future) is refused
// and leaves the store as it was.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { KvCoordinator } from '../../agent/kv/coordinator.js';
import { HybridClock, MAX_DRIFT_MS } from '../../agent/kv/hlc.js';
import { KvReplicaStore } from '../../agent/kv/replica-store.js';
import { HashRing } from '../../agent/kv/ring.js';
import { encode } from '@msgpack/msgpack';
import {
  encodeKvRequest,
  KV_PROTOCOL,
  kvRpcHandler,
  MAX_VALUE_BYTES,
  rpcReplicaTransport,
} from '../../agent/kv/rpc-protocol.js';
import { createClusterRpc, type ClusterRpc } from '../../agent/rpc/index.js';
import { openStore, type Store } from '../../agent/store/index.js';
import { cleanupAll, freePort, tempDir } from '../helpers/agent-process.js';

const stores: Store[] = [];
const rpcs: ClusterRpc[] = [];
afterAll(async () => {
  await Promise.all(rpcs.map((rpc) => rpc.stop()));
  await Promise.all(stores.map((store) => store.close()));
  cleanupAll();
});

const clusterKey = randomBytes(32);

async function node(name: string) {
  const store = await openStore(tempDir('opsbro-kv-rpc-'));
  stores.push(store);
  const replica = new KvReplicaStore(store.sublevel('kv'));
  const clock = new HybridClock(name);
  const port = await freePort();
  const rpc = createClusterRpc({
    host: '127.0.0.1',
    port,
    dataDir: tempDir('opsbro-kv-rpc-id-'),
    clusterKey,
  });
  rpc.handle(KV_PROTOCOL, kvRpcHandler(replica, clock));
  await rpc.start();
  rpcs.push(rpc);
  return { name, replica, clock, rpc, target: { host: '127.0.0.1', port, peerId: rpc.peerId } };
}

describe('KV over the cluster RPC', () => {
  it("writes and reads through another node's replica; refuses what it must not store", async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    const nodes = new Map([a, b].map((each) => [each.name, each]));
    const coordinator = new KvCoordinator({
      clock: a.clock,
      ring: () => new HashRing(['node-a', 'node-b']),
      transport: rpcReplicaTransport({
        self: 'node-a',
        local: a.replica,
        request: (to, payload) => a.rpc.request(nodes.get(to)!.target, KV_PROTOCOL, payload),
      }),
      replicas: 2,
      writeQuorum: 2,
      readQuorum: 1,
    });
    const written = await coordinator.put('app/config', Buffer.from('{"debug": true}'), { flags: 42 });
    expect(written.acknowledged).toBe(2);
    const onB = await b.replica.read('app/config');
    expect(Buffer.from(onB!.value).toString()).toBe('{"debug": true}');
    expect(onB!.flags).toBe(42);
    // B's clock took in A's version: its next write is newer.
    expect(b.clock.tick().wall).toBeGreaterThanOrEqual(onB!.version.wall);
    expect(Buffer.from((await coordinator.read('app/config', { consistent: true }))!.value).toString()).toBe(
      '{"debug": true}',
    );

    const send = (payload: Uint8Array) => a.rpc.request(b.target, KV_PROTOCOL, payload);
    const record = (extra: Record<string, unknown>) => ({
      value: Buffer.from('x'),
      flags: 0,
      version: { wall: Date.now(), logical: 0, node: 'node-a' },
      createIndex: 1,
      ...extra,
    });
    for (const hostile of [
      Buffer.from('not msgpack at all'),
      encode({ op: 'drop-table', key: 'app/config' }),
      encode({ op: 'apply', key: '', record: record({}) }),
      encode({ op: 'apply', key: 'app/config', record: record({ value: 'a string, not bytes' }) }),
      encode({
        op: 'apply',
        key: 'app/config',
        record: record({ value: Buffer.alloc(MAX_VALUE_BYTES + 1) }),
      }),
      encode({ op: 'apply', key: 'app/config', record: record({ flags: -1 }) }),
      encode({
        op: 'apply',
        key: 'app/config',
        record: record({ version: { wall: 1, logical: 9999, node: 'x' } }),
      }),
      // A version far ahead would pin the key: refused before it reaches the store.
      encodeKvRequest({
        op: 'apply',
        key: 'app/config',
        record: record({
          version: { wall: Date.now() + MAX_DRIFT_MS * 10, logical: 0, node: 'node-a' },
        }),
      }),
    ]) {
      await expect(send(hostile)).rejects.toThrow();
    }
    expect(Buffer.from((await b.replica.read('app/config'))!.value).toString()).toBe('{"debug": true}');
    // The same channel takes a well-formed newer record: the refusals above were the checks'.
    await expect(
      send(encodeKvRequest({ op: 'apply', key: 'app/config', record: record({}) })),
    ).resolves.toBeDefined();
    expect(Buffer.from((await b.replica.read('app/config'))!.value).toString()).toBe('x');
  });
});
