// Many gossip engines in one process on an in-memory network, with push-pull done in memory:
// the simulator behind `npm run bench:gossip-sim` (1,000 members and more) and the engine tests.
import { EMPTY_SUMMARY } from '../../agent/gossip/check-codec.js';
import type { NodeRecord } from '../../agent/gossip/codec.js';
import { GossipEngine, type GossipTimings } from '../../agent/gossip/engine.js';
import { Keyring } from '../../agent/gossip/keyring.js';
import type { MembershipEvent } from '../../agent/gossip/members.js';
import type { Timers } from '../../agent/shared/timers.js';
import { MemoryNetwork, type MemoryTransport } from './memory-network.js';

export interface SimulatedNode {
  engine: GossipEngine;
  transport: MemoryTransport;
  events: MembershipEvent[];
}

/** A node record for simulated node `index` (address 10.x.y.z derived from the index). */
export function simulatedRecord(index: number, overrides: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
    name: `node-${index}`,
    address: `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`,
    port: 6768,
    rpcPort: 6767,
    peerId: '',
    datacenter: 'dc1',
    groups: [],
    checks: EMPTY_SUMMARY,
    version: 'sim',
    keys: [],
    primaryKey: '',
    keyGeneration: 0,
    ...overrides,
  };
}

export interface SimulatedClusterOptions {
  /** Share of packets the network loses (0-100). */
  dropPercent?: number;
  keyring?: () => Keyring;
  /** Keep membership events (tests); off for large simulations. */
  recordEvents?: boolean;
  /**
   * The time of every engine and of the network (Node's by default): tests pass manual timers
   * and their clock, and drive protocol time themselves.
   */
  timers?: Timers;
  now?: () => number;
  /** Every random choice of the engines and the network (Math.random by default): seeded, a run replays. */
  random?: () => number;
}

export class SimulatedCluster {
  readonly network: MemoryNetwork;
  readonly nodes = new Map<string, SimulatedNode>();

  constructor(
    private readonly timings: Partial<GossipTimings>,
    private readonly options: SimulatedClusterOptions = {},
  ) {
    this.network = new MemoryNetwork({
      dropPercent: options.dropPercent,
      timers: options.timers,
      random: options.random,
    });
  }

  add(index: number, overrides: Partial<NodeRecord> = {}): SimulatedNode {
    const self = simulatedRecord(index, overrides);
    const transport = this.network.attach(self.address, self.port);
    const events: MembershipEvent[] = [];
    const engine = new GossipEngine({
      self,
      transport,
      keyring: this.options.keyring?.() ?? new Keyring(),
      timings: this.timings,
      onEvent: (this.options.recordEvents ?? true) ? (event) => events.push(event) : undefined,
      syncState: (member) => this.pushPull(self.id, member.record.id),
      timers: this.options.timers,
      now: this.options.now,
      random: this.options.random,
    });
    const node = { engine, transport, events };
    this.nodes.set(self.id, node);
    engine.start();
    return node;
  }

  /** Push-pull in memory: both sides merge the other's full state. */
  private pushPull(fromId: string, toId: string): Promise<void> {
    const from = this.nodes.get(fromId)?.engine;
    const to = this.nodes.get(toId)?.engine;
    if (!from || !to) return Promise.reject(new Error('unreachable'));
    const local = from.localState();
    const remote = to.localState();
    to.mergeState(local, fromId);
    from.mergeState(remote, toId);
    return Promise.resolve();
  }

  /**
   * Gives every node the full member list at once, without gossip: how a large simulated cluster
   * starts formed (forming it through one seed is measured on smaller ones).
   */
  bootstrap(): void {
    const entries = [...this.nodes.values()].map(({ engine }) => ({
      record: engine.selfMember.record,
      incarnation: engine.selfMember.incarnation,
      state: 'alive' as const,
    }));
    for (const { engine } of this.nodes.values()) engine.mergeState(entries, 'bootstrap', { gossip: false });
  }

  /** Stops a node without a word, as SIGKILL would. */
  kill(id: string): void {
    const node = this.nodes.get(id)!;
    node.engine.stop();
    void node.transport.close();
    this.nodes.delete(id);
  }

  stopAll(): void {
    for (const node of this.nodes.values()) node.engine.stop();
  }

  /** How each live node sees `id`. */
  statesOf(id: string): string[] {
    return [...this.nodes.values()].map((node) => node.engine.table.get(id)?.state ?? 'unknown');
  }

  /** True when every node sees every node as alive. */
  converged(): boolean {
    const size = this.nodes.size;
    for (const node of this.nodes.values()) {
      let alive = 0;
      for (const member of node.engine.members()) if (member.state === 'alive') alive++;
      if (alive !== size) return false;
    }
    return true;
  }
}
