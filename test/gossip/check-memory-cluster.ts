// Test helper: gossip engines with check sync on the in-memory network, wired as the agent wires
// them (agent/gossip/subsystem.ts), on manual timers and a seeded generator. Each node has a local
// check table the test changes; fetches go to the other node's serve() in memory, and can be made
// to fail or to take time. Deltas to a node can be dropped on the way in. With `relay` on, nodes
// keep "connections" as the cluster RPC would (opened by a push-pull or a fetch, never closed
// here) and ask connected members for the tables they hold (check-relay.ts).
import { CheckSync, type CheckSyncTimings, epochAt, localSummary } from '../../agent/gossip/check-sync.js';
import { decodePacket, MessageType } from '../../agent/gossip/codec.js';
import { GossipEngine } from '../../agent/gossip/engine.js';
import { Keyring } from '../../agent/gossip/keyring.js';
import type { Member } from '../../agent/gossip/members.js';
import type { CheckBrief, NodeCheckTable, StatusOverride } from '../../agent/shared/api-types.js';
import { MemoryNetwork, type MemoryTransport } from '../../bench/gossip/memory-network.js';
import { ManualTimers } from '../helpers/manual-timers.js';
import { seededRandom } from '../helpers/seeded-random.js';
import { DEFAULT_SEED, FAST, record, SEED } from './memory-cluster.js';

/** Check sync's delays in these tests (protocol time; nothing waits on the clock). */
export const CHECK_TIMINGS: Partial<CheckSyncTimings> = {
  coalesceMs: 50,
  graceMs: 500,
  minIntervalMs: 1000,
  retryFirstMs: 1000,
  retryMaxMs: 8000,
  maxConcurrent: 4,
  fetchTimeoutMs: 1000,
  recentChangeMs: 2000,
};

export interface CheckNode {
  index: number;
  id: string;
  engine: GossipEngine;
  sync: CheckSync;
  transport: MemoryTransport;
  /** This node's table, as its checks subsystem would keep it. */
  table: NodeCheckTable;
  /** Fetches this node asked for, with the time each started, and the node each asked. */
  fetchesAt: number[];
  fetchedFrom: string[];
  /** Fetches answered by this node. */
  served: number;
  /** Fetches of this node's in flight now, and at most over the run. */
  fetchesInFlight: number;
  maxFetchesInFlight: number;
  /** Drop every packet carrying a check delta that reaches this node. */
  dropDeltas: boolean;
  /** Make fetches from this node fail. */
  refuseFetches: boolean;
  /** Nodes this node has a connection with (relay on), by id. */
  connected: Set<string>;
  /** Relay requests this node sent. */
  relays: number;
  /** Connections this node opened (relay on): what costs a Noise handshake on the real RPC. */
  dials: number;
}

export const brief = (
  name: string,
  state: CheckBrief['state'] = 'ok',
  output = `${name}: ${state}`,
): CheckBrief => ({
  name,
  state,
  state_type: 'hard',
  output,
  since: 1_700_000_000_000,
});

export class CheckCluster {
  readonly timers = new ManualTimers();
  readonly network: MemoryNetwork;
  readonly nodes = new Map<number, CheckNode>();
  /** How long a fetch takes (protocol time). */
  fetchLatencyMs = 10;

  constructor(
    private readonly seed = DEFAULT_SEED,
    private readonly relay = false,
  ) {
    this.timers.now = 1_700_000_000_000;
    this.network = new MemoryNetwork({ timers: this.timers, random: seededRandom(seed) });
  }

  /** A node with `checks` (undefined: no checks subsystem at all). */
  add(index: number, checks?: CheckBrief[]): CheckNode {
    const table: NodeCheckTable = {
      node: `node-${index}`,
      node_id: record(index).id,
      version: checks ? 1 : 0,
      checks: checks ?? [],
    };
    const epoch = epochAt(this.timers.now);
    const self = { ...record(index), checks: localSummary(checks ? table : undefined, epoch) };
    const transport = this.network.attach(self.address, self.port);
    const node = {
      index,
      id: self.id,
      transport,
      table,
      fetchesAt: [],
      fetchedFrom: [],
      served: 0,
      fetchesInFlight: 0,
      maxFetchesInFlight: 0,
    } as unknown as CheckNode;
    node.dropDeltas = false;
    node.refuseFetches = false;
    node.connected = new Set();
    node.relays = 0;
    node.dials = 0;
    const receive = transport.receive.bind(transport);
    transport.receive = (packet, from) => {
      if (node.dropDeltas && carriesDelta(packet)) return;
      receive(packet, from);
    };
    node.engine = new GossipEngine({
      self,
      transport,
      keyring: new Keyring(),
      timings: FAST,
      timers: this.timers,
      now: this.timers.clock,
      random: seededRandom(this.seed + index),
      syncState: (member) => this.pushPull(node, member),
      onCheckDelta: (delta) => node.sync.onDelta(delta),
      onRecord: (member) => node.sync.onRecord(member),
      onReaped: () => node.sync.prune(),
      onEvent: (event) => {
        if (event.type === 'node-leave') node.sync.forget(event.member.record.id);
      },
    });
    node.sync = new CheckSync({
      selfId: self.id,
      epoch,
      engine: node.engine,
      localTable: checks ? () => node.table : undefined,
      request: (member, payload) => this.fetch(node, member, payload),
      ...(this.relay
        ? {
            relay: {
              holders: () =>
                node.engine
                  .members()
                  .filter(
                    (member) =>
                      (member.state === 'alive' || member.state === 'suspect') &&
                      node.connected.has(member.record.id),
                  ),
              request: (holder: Member, payload: Uint8Array) => this.askRelay(node, holder, payload),
            },
          }
        : {}),
      timings: CHECK_TIMINGS,
      timers: this.timers,
      now: this.timers.clock,
    });
    node.engine.start();
    this.nodes.set(index, node);
    return node;
  }

  /** Adds nodes 1..count (each with `checksOf(index)`), joined through node 1, until all see all. */
  async form(count: number, checksOf: (index: number) => CheckBrief[] | undefined): Promise<CheckNode[]> {
    const nodes = [this.add(1, checksOf(1))];
    for (let index = 2; index <= count; index++) {
      const node = this.add(index, checksOf(index));
      nodes.push(node);
      await this.join(node);
    }
    await this.until(() => this.converged(), 10_000, 'every node alive everywhere');
    return nodes;
  }

  /** Stops node `index` without a word (as SIGKILL would). */
  kill(index: number): void {
    const node = this.nodes.get(index)!;
    node.sync.stop();
    node.engine.stop();
    void node.transport.close();
    this.nodes.delete(index);
  }

  async join(node: CheckNode): Promise<void> {
    const joined = async () => {
      for (let attempt = 0; attempt < 10; attempt++) if ((await node.engine.join([SEED], 500)) > 0) return;
      throw new Error(`node ${node.index}: no answer to its joins`);
    };
    await this.timers.settle(joined(), 20_000, `node ${node.index} joins`);
  }

  /** A change of `node`'s table, as its checks subsystem would make and announce it. */
  change(
    node: CheckNode,
    changes: { changed?: CheckBrief[]; removed?: string[]; override?: StatusOverride | null },
  ): void {
    const changed = changes.changed ?? [];
    const removed = changes.removed ?? [];
    const byName = new Map(node.table.checks.map((one) => [one.name, one]));
    for (const name of removed) byName.delete(name);
    for (const one of changed) byName.set(one.name, one);
    const override = changes.override === undefined ? node.table.override : (changes.override ?? undefined);
    node.table = {
      ...node.table,
      version: node.table.version + 1,
      checks: [...byName.values()],
      ...(override ? { override } : {}),
    };
    if (!override) delete node.table.override;
    node.sync.onLocalChange({
      version: node.table.version,
      changed,
      removed,
      ...(override ? { override } : {}),
    });
  }

  /** Whether every node other than `node` holds its table at its current version, as it is. */
  everywhere(node: CheckNode, nodes = [...this.nodes.values()]): boolean {
    const expected = [...node.table.checks].sort((a, b) => a.name.localeCompare(b.name));
    return nodes
      .filter((other) => other !== node)
      .every((other) => {
        const held = other.sync.checkTables().find((table) => table.node_id === node.id);
        return (
          held !== undefined &&
          held.version === node.table.version &&
          JSON.stringify(held.checks) === JSON.stringify(expected) &&
          JSON.stringify(held.override) === JSON.stringify(node.table.override)
        );
      });
  }

  /** Fetches asked for by every node so far. */
  fetches(): number {
    return [...this.nodes.values()].reduce((total, node) => total + node.fetchesAt.length, 0);
  }

  converged(): boolean {
    const size = this.nodes.size;
    return [...this.nodes.values()].every(
      (node) => node.engine.members().filter((member) => member.state === 'alive').length === size,
    );
  }

  until(condition: () => boolean, limitMs: number, what: string): Promise<number> {
    return this.timers.until(condition, limitMs, `${what} (seed ${this.seed})`);
  }

  run(ms: number): Promise<void> {
    return this.timers.advanceAsync(ms);
  }

  stop(): void {
    for (const node of this.nodes.values()) {
      node.sync.stop();
      node.engine.stop();
    }
  }

  /** A connection between two nodes, opened by `from` unless there is one (relay on). */
  private connect(from: CheckNode, to: CheckNode): void {
    if (!this.relay || from.connected.has(to.id)) return;
    from.dials++;
    from.connected.add(to.id);
    to.connected.add(from.id);
    // As the RPC's connection:open does, on both ends.
    from.sync.onConnected(to.id);
    to.sync.onConnected(from.id);
  }

  private async askRelay(from: CheckNode, holder: Member, payload: Uint8Array): Promise<Uint8Array> {
    from.relays++;
    const target = [...this.nodes.values()].find((node) => node.id === holder.record.id);
    await new Promise<void>((resolve) => this.timers.setTimeout(resolve, this.fetchLatencyMs));
    if (!target || target.engine.stopped) throw new Error('nothing listens there');
    return target.sync.serveRelay(payload);
  }

  private async fetch(from: CheckNode, member: Member, payload: Uint8Array): Promise<Uint8Array> {
    from.fetchesAt.push(this.timers.now);
    from.fetchedFrom.push(member.record.id);
    const target = [...this.nodes.values()].find((node) => node.id === member.record.id);
    if (target) this.connect(from, target);
    from.fetchesInFlight++;
    from.maxFetchesInFlight = Math.max(from.maxFetchesInFlight, from.fetchesInFlight);
    try {
      await new Promise<void>((resolve) => this.timers.setTimeout(resolve, this.fetchLatencyMs));
      if (!target || target.engine.stopped) throw new Error('nothing listens there');
      if (from.refuseFetches) throw new Error('connection refused');
      target.served++;
      return target.sync.serve(payload);
    } finally {
      from.fetchesInFlight--;
    }
  }

  /** Push-pull in memory, as the subsystem does it: both merge, then both look at the summaries. */
  private pushPull(from: CheckNode, member: Member): Promise<void> {
    const to = [...this.nodes.values()].find((node) => node.id === member.record.id);
    if (!to || to.engine.stopped) return Promise.reject(new Error('unreachable'));
    this.connect(from, to);
    const local = from.engine.localState();
    const remote = to.engine.localState();
    to.engine.mergeState(local, from.id);
    to.sync.onState(local);
    from.engine.mergeState(remote, to.id);
    from.sync.onState(remote);
    return Promise.resolve();
  }
}

/** Whether a plaintext packet (no cluster key in memory) carries a check delta. */
function carriesDelta(packet: Buffer): boolean {
  try {
    return decodePacket(packet.subarray(1)).messages.some(
      (message) => message.type === MessageType.CheckDelta,
    );
  } catch {
    return false;
  }
}
