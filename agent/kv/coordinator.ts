// A key's coordinator: writes go to the key's N replicas and are acknowledged once W of them hold
// the write durably; reads ask R replicas (a majority for a consistent read), take the newest
// version and repair the replicas seen older (read repair). How a replica is reached is the
// transport's business (the cluster RPC in the agent; the test's own in tests), so this is the
// whole of the quorum logic, testable without sockets. Compare-and-set runs one round of Paxos
// among the key's replicas (docs/kv.md, Compare-and-set), not a quorum write.
import { compareVersions, indexOf, type HybridClock, type Version } from './hlc.js';
import {
  HISTORY_LENGTH,
  isLive,
  type AppliedEntry,
  type ApplyOutcome,
  type KvRecord,
  type PrepareAnswer,
} from './replica-store.js';
import type { HashRing } from './ring.js';

/** How the coordinator reaches one replica (itself included). Rejects when it cannot. */
export interface ReplicaTransport {
  /** Stores the record there if newer than what it holds; resolves once durable (a synced write). */
  apply(node: string, key: string, record: KvRecord): Promise<ApplyOutcome>;
  /** The record held there, tombstone and expired included. */
  read(node: string, key: string): Promise<KvRecord | undefined>;
  /** Paxos phase 1 there (KvReplicaStore.prepare). */
  prepare(node: string, key: string, ballot: Version): Promise<PrepareAnswer>;
  /** Paxos phase 2 there (KvReplicaStore.accept). */
  accept(
    node: string,
    key: string,
    ballot: Version,
    record: KvRecord,
  ): Promise<{ accepted: true } | { accepted: false; higher: Version }>;
}

/** A compare-and-set's outcome: `ok` false when the key's index was not the one expected. */
export interface CasResult {
  ok: boolean;
  /** The write's index when ok; else the key's current index (0: absent). */
  index: number;
}

/** A replica promised or accepted a higher ballot: another CAS on the key is under way. */
class BallotRefused extends Error {
  constructor(readonly higher: Version) {
    super('a higher ballot was promised');
  }
}

/** Paxos rounds a CAS tries before answering 503 (contention that does not settle). */
const MAX_CAS_ROUNDS = 40;

export interface KvCoordinatorOptions {
  clock: HybridClock;
  /** The ring as it is now (membership changes rebuild it). */
  ring: () => HashRing;
  transport: ReplicaTransport;
  /** N: replicas per key. */
  replicas: number;
  /** W: durable copies before a write is acknowledged. */
  writeQuorum: number;
  /** R: replicas a plain read asks. */
  readQuorum: number;
  /**
   * Which replicas to ask first (lower first; a stable sort keeps ring order among equals): this
   * node, then the alive ones, then those gossip thinks dead. Ring order when absent.
   */
  preference?: (node: string) => number;
  now?: () => number;
}

/** Too few replicas answered: the write may or may not be held (HTTP 503; a retry is safe). */
export class QuorumError extends Error {}

export interface WriteResult {
  /** The write's index (Consul's ModifyIndex). */
  index: number;
  /** Replicas that hold it durably (at least W). */
  acknowledged: number;
}

export class KvCoordinator {
  constructor(private readonly options: KvCoordinatorOptions) {}

  async put(
    key: string,
    value: Uint8Array,
    extra: { flags?: number; ttlMs?: number } = {},
  ): Promise<WriteResult> {
    const version = this.options.clock.tick();
    // CreateIndex stays what it was while the key lives; a new key takes this write's index. As
    // the first replica asked knows it (this node, when it is one): a write does not pay for a
    // quorum read, nor for asking every replica when the key is new.
    const newest = await this.readNewest(key, { consistent: false, askAllOnMiss: false }).catch(
      () => undefined,
    );
    const held = newest && isLive(newest, this.options.now?.() ?? Date.now()) ? newest : undefined;
    const now = this.options.now?.() ?? Date.now();
    const record: KvRecord = {
      value,
      flags: extra.flags ?? 0,
      version,
      createIndex: held ? held.createIndex : indexOf(version),
      ...(extra.ttlMs !== undefined ? { expiresAt: now + extra.ttlMs } : {}),
    };
    return this.replicate(key, record);
  }

  async delete(key: string): Promise<WriteResult> {
    const version = this.options.clock.tick();
    return this.replicate(key, {
      value: new Uint8Array(0),
      flags: 0,
      version,
      createIndex: indexOf(version),
      deleted: true,
    });
  }

  /**
   * The key's newest live record among the replicas asked (R, or a majority when `consistent`);
   * undefined when absent, deleted or expired. Replicas that answered older are repaired.
   */
  async read(key: string, options: { consistent: boolean }): Promise<KvRecord | undefined> {
    const newest = await this.readNewest(key, options);
    return newest && isLive(newest, this.options.now?.() ?? Date.now()) ? newest : undefined;
  }

  /** As read(), but the newest record whatever it is: a tombstone or an expired record too. */
  async readNewest(
    key: string,
    options: { consistent: boolean; askAllOnMiss?: boolean },
  ): Promise<KvRecord | undefined> {
    const replicas = this.replicasOf(key);
    const wanted = options.consistent
      ? Math.floor(replicas.length / 2) + 1
      : Math.min(this.options.readQuorum, replicas.length);
    let newest: KvRecord | undefined;
    // Read repair, in the background (the answer does not wait): a replica seen older gets the newest.
    const repair = (node: string, value: KvRecord | undefined): void => {
      if (newest && (!value || compareVersions(value.version, newest.version) < 0)) {
        void this.options.transport.apply(node, key, newest).catch(() => undefined);
      }
    };
    const answers = await this.gather(
      replicas,
      wanted,
      (node) => this.options.transport.read(node, key),
      // Replicas that answer after the quorum are compared (and repaired) too.
      repair,
      // A consistent read asks every replica; a plain one asks R, then the next when one fails.
      options.consistent ? replicas.length : wanted,
    );
    if (!options.consistent && options.askAllOnMiss !== false && answers.every(({ value }) => !value)) {
      // Nothing where it was asked: after a ring change the new owners may not have the key yet
      // (anti-entropy brings it), so a miss asks the key's other replicas before saying absent.
      const asked = new Set(answers.map(({ node }) => node));
      const rest = await Promise.allSettled(
        replicas
          .filter((node) => !asked.has(node))
          .map(async (node) => ({ node, value: await this.options.transport.read(node, key) })),
      );
      for (const outcome of rest) if (outcome.status === 'fulfilled') answers.push(outcome.value);
    }
    for (const { value } of answers) {
      if (value && (!newest || compareVersions(value.version, newest.version) > 0)) newest = value;
    }
    if (newest) {
      this.options.clock.observe(newest.version);
      for (const { node, value } of answers) repair(node, value);
    }
    return newest;
  }

  /**
   * Compare-and-set by one round of Paxos among the key's replicas (docs/kv.md): succeeds only if
   * the key's current index, as a majority holds it, is `casIndex` (0: the key must not exist).
   * `make` builds the new record from the current live one (undefined when absent): a put, or a
   * delete's tombstone. An interrupted earlier CAS found on the way is finished first. Never
   * answers before the outcome is known: a proposal that may still be chosen is driven to a
   * decision (or QuorumError when a majority cannot be reached).
   */
  async cas(
    key: string,
    casIndex: number,
    make: (current: KvRecord | undefined, version: Version) => KvRecord,
    pause: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ): Promise<CasResult> {
    /** The proposals (ballots) this call made: finding one applied means it succeeded. */
    const mine: Version[] = [];
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      try {
        const outcome = await this.casRound(key, casIndex, make, mine);
        if (outcome) return outcome;
      } catch (error) {
        if (!(error instanceof BallotRefused)) throw error;
        this.options.clock.observe(error.higher);
      }
      // Contention: a random pause, longer each round, so that one proposer gets through.
      await pause(Math.random() * Math.min(2 ** round, 64) * 2);
    }
    throw new QuorumError(
      `compare-and-set of ${key} did not settle after ${MAX_CAS_ROUNDS} rounds of contention`,
    );
  }

  /** One Paxos round; undefined when another round is needed (an earlier proposal was finished). */
  private async casRound(
    key: string,
    casIndex: number,
    make: (current: KvRecord | undefined, version: Version) => KvRecord,
    mine: Version[],
  ): Promise<CasResult | undefined> {
    const replicas = this.replicasOf(key);
    const majority = Math.floor(replicas.length / 2) + 1;
    const ballot = this.options.clock.tick();
    const promises = await this.gather(replicas, majority, async (node) => {
      const answer = await this.options.transport.prepare(node, key, ballot);
      if (!answer.promised) throw new BallotRefused(answer.higher);
      return answer;
    });
    let committed: KvRecord | undefined;
    let inFlight: { ballot: Version; record: KvRecord } | undefined;
    const applied: AppliedEntry[] = [];
    for (const { value } of promises) {
      if (!value.promised) continue;
      applied.push(...(value.history ?? []));
      if (value.record && (!committed || compareVersions(value.record.version, committed.version) > 0))
        committed = value.record;
      if (value.accepted && (!inFlight || compareVersions(value.accepted.ballot, inFlight.ballot) > 0))
        inFlight = value.accepted;
    }
    if (committed) this.options.clock.observe(committed.version);
    if (committed && indexOf(ballot) <= indexOf(committed.version)) {
      // Our ballot was taken before we saw this record, and would give a record written under it
      // an index no higher than this one's (an index leaves the node id out): a later CAS
      // comparing indexes would take one record for the other. Another round, the clock past it.
      return undefined;
    }
    // A chosen CAS record's version is the ballot it was chosen under, so a proposal accepted
    // under a ballot above the newest record's version belongs to the decision under way: it may
    // have been chosen, and Paxos says to propose it again (the value of the highest ballot)
    // before anything else. Finished under our ballot, it takes that ballot as its version.
    if (inFlight && (!committed || compareVersions(inFlight.ballot, committed.version) > 0)) {
      const finished: KvRecord = { ...inFlight.record, version: ballot };
      await this.propose(replicas, majority, key, ballot, finished);
      await this.commit(key, finished);
      return undefined;
    }
    if (committed) applied.push({ p: committed.proposal ?? committed.version, v: committed.version });
    const chosen = applied.find((entry) => mine.some((proposal) => compareVersions(proposal, entry.p) === 0));
    if (chosen) {
      // Our own proposal of an earlier round was chosen (finished by this round or another
      // proposer; maybe even followed by another CAS since): it succeeded.
      return { ok: true, index: indexOf(chosen.v) };
    }
    const live = committed && isLive(committed, this.options.now?.() ?? Date.now()) ? committed : undefined;
    const currentIndex = live ? indexOf(live.version) : 0;
    if (currentIndex !== casIndex) {
      // Refused only if we know none of our earlier proposals was chosen: a replica whose history
      // is full and begins after our first proposal may have forgotten it (more changes to the key
      // since than it remembers). Then the outcome is unknown (503: read the key to know).
      if (mine.length && historyMayHaveForgotten(promises, mine[0]!))
        throw new QuorumError(
          `compare-and-set of ${key}: an earlier round of this request may have been chosen, and the key changed more than ${HISTORY_LENGTH} times since; read the key to know`,
        );
      return { ok: false, index: currentIndex };
    }
    const record: KvRecord = { ...make(live, ballot), version: ballot, proposal: ballot };
    mine.push(ballot);
    await this.propose(replicas, majority, key, ballot, record);
    await this.commit(key, record);
    return { ok: true, index: indexOf(record.version) };
  }

  private async propose(
    replicas: string[],
    majority: number,
    key: string,
    ballot: Version,
    record: KvRecord,
  ): Promise<void> {
    await this.gather(replicas, majority, async (node) => {
      const answer = await this.options.transport.accept(node, key, ballot, record);
      if (!answer.accepted) throw new BallotRefused(answer.higher);
    });
  }

  /** A chosen proposal becomes the key's record: applied like any write (W durable copies). */
  private async commit(key: string, record: KvRecord): Promise<void> {
    await this.replicate(key, record);
  }

  private async replicate(key: string, record: KvRecord): Promise<WriteResult> {
    const replicas = this.replicasOf(key);
    const needed = Math.min(this.options.writeQuorum, replicas.length);
    // Sent to all N; answered once W hold it. The others still get it (their answers are not awaited).
    const acknowledged = await this.gather(replicas, needed, (node) =>
      this.options.transport.apply(node, key, record),
    );
    return { index: indexOf(record.version), acknowledged: acknowledged.length };
  }

  /** The key's replicas, the ones to ask first first (options.preference). */
  private replicasOf(key: string): string[] {
    const replicas = this.options.ring().replicasFor(key, this.options.replicas);
    if (replicas.length === 0)
      throw new QuorumError('no node holds KV keys: the cluster has no alive member');
    const rank = this.options.preference;
    return rank ? replicas.sort((a, b) => rank(a) - rank(b)) : replicas;
  }

  /**
   * Runs `ask` on `parallel` nodes at first (all by default), on one more each time one fails,
   * and resolves with the first `needed` answers (node and value); rejects with a QuorumError once
   * too many have failed for `needed` to be reached (BallotRefused when a replica refused one).
   */
  private gather<T>(
    nodes: string[],
    needed: number,
    ask: (node: string) => Promise<T>,
    onLate?: (node: string, value: T) => void,
    parallel = nodes.length,
  ): Promise<Array<{ node: string; value: T }>> {
    return new Promise((resolve, reject) => {
      const answers: Array<{ node: string; value: T }> = [];
      const failures: string[] = [];
      let refused: BallotRefused | undefined;
      let settled = false;
      let next = 0;
      const start = (): void => {
        if (next >= nodes.length) return;
        const node = nodes[next++]!;
        ask(node).then(
          (value) => {
            if (settled) return onLate?.(node, value);
            answers.push({ node, value });
            if (answers.length >= needed) {
              settled = true;
              resolve(answers);
            }
          },
          (error: unknown) => {
            if (settled) return;
            failures.push(`${node}: ${error instanceof Error ? error.message : String(error)}`);
            if (error instanceof BallotRefused) refused = error;
            if (nodes.length - failures.length < needed) {
              settled = true;
              // Contention, not unreachability, when a replica refused: the CAS tries again.
              if (refused) return reject(refused);
              reject(
                new QuorumError(
                  `${needed} of the key's ${nodes.length} replicas were needed and ${failures.length} could not be reached (${failures.join('; ')})`,
                ),
              );
            } else start();
          },
        );
      };
      for (let at = 0; at < Math.max(parallel, needed); at++) start();
    });
  }
}

/** A promise's history is full and starts after `proposal`: it may have dropped that proposal. */
function historyMayHaveForgotten(promises: Array<{ value: PrepareAnswer }>, proposal: Version): boolean {
  return promises.some(({ value }) => {
    if (!value.promised || !value.history || value.history.length < HISTORY_LENGTH) return false;
    return compareVersions(value.history[0]!.v, proposal) > 0;
  });
}
