// Test helper: the simulator with fast timings (the protocol is the same at any scale of time), on
// manual timers and a seeded generator. Nothing waits on real time: the test runs protocol time
// forward from timer to timer, so a busy machine cannot make a probe late, and a run (packet loss
// included) replays exactly from its seed.
import type { GossipTimings } from '../../agent/gossip/engine.js';
import type { PacketAddress } from '../../agent/gossip/transport.js';
import { SimulatedCluster, type SimulatedNode, simulatedRecord } from '../../bench/gossip/simulator.js';
import { ManualTimers } from '../helpers/manual-timers.js';
import { seededRandom } from '../helpers/seeded-random.js';

export const FAST: Partial<GossipTimings> = {
  probeIntervalMs: 100,
  probeTimeoutMs: 50,
  gossipIntervalMs: 20,
  pushPullIntervalMs: 3000,
  gossipToTheDeadMs: 3000,
};

export const record = simulatedRecord;

/** Node 1's gossip address: the seed every test cluster joins through. */
export const SEED: PacketAddress = { address: '10.0.0.1', port: 6768 };

/** The seed of every run, unless OPSBRO_TEST_SEED sets another (to replay a failure, or try more). */
export const DEFAULT_SEED = Number(process.env.OPSBRO_TEST_SEED ?? 20_240_611);

/** Where the test clock starts: an epoch time, so "ms since the epoch" arithmetic stays positive. */
const START_MS = 1_700_000_000_000;

export interface MemoryClusterOptions {
  /** Share of packets lost (0-100). */
  dropPercent?: number;
  seed?: number;
}

export class MemoryCluster extends SimulatedCluster {
  readonly timers: ManualTimers;
  readonly seed: number;

  constructor(timings: Partial<GossipTimings> = FAST, options: MemoryClusterOptions = {}) {
    const timers = new ManualTimers();
    timers.now = START_MS;
    const seed = options.seed ?? DEFAULT_SEED;
    super(timings, {
      dropPercent: options.dropPercent,
      timers,
      now: timers.clock,
      random: seededRandom(seed),
    });
    this.timers = timers;
    this.seed = seed;
  }

  /**
   * Runs protocol time until `condition` holds; returns how long that took (test time). A failure
   * names the seed that replays it.
   */
  async until(condition: () => boolean, limitMs: number, what = 'the condition'): Promise<number> {
    try {
      return await this.timers.until(condition, limitMs, what);
    } catch (error) {
      throw this.withSeed(error);
    }
  }

  /** Runs protocol time until `promise` settles (a join, a leave); returns its value. */
  async settle<T>(promise: Promise<T>, limitMs: number, what = 'the call'): Promise<T> {
    try {
      return await this.timers.settle(promise, limitMs, what);
    } catch (error) {
      throw this.withSeed(error);
    }
  }

  /** Runs `ms` of protocol time. */
  run(ms: number): Promise<void> {
    return this.timers.advanceAsync(ms);
  }

  /**
   * Joins `node` through `seed` (node 1 by default), again after a join nobody answered (a lost
   * packet), as the agent does with its seeds; fails after `attempts`. It does not run time:
   * call it inside settle().
   */
  async joinWithRetries(
    node: SimulatedNode,
    options: { timeoutMs?: number; attempts?: number; seed?: PacketAddress } = {},
  ): Promise<number> {
    const attempts = options.attempts ?? 20;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if ((await node.engine.join([options.seed ?? SEED], options.timeoutMs ?? 500)) > 0) return attempt;
    }
    throw new Error(`${node.engine.selfMember.record.name}: no answer to ${attempts} joins`);
  }

  private withSeed(error: unknown): Error {
    const message = error instanceof Error ? error.message : String(error);
    return new Error(`${message} (seed ${this.seed}; OPSBRO_TEST_SEED=${this.seed} replays this run)`);
  }
}
