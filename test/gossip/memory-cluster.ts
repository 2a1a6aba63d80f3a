// Test helper: a cluster of gossip engines on an in-memory network, with push-pull done in memory.
import { GossipEngine, type GossipTimings } from '../../agent/gossip/engine.js';
import type { NodeRecord } from '../../agent/gossip/codec.js';
import { Keyring } from '../../agent/gossip/keyring.js';
import { MemoryNetwork, type MemoryTransport } from '../../agent/gossip/transport.js';
import type { MembershipEvent } from '../../agent/gossip/members.js';

/** Fast timings so tests run in seconds: the protocol is the same at any scale of time. */
export const FAST: Partial<GossipTimings> = {
  probeIntervalMs: 100,
  probeTimeoutMs: 50,
  gossipIntervalMs: 20,
  pushPullIntervalMs: 3000,
  gossipToTheDeadMs: 3000,
};

export interface SimNode {
  engine: GossipEngine;
  transport: MemoryTransport;
  events: MembershipEvent[];
}

export function record(index: number, overrides: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
    name: `node-${index}`,
    address: `10.0.0.${index}`,
    port: 6768,
    rpcPort: 6767,
    peerId: '',
    datacenter: 'dc1',
    groups: [],
    checks: {},
    version: 'test',
    keys: [],
    primaryKey: '',
    ...overrides,
  };
}

export class MemoryCluster {
  readonly network: MemoryNetwork;
  readonly nodes = new Map<string, SimNode>();

  constructor(
    private readonly timings: Partial<GossipTimings> = FAST,
    dropPercent = 0,
    private readonly keyring: () => Keyring = () => new Keyring(),
  ) {
    this.network = new MemoryNetwork(dropPercent);
  }

  add(index: number, overrides: Partial<NodeRecord> = {}, keyring = this.keyring()): SimNode {
    const self = record(index, overrides);
    const transport = this.network.attach(self.address, self.port);
    const events: MembershipEvent[] = [];
    const engine = new GossipEngine({
      self,
      transport,
      keyring,
      timings: this.timings,
      onEvent: (event) => events.push(event),
      syncState: (member) => this.pushPull(self.id, member.record.id),
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
    if (!from || !to || !to.selfMember) return Promise.reject(new Error('unreachable'));
    const local = from.localState();
    const remote = to.localState();
    to.mergeState(local, fromId);
    from.mergeState(remote, toId);
    return Promise.resolve();
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
    return [...this.nodes.values()].every(
      (node) => node.engine.members().filter((member) => member.state === 'alive').length === size,
    );
  }
}
