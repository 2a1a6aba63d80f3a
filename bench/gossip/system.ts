// What the measurements need from a gossip system: start N agents, join them, list one agent's view.
import type { Proc } from './procs.js';

/** Normalized member state: serf alive/failed/left/leaving, opsbro alive/suspect/dead/left. */
export type State = 'alive' | 'suspect' | 'failed' | 'left' | 'other';

export interface Member {
  name: string;
  state: State;
  /** opsbro only (serf's RPC does not expose it). */
  incarnation?: number;
}

export interface Agent {
  index: number; // 1..N; agent 1 is the seed
  name: string;
  address: string; // 127.0.x.index
  proc: Proc;
}

export interface Cluster {
  agents: Agent[];
  /** This agent's view of the cluster; rejects on a transport error or timeout. */
  members(agent: Agent): Promise<Member[]>;
  /** Only the members this agent does not list as alive, when the system can filter on its side (serf):
   * far cheaper to poll than the full list while waiting for a failure. */
  notAlive?: (agent: Agent) => Promise<Member[]>;
  /** Joins agents 2..N to agent 1, `concurrency` at a time; resolves when the last join returned,
   * with each join's duration in ms. */
  join(concurrency: number): Promise<number[]>;
  /** Suspicions/deaths refuted so far, counted from the agents' logs (serf), if the system logs them. */
  refutations?: () => number;
  /** Closes the bench's own connections (agents are stopped through procs). */
  close(): void;
}

export interface GossipSystem {
  name: 'serf' | 'opsbro';
  /** First three octets of the block every agent of this system binds in. */
  block: string;
  udpPort: number;
  tcpPort: number;
  /** Why this system cannot run here, or null. */
  unavailable(): Promise<string | null>;
  version(): Promise<string>;
  /** Starts N agents in paced batches and waits until each answers its RPC/API. */
  start(n: number, dir: string, batch: number): Promise<Cluster>;
}

export function address(block: string, index: number): string {
  return `${block}.${index}`;
}
