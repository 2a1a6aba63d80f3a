// Test helper: the simulator with fast timings (the protocol is the same at any scale of time).
import type { GossipTimings } from '../../agent/gossip/engine.js';
import { SimulatedCluster, simulatedRecord } from '../../bench/gossip/simulator.js';

export const FAST: Partial<GossipTimings> = {
  probeIntervalMs: 100,
  probeTimeoutMs: 50,
  gossipIntervalMs: 20,
  pushPullIntervalMs: 3000,
  gossipToTheDeadMs: 3000,
};

export const record = simulatedRecord;

export class MemoryCluster extends SimulatedCluster {
  constructor(timings: Partial<GossipTimings> = FAST, dropPercent = 0) {
    super(timings, dropPercent);
  }
}
