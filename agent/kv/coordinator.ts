// A key's coordinator: writes go to the key's N replicas and are acknowledged once W of them hold
// the write durably; reads ask R replicas (a majority for a consistent read), take the newest
// version and repair the replicas seen older (read repair). How a replica is reached is the
// transport's business (the cluster RPC in the agent; the test's own in tests), so this is the
// whole of the quorum logic, testable without sockets. Compare-and-set is not here: it needs the
// Paxos rounds of docs/kv.md, not a quorum write.
import { compareVersions, indexOf, type HybridClock } from './hlc.js';
import type { ApplyOutcome, KvRecord } from './replica-store.js';
import type { HashRing } from './ring.js';

/** How the coordinator reaches one replica (itself included). Rejects when it cannot. */
export interface ReplicaTransport {
  /** Stores the record there if newer than what it holds; resolves once durable (a synced write). */
  apply(node: string, key: string, record: KvRecord): Promise<ApplyOutcome>;
  /** The record held there, tombstone and expired included. */
  read(node: string, key: string): Promise<KvRecord | undefined>;
}

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
    // CreateIndex stays what it was while the key lives; a new key takes this write's index.
    const held = await this.read(key, { consistent: false }).catch(() => undefined);
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
    const replicas = this.replicasOf(key);
    const wanted = options.consistent ? Math.floor(replicas.length / 2) + 1 : this.options.readQuorum;
    // A consistent read asks every replica and answers with a majority; a plain one asks R.
    const asked = options.consistent ? replicas : replicas.slice(0, Math.max(wanted, 1));
    let newest: KvRecord | undefined;
    // Read repair, in the background (the answer does not wait): a replica seen older gets the newest.
    const repair = (node: string, value: KvRecord | undefined): void => {
      if (newest && (!value || compareVersions(value.version, newest.version) < 0)) {
        void this.options.transport.apply(node, key, newest).catch(() => undefined);
      }
    };
    const answers = await this.gather(
      asked,
      Math.min(wanted, asked.length),
      (node) => this.options.transport.read(node, key),
      // Replicas that answer after the quorum are compared (and repaired) too.
      repair,
    );
    for (const { value } of answers) {
      if (value && (!newest || compareVersions(value.version, newest.version) > 0)) newest = value;
    }
    if (newest) {
      this.options.clock.observe(newest.version);
      for (const { node, value } of answers) repair(node, value);
    }
    const now = this.options.now?.() ?? Date.now();
    if (!newest || newest.deleted || (newest.expiresAt !== undefined && newest.expiresAt <= now))
      return undefined;
    return newest;
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

  private replicasOf(key: string): string[] {
    const replicas = this.options.ring().replicasFor(key, this.options.replicas);
    if (replicas.length === 0)
      throw new QuorumError('no node holds KV keys: the cluster has no alive member');
    return replicas;
  }

  /**
   * Runs `ask` on every node and resolves with the first `needed` answers (node and value);
   * rejects with a QuorumError once too many have failed for `needed` to be reached.
   */
  private gather<T>(
    nodes: string[],
    needed: number,
    ask: (node: string) => Promise<T>,
    onLate?: (node: string, value: T) => void,
  ): Promise<Array<{ node: string; value: T }>> {
    return new Promise((resolve, reject) => {
      const answers: Array<{ node: string; value: T }> = [];
      const failures: string[] = [];
      let settled = false;
      for (const node of nodes) {
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
            if (nodes.length - failures.length < needed) {
              settled = true;
              reject(
                new QuorumError(
                  `${needed} of the key's ${nodes.length} replicas were needed and ${failures.length} could not be reached (${failures.join('; ')})`,
                ),
              );
            }
          },
        );
      }
    });
  }
}
