// Check state cluster-wide with real sockets: gossip subsystems in this process, each on its own
// 127.61.0.x with real UDP gossip and the real cluster RPC (libp2p, the cluster key), each with a
// check table the test changes through its event bus, as the checks subsystem will. A change on
// one node reaches every node's checkTables() within the gossip bound; a missed delta is repaired
// by a fetch over the RPC; a late joiner gets every table; a left node's table is dropped; a
// hostile delta is refused at the codec. (A dead node's table kept, marked dead: check-sync.test.ts.)
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentSettingsSchema, type AgentSettings } from '../../agent/config/index.js';
import { SchemaValidator } from '../../agent/config/validate.js';
import { EventBus } from '../../agent/events/index.js';
import { decodePacket, encodePacket, MessageType } from '../../agent/gossip/codec.js';
import { GossipSubsystem, KeyringStore } from '../../agent/gossip/index.js';
import { Keyring, parseKey } from '../../agent/gossip/keyring.js';
import { Logger } from '../../agent/log/index.js';
import { createClusterRpc } from '../../agent/rpc/index.js';
import type { CheckBrief, NodeCheckTable } from '../../agent/shared/api-types.js';
import type { CheckDelta } from '../../agent/gossip/check-codec.js';
import type { CheckSyncTimings } from '../../agent/gossip/check-sync.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/gossip-agents.js';
import { brief } from './check-memory-cluster.js';
import { encode } from '@msgpack/msgpack';

const BLOCK = 61;
const GOSSIP_PORT = 16768;
const RPC_PORT = 16767;
/**
 * How long a change may take to reach every node: the coalescing delay (200 ms) and a few gossip
 * rounds (100 ms) on an idle machine; the rest is room for a loaded one.
 */
const GOSSIP_BOUND_MS = 3000;

const settingsValidator = new SchemaValidator(AgentSettingsSchema);
const logger = Logger.create({ level: 'error', format: 'text' });

interface TestNode {
  index: number;
  address: string;
  gossip: GossipSubsystem;
  events: EventBus;
  table: NodeCheckTable;
}

let key: string;
let nodes: TestNode[] = [];

beforeEach(() => {
  key = randomBytes(32).toString('base64');
});

afterEach(async () => {
  await Promise.all(nodes.map((node) => node.gossip.stop()));
  nodes = [];
  cleanupAll();
});

async function startNode(index: number, checkSyncTimings?: Partial<CheckSyncTimings>): Promise<TestNode> {
  const address = `127.${BLOCK}.0.${index}`;
  const dataDir = tempDir('opsbro-check-cluster-');
  const settings = settingsValidator.withDefaults<AgentSettings>({
    node_name: `node-${index}`,
    bind_addr: address,
    encryption_key: key,
    gossip: { port: GOSSIP_PORT },
    rpc: { port: RPC_PORT },
  });
  const events = new EventBus();
  const node = {
    index,
    address,
    events,
    table: {
      node: `node-${index}`,
      node_id: `00000000-0000-4000-8000-0000000000${String(index).padStart(2, '0')}`,
      version: 1,
      checks: [brief('cpu'), brief('disk'), brief('load', 'warning')],
    },
  } as TestNode;
  node.gossip = new GossipSubsystem({
    settings,
    nodeId: node.table.node_id,
    nodeName: node.table.node,
    version: 'test',
    keyringStore: new KeyringStore(dataDir),
    createRpc: (clusterKey, host) => createClusterRpc({ host, port: RPC_PORT, dataDir, clusterKey }),
    events,
    logger,
    localCheckTable: () => node.table,
    ...(checkSyncTimings ? { checkSyncTimings } : {}),
  });
  await node.gossip.start();
  nodes.push(node);
  return node;
}

/** A change of `node`'s table, announced as the checks subsystem does. */
function change(node: TestNode, changed: CheckBrief[], removed: string[] = []): void {
  const byName = new Map(node.table.checks.map((one) => [one.name, one]));
  for (const name of removed) byName.delete(name);
  for (const one of changed) byName.set(one.name, one);
  node.table = { ...node.table, version: node.table.version + 1, checks: [...byName.values()] };
  node.events.emit('check-table-changed', { version: node.table.version, changed, removed });
}

/** `observer`'s copy of `node`'s table, as checkTables() gives it. */
const heldBy = (observer: TestNode, node: TestNode) =>
  observer.gossip.checkTables().find((table) => table.node_id === node.table.node_id);

/** Whether every other node holds `node`'s table as it is now. */
function everywhere(node: TestNode, observers = nodes): boolean {
  const expected = JSON.stringify([...node.table.checks].sort((a, b) => a.name.localeCompare(b.name)));
  return observers
    .filter((observer) => observer !== node)
    .every((observer) => {
      const held = heldBy(observer, node);
      return held?.version === node.table.version && JSON.stringify(held.checks) === expected;
    });
}

async function cluster(count: number, checkSyncTimings?: Partial<CheckSyncTimings>): Promise<TestNode[]> {
  const started: TestNode[] = [];
  for (let index = 1; index <= count; index++) started.push(await startNode(index, checkSyncTimings));
  for (const node of started.slice(1)) {
    const { joined } = await node.gossip.join([`${started[0]!.address}:${GOSSIP_PORT}`]);
    expect(joined).toBe(1);
  }
  await waitFor(
    () =>
      Promise.resolve(
        started.every((node) => node.gossip.members().filter((m) => m.state === 'alive').length === count),
      ),
    10_000,
    'every node alive everywhere',
  );
  await waitFor(
    () => Promise.resolve(started.every((node) => everywhere(node))),
    10_000,
    'every table everywhere',
  );
  return started;
}

/** Packets sent to `address` that carry a check delta `lost` picks are lost, each time. */
function dropDeltasTo(address: string, lost: (delta: CheckDelta) => boolean): () => void {
  const keyring = new Keyring([parseKey(key)]);
  const carriesDelta = (packet: unknown): boolean => {
    if (!(packet instanceof Uint8Array)) return false;
    const opened = keyring.open(Buffer.from(packet));
    return (
      opened.ok &&
      decodePacket(opened.payload).messages.some((one) => one.type === MessageType.CheckDelta && lost(one))
    );
  };
  // Test code only, as test/helpers/lossy-udp.mjs: the agent has no such knob. Gossip sends with
  // send(packet, port, address, callback).
  const prototype = dgram.Socket.prototype as unknown as { send: (...args: unknown[]) => void };
  const send = prototype.send;
  prototype.send = function lossySend(this: dgram.Socket, ...args: unknown[]): void {
    if (args[2] === address && carriesDelta(args[0])) {
      const callback = args.at(-1);
      if (typeof callback === 'function') process.nextTick(callback, null);
      return;
    }
    send.apply(this, args);
  };
  return () => {
    prototype.send = send;
  };
}

describe('check state cluster-wide, real sockets', () => {
  it('a change on one node reaches every node within the gossip bound, and a late joiner gets every table', async () => {
    const started = await cluster(5);
    const third = started[2]!;
    const fetchesBefore = started.map((node) => node.gossip.dropStats()!.checks!.fetches);
    change(third, [brief('cpu', 'critical', 'CPU at 99%')]);
    const tookMs = await waitFor(
      () => Promise.resolve(everywhere(third)),
      GOSSIP_BOUND_MS,
      'the change everywhere',
    );
    expect(tookMs).toBeLessThan(GOSSIP_BOUND_MS);
    // By deltas alone: no node fetched for it.
    expect(started.map((node) => node.gossip.dropStats()!.checks!.fetches)).toEqual(fetchesBefore);
    for (const node of started) {
      const member = node.gossip.members().find((one) => one.id === third.table.node_id)!;
      expect(member.checks).toMatchObject({ version: third.table.version, ok: 1, warning: 1, critical: 1 });
      expect(node.gossip.checkTables()).toHaveLength(5);
    }

    const late = await startNode(6);
    change(late, [brief('late-check', 'unknown')]);
    await late.gossip.join([`${started[0]!.address}:${GOSSIP_PORT}`]);
    await waitFor(
      () => Promise.resolve(started.every((node) => everywhere(node, [node, late]))),
      10_000,
      'every table on the late node',
    );
    await waitFor(() => Promise.resolve(everywhere(late)), 10_000, "the late node's table everywhere");
  });

  /** Requests of `protocol` that `node` served without error (opsbro_rpc_requests_total). */
  function served(node: TestNode, protocol: string): number {
    const family = node.gossip.exposition().find((entry) => entry.name === 'opsbro_rpc_requests_total')!;
    return family
      .samples()
      .filter(
        ({ labels }) =>
          labels?.direction === 'served' && labels?.protocol === protocol && labels?.outcome === 'ok',
      )
      .reduce((sum, sample) => sum + sample.value, 0);
  }

  it('a missed delta is repaired by a fetch over the cluster RPC', async () => {
    // Deltas carry no earlier change (the next one would otherwise bring the missed one again:
    // check-sync.test.ts), so that only a fetch can repair it.
    const started = await cluster(3, { recentChangeMs: 0 });
    const [first, second] = started;
    // Every copy of node 1's next delta, from whichever node, is lost on its way to node 2.
    const missed = first!.table.version + 1;
    const restore = dropDeltasTo(
      second!.address,
      (delta) => delta.nodeId === first!.table.node_id && delta.summary.version === missed,
    );
    try {
      change(first!, [brief('disk', 'critical', 'disk full')]);
      await waitFor(
        () => Promise.resolve(everywhere(first!, [first!, started[2]!])),
        GOSSIP_BOUND_MS,
        'node 3 has it',
      );
      expect(heldBy(second!, first!)!.version).toBe(missed - 1);
      // The next change tells node 2 a version is missing: it fetches the table from node 1.
      const fetchesBefore = second!.gossip.dropStats()!.checks!.fetches;
      change(first!, [brief('load', 'ok')]);
      await waitFor(() => Promise.resolve(everywhere(first!)), 10_000, 'node 2 repaired');
      expect(second!.gossip.dropStats()!.checks!.fetches).toBeGreaterThan(fetchesBefore);
      expect(first!.gossip.dropStats()!.checks!.fetchesServed).toBeGreaterThan(0);
      // Fetched under the pipelined protocol (2.0.0); 1.0.0 is only for agents without it.
      expect(served(first!, '/opsbro/check-table/2.0.0')).toBeGreaterThan(0);
      expect(served(first!, '/opsbro/check-table/1.0.0')).toBe(0);
    } finally {
      restore();
    }
  });

  it("a left node's table is dropped everywhere", async () => {
    const started = await cluster(4);
    const [first, second, third, fourth] = started;
    await third!.gossip.leave();
    await waitFor(
      () => Promise.resolve([first!, second!, fourth!].every((node) => heldBy(node, third!) === undefined)),
      10_000,
      "node 3's table dropped",
    );
    // The others' tables stay.
    expect(
      first!.gossip
        .checkTables()
        .map((table) => table.node)
        .sort(),
    ).toEqual(['node-1', 'node-2', 'node-4']);
  });

  it('a hostile delta (an oversized output) is refused, and the table held stays as it was', async () => {
    const started = await cluster(2);
    const [first, second] = started;
    const before = JSON.stringify(heldBy(second!, first!));
    const droppedBefore = second!.gossip.dropStats()!.dropped.malformed;
    const epoch = second!.gossip.members().find((one) => one.id === first!.table.node_id)!.checks.epoch;
    // A key holder forges node 1's next version with a 4 KiB output.
    const forged = encode([
      MessageType.CheckDelta,
      first!.table.node_id,
      1,
      [epoch, first!.table.version + 1, 3, 0, 0, 0, 0, false],
      true,
      [['cpu', 2, true, 'x'.repeat(4096), Date.now()]],
      [],
      null,
    ]);
    const packet = new Keyring([parseKey(key)]).seal(
      encodePacket({ senderId: 'forger', sequence: Date.now(), messages: [forged] }),
    );
    const socket = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) =>
        socket.send(packet, GOSSIP_PORT, second!.address, (error) => (error ? reject(error) : resolve())),
      );
      await waitFor(
        () => Promise.resolve(second!.gossip.dropStats()!.dropped.malformed > droppedBefore),
        5000,
        'the forged packet dropped',
      );
    } finally {
      socket.close();
    }
    expect(JSON.stringify(heldBy(second!, first!))).toBe(before);
  });
});
