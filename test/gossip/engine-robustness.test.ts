// The engine under stop and abuse: stop() mid-probe, mid-indirect-probe and mid-push-pull sends
// nothing and leaves no rejection behind; socket errors are counted and logged once per kind per
// minute; dropped packets too; the maps that grow with input are bounded. Time is fake (vitest's
// timers, or an injected clock): nothing here sleeps.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MessageType, encodeMessage, encodePacket } from '../../agent/gossip/codec.js';
import { GossipEngine, PUSH_PULL_PARTNER_ROUNDS, type StateEntry } from '../../agent/gossip/engine.js';
import { Keyring } from '../../agent/gossip/keyring.js';
import { BroadcastQueue } from '../../agent/gossip/broadcast-queue.js';
import { type Member, MemberTable } from '../../agent/gossip/members.js';
import { RateLimitedLog } from '../../agent/log/rate-limited-log.js';
import { RecentIds } from '../../agent/gossip/recent-ids.js';
import {
  type PacketAddress,
  type PacketHandler,
  type PacketTransport,
  UdpTransport,
} from '../../agent/gossip/transport.js';
import { MemoryNetwork, type MemoryTransport } from '../../bench/gossip/memory-network.js';
import { FAST, record } from './memory-cluster.js';

/**
 * A memory transport that fails like a closed dgram socket: send() after close() throws
 * ERR_SOCKET_DGRAM_NOT_RUNNING. It counts such sends: the engine must make none.
 */
class StrictTransport implements PacketTransport {
  closed = false;
  sendsAfterClose = 0;
  constructor(private readonly inner: MemoryTransport) {}
  get local(): PacketAddress {
    return this.inner.local;
  }
  send(to: PacketAddress, packet: Uint8Array): void {
    if (this.closed) {
      this.sendsAfterClose++;
      throw Object.assign(new Error('Not running'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    }
    this.inner.send(to, packet);
  }
  broadcast(to: PacketAddress, packet: Uint8Array): void {
    this.send(to, packet);
  }
  onPacket(handler: PacketHandler): void {
    this.inner.onPacket(handler);
  }
  onError(): void {}
  close(): Promise<void> {
    this.closed = true;
    return this.inner.close();
  }
}

interface TestNode {
  engine: GossipEngine;
  transport: StrictTransport;
  debug: Array<{ message: string; fields?: Record<string, unknown> }>;
  warnings: string[];
}

function node(
  network: MemoryNetwork,
  index: number,
  options: { syncState?: (member: Member) => Promise<void>; pushPullIntervalMs?: number } = {},
): TestNode {
  const self = record(index);
  const transport = new StrictTransport(network.attach(self.address, self.port));
  const debug: TestNode['debug'] = [];
  const warnings: string[] = [];
  const engine = new GossipEngine({
    self,
    transport,
    keyring: new Keyring(),
    timings: { ...FAST, pushPullIntervalMs: options.pushPullIntervalMs ?? 60_000 },
    syncState: options.syncState,
    onDebug: (message, fields) => debug.push({ message, fields }),
    onWarning: (message) => warnings.push(message),
  });
  return { engine, transport, debug, warnings };
}

/** Everyone knows everyone, without gossip (as the simulator's bootstrap). */
function introduce(nodes: TestNode[]): void {
  const entries: StateEntry[] = nodes.map(({ engine }) => ({
    record: engine.selfMember.record,
    incarnation: 0,
    state: 'alive',
  }));
  for (const { engine } of nodes) engine.mergeState(entries, 'test', { gossip: false });
}

/** Advances fake time in small steps until `check` holds (or fails after `limitMs` of fake time). */
async function advanceUntil(check: () => boolean, limitMs = 5000): Promise<void> {
  for (let elapsed = 0; !check(); elapsed += 5) {
    if (elapsed > limitMs) throw new Error(`not within ${limitMs} ms of fake time`);
    await vi.advanceTimersByTimeAsync(5);
  }
}

async function stopNode(target: TestNode): Promise<void> {
  target.engine.stop();
  await target.transport.close();
}

const realSetImmediate = setImmediate;
const rejections: unknown[] = [];
const onRejection = (reason: unknown) => rejections.push(reason);

describe('stopping the engine mid-protocol', () => {
  beforeEach(() => {
    rejections.length = 0;
    process.on('unhandledRejection', onRejection);
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
    process.off('unhandledRejection', onRejection);
  });

  /** After stop: let every timer run out, then give Node a real turn to report rejections. */
  async function drain(): Promise<void> {
    await vi.advanceTimersByTimeAsync(10_000);
    await new Promise((resolve) => realSetImmediate(resolve));
  }

  /** Three nodes; node 2 is gone without a word, so probes of it wait and go indirect. */
  function clusterWithSilentNode(): { a: TestNode; c: TestNode; network: MemoryNetwork } {
    const network = new MemoryNetwork();
    const [a, b, c] = [node(network, 1), node(network, 2), node(network, 3)];
    introduce([a, b, c]);
    for (const { engine } of [a, b, c]) engine.start();
    b.engine.stop();
    void b.transport.close();
    return { a, c, network };
  }

  it('during a direct probe: the late ack timeout sends no ping-req', async () => {
    const { a, c } = clusterWithSilentNode();
    await advanceUntil(() =>
      a.debug.some((event) => event.message === 'probe' && event.fields?.node === 'node-2'),
    );
    await stopNode(a);
    await drain();
    expect(a.transport.sendsAfterClose).toBe(0);
    expect(a.debug.filter((event) => event.message === 'indirect probe')).toEqual([]);
    expect(rejections).toEqual([]);
    await stopNode(c);
  });

  it('during an indirect probe: neither the prober nor its helper sends after stop', async () => {
    const { a, c } = clusterWithSilentNode();
    await advanceUntil(() => c.debug.some((event) => event.message === 'probe for another node'));
    expect(a.debug.some((event) => event.message === 'indirect probe')).toBe(true);
    // The helper's nack and the prober's verdict are both still pending.
    await stopNode(a);
    await stopNode(c);
    await drain();
    expect(a.transport.sendsAfterClose).toBe(0);
    expect(c.transport.sendsAfterClose).toBe(0);
    expect(rejections).toEqual([]);
  });

  it.each(['answers', 'fails'] as const)(
    'during a push-pull that %s after stop: no merge, no warning, no timer left',
    async (outcome) => {
      const network = new MemoryNetwork();
      let settle: (() => void) | undefined;
      const a = node(network, 1, {
        pushPullIntervalMs: 200,
        syncState: () =>
          new Promise<void>((resolve, reject) => {
            settle = () => {
              if (outcome === 'fails') return reject(new Error('connection reset'));
              // The answer carries a new member: merged now, it would start probing and timers.
              a.engine.mergeState([{ record: record(9), incarnation: 0, state: 'alive' }], 'peer');
              resolve();
            };
          }),
      });
      // A member only node 1 knows of (nobody answers for it): enough to push-pull with.
      a.engine.mergeState([{ record: record(2), incarnation: 0, state: 'alive' }], 'test', { gossip: false });
      a.engine.start();
      await advanceUntil(() => settle !== undefined);
      await stopNode(a);
      settle!();
      await drain();
      expect(a.engine.table.get(record(9).id)).toBeUndefined();
      expect(a.warnings).toEqual([]);
      expect(a.transport.sendsAfterClose).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
      expect(rejections).toEqual([]);
    },
  );
  it('during a LAN detection: stop() ends its wait at once, and no timer is left', async () => {
    const network = new MemoryNetwork();
    const a = node(network, 1);
    a.engine.start();
    let found: unknown;
    const detecting = a.engine.detect([{ address: '127.255.255.255', port: 6768 }], 60_000).then((nodes) => {
      found = nodes;
    });
    await vi.advanceTimersByTimeAsync(10);
    expect(found).toBeUndefined();
    await stopNode(a);
    // No fake time passes: the wait ends with stop(), not 60 s later.
    for (let turn = 0; turn < 10; turn++) await Promise.resolve();
    expect(found).toEqual([]);
    await detecting;
    expect(vi.getTimerCount()).toBe(0);
    // A detection asked of a stopped engine does not wait at all.
    await expect(a.engine.detect([{ address: '127.255.255.255', port: 6768 }], 60_000)).resolves.toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    expect(rejections).toEqual([]);
  });
});

describe('push-pull partners', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('keeps a partner for a few rounds (its connection is kept between them), and drops one that fails', async () => {
    const network = new MemoryNetwork();
    const partners: string[] = [];
    const failing = record(3).name;
    const nodes = [1, 2, 3, 4, 5, 6].map((index) =>
      node(network, index, {
        pushPullIntervalMs: 1000,
        syncState:
          index === 1
            ? (member) => {
                partners.push(member.record.name);
                return member.record.name === failing
                  ? Promise.reject(new Error('connection reset'))
                  : Promise.resolve();
              }
            : undefined,
      }),
    );
    introduce(nodes);
    for (const { engine } of nodes) engine.start();
    // 40 rounds: the retry after a failure comes sooner, so a few more than 40 s of fake time.
    await advanceUntil(() => partners.length >= 40, 60_000);
    for (const { engine } of nodes) engine.stop();

    // Runs of the same partner: a failing one ends its run at once, the others last the rounds.
    const runs: Array<{ name: string; length: number }> = [];
    for (const name of partners) {
      const last = runs.at(-1);
      if (last?.name === name && last.length < PUSH_PULL_PARTNER_ROUNDS && name !== failing) last.length++;
      else runs.push({ name, length: 1 });
    }
    const complete = runs.slice(0, -1);
    for (const run of complete) expect(run.length).toBe(run.name === failing ? 1 : PUSH_PULL_PARTNER_ROUNDS);
    // Partners change: over 40 rounds node 1 syncs with most of the other five.
    expect(new Set(partners).size).toBeGreaterThanOrEqual(3);
  });
});

describe('warnings at packet rate', () => {
  it('a dropped-packet warning at most once per reason per minute, with the count since the last', () => {
    let now = 1_000_000;
    const warnings: Array<Record<string, unknown>> = [];
    const network = new MemoryNetwork();
    const transport = network.attach('10.0.0.1', 6768);
    const engine = new GossipEngine({
      self: record(1),
      transport,
      keyring: new Keyring([Buffer.alloc(32, 7)]),
      now: () => now,
      onWarning: (message, fields) => warnings.push({ message, ...fields }),
    });
    const from = { address: '10.9.9.9', port: 1 };
    const garbage = (count: number) => {
      for (let index = 0; index < count; index++) transport.receive(Buffer.of(9, 9, 9), from);
    };
    garbage(1000);
    expect(warnings).toEqual([
      { message: 'gossip packets dropped', reason: 'malformed', from: '10.9.9.9:1', total: 1, count: 1 },
    ]);
    now += 59_999;
    garbage(500);
    // A plaintext packet: another reason, its own warning at once.
    transport.receive(
      Buffer.concat([Buffer.of(0), Buffer.from(encodePacket({ senderId: 'x', sequence: 1, messages: [] }))]),
      from,
    );
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toMatchObject({ reason: 'plaintext-refused', count: 1 });
    now += 1;
    garbage(1);
    expect(warnings).toHaveLength(3);
    expect(warnings[2]).toMatchObject({ reason: 'malformed', total: 1501, count: 1500, since_s: 60 });
    expect(engine.stats.dropped.malformed).toBe(1501);
  });

  it('UDP socket errors are counted in the stats and logged once per kind per minute', async () => {
    const transport = await UdpTransport.bind({ address: '127.0.0.1', port: 0 });
    const warnings: Array<Record<string, unknown>> = [];
    const engine = new GossipEngine({
      self: record(1),
      transport,
      keyring: new Keyring(),
      now: () => 0,
      onWarning: (message, fields) => warnings.push({ message, ...fields }),
    });
    // Larger than any UDP datagram: the kernel refuses it (EMSGSIZE), reported asynchronously.
    for (let index = 0; index < 3; index++) transport.send(transport.local, Buffer.alloc(70_000));
    for (let waited = 0; (engine.stats.socketErrors.EMSGSIZE ?? 0) < 3; waited += 10) {
      if (waited > 5000) throw new Error('EMSGSIZE not reported within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await transport.close();
    // A send on the closed socket throws in dgram: counted, not thrown.
    expect(() => transport.send(transport.local, Buffer.of(1))).not.toThrow();
    expect(engine.stats.socketErrors).toEqual({ EMSGSIZE: 3, ERR_SOCKET_DGRAM_NOT_RUNNING: 1 });
    expect(warnings.map((warning) => [warning.message, warning.code, warning.count])).toEqual([
      ['gossip socket errors', 'EMSGSIZE', 1],
      ['gossip socket errors', 'ERR_SOCKET_DGRAM_NOT_RUNNING', 1],
    ]);
  });

  it('the rate limiter keeps a bounded number of kinds', () => {
    const lines: string[] = [];
    const log = new RateLimitedLog(
      (message) => lines.push(message),
      () => 0,
    );
    for (let index = 0; index < 1000; index++) log.warn(`kind-${index}`, 'x');
    expect(lines).toHaveLength(1000);
    expect((log as unknown as { kinds: Map<string, unknown> }).kinds.size).toBeLessThanOrEqual(64);
  });
});

describe('bounded by construction', () => {
  it('a flood of distinct key-op ids keeps at most 1024 of them, and relays only news', () => {
    const network = new MemoryNetwork();
    const transport = network.attach('10.0.0.1', 6768);
    let relayAsked = 0;
    const engine = new GossipEngine({
      self: record(1),
      transport,
      keyring: new Keyring(),
      onKeyOp: () => {
        relayAsked++;
        return false;
      },
    });
    engine.start();
    const version = { generation: 1, primary: 'x', keys: ['x'] };
    for (let index = 0; index < 5000; index++) {
      const message = encodeMessage({
        type: MessageType.KeyOp,
        opId: `op-${index}`,
        op: 'use',
        key: 'x',
        version,
      });
      transport.receive(
        Buffer.concat([
          Buffer.of(0),
          Buffer.from(encodePacket({ senderId: 'peer', sequence: index + 1, messages: [message] })),
        ]),
        { address: '10.0.0.2', port: 6768 },
      );
    }
    const seen = (engine as unknown as { seenKeyOps: RecentIds }).seenKeyOps;
    expect(seen.size).toBe(1024);
    expect(relayAsked).toBe(5000);
    // Nothing was news: nothing queued for relay.
    expect((engine as unknown as { broadcasts: BroadcastQueue }).broadcasts.length).toBe(0);
    engine.stop();
  });

  it('recent ids forget the oldest first', () => {
    const ids = new RecentIds(2);
    expect(ids.add('a')).toBe(true);
    expect(ids.add('a')).toBe(false);
    ids.add('b');
    ids.add('c');
    expect([ids.has('a'), ids.has('b'), ids.has('c')]).toEqual([false, true, true]);
  });

  it('the broadcast queue drops the most-sent message past its cap', () => {
    const queue = new BroadcastQueue(4, () => 10, 3);
    for (const key of ['a', 'b', 'c']) queue.enqueue(key, Uint8Array.of(key.charCodeAt(0)));
    queue.take(1, 0); // 'a' sent once
    queue.enqueue('d', Uint8Array.of(100));
    expect(queue.length).toBe(3);
    expect(queue.take(100, 0).map((bytes) => String.fromCharCode(bytes[0]!))).toEqual(['b', 'c', 'd']);
  });

  it('the member table refuses new members past its cap', () => {
    const table = new MemberTable(
      record(1).id,
      { multiplier: 3, maxMultiplier: 6, probeIntervalMs: 1000 },
      () => undefined,
      () => undefined,
      3,
    );
    table.addSelf(record(1), 0);
    expect(table.applyAlive(record(2), 0).refused).toBeUndefined();
    expect(table.applyAlive(record(3), 0).refused).toBeUndefined();
    expect(table.applyAlive(record(4), 0)).toMatchObject({ refused: true, events: [] });
    expect(table.all()).toHaveLength(3);
    table.stopTimers();
  });
});
