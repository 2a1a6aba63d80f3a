// Check tables through a member this node already has a cluster RPC connection to, rather than
// from each table's own node. Fetching every table from its node costs a connection (a Noise
// handshake both ends) per pair of nodes: a 50-node cluster with 200 checks each formed in 95 s
// on the 2-core machine, with ~2,000 connections and a third of their handshakes failing under the
// load (docs/benchmarks.md, issue 17). A member that joined through a seed is connected to it, and
// the seed holds the tables of those who joined before: one request there brings them all.
// A table held elsewhere is taken like a delta (newer than the one held, not from before the
// node's last restart); what it does not bring is still fetched from its node (check-sync.ts).
import { SYSTEM_TIMERS, type Timers } from '../shared/timers.js';
import type { Member } from './members.js';

export interface TableRelayOptions {
  /** How long after the first want to ask: a push-pull announces many tables at once. */
  debounceMs: number;
  /** The nodes whose table this node lacks (a version it saw announced, or any). */
  behind: () => string[];
  /** Members to ask: alive or suspect, with an open cluster RPC connection, not this node. */
  holders: () => Member[];
  /** Asks `holder` for the tables of `nodeIds` and takes what it answers; rejects when it failed. */
  ask: (holder: Member, nodeIds: string[]) => Promise<void>;
  onFailure?: (holder: Member, error: unknown) => void;
  timers?: Timers;
  random?: () => number;
}

/**
 * Rounds one want starts at most: while tables are still lacking, the next round asks another
 * holder, and once each was asked, each again (the one asked first may have fetched them since):
 * 200, 400, 800 and 1,600 ms apart with the default debounce, all within the grace before fetching
 * from each node (check-sync.ts's relayGraceMs).
 */
export const MAX_RELAY_ROUNDS = 5;

/** One relay request at a time; wants that arrive meanwhile make one more once it ends. */
export class TableRelay {
  private timer?: unknown;
  private inFlight = false;
  private again = false;
  private stopped = false;
  /** Rounds left before a new want, and the holders they asked (asked again last). */
  private roundsLeft = 0;
  private readonly asked = new Set<string>();
  private readonly timers: Timers;
  private readonly random: () => number;

  constructor(private readonly options: TableRelayOptions) {
    this.timers = options.timers ?? SYSTEM_TIMERS;
    this.random = options.random ?? Math.random;
  }

  /** Tables are wanted: ask a holder soon. */
  poke(): void {
    if (this.stopped) return;
    this.roundsLeft = MAX_RELAY_ROUNDS;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.timer ??= this.timers.setTimeout(() => void this.run(), this.options.debounceMs, true);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    if (this.stopped) return;
    const nodeIds = this.options.behind();
    const holders = this.options.holders();
    if (!nodeIds.length || !holders.length || this.roundsLeft <= 0) return;
    this.roundsLeft--;
    const fresh = holders.filter((holder) => !this.asked.has(holder.record.id));
    if (!fresh.length) this.asked.clear();
    const pool = fresh.length ? fresh : holders;
    const holder = pool[Math.floor(this.random() * pool.length)]!;
    this.asked.add(holder.record.id);
    this.inFlight = true;
    try {
      await this.options.ask(holder, nodeIds);
    } catch (error) {
      if (!this.stopped) this.options.onFailure?.(holder, error);
    } finally {
      this.inFlight = false;
      if (this.again) {
        this.again = false;
        this.poke();
      } else if (!this.stopped && this.roundsLeft > 0) {
        // Still lacking some: another holder, later each time (the holders fetch meanwhile).
        const waitMs = this.options.debounceMs * 2 ** (MAX_RELAY_ROUNDS - 1 - this.roundsLeft);
        this.timer ??= this.timers.setTimeout(() => void this.run(), waitMs, true);
      }
    }
  }
}
