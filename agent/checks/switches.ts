// Checks switched off by an operator (`opsbro targets NAME disable`), cluster-wide and kept: the
// set of disabled names is one key of the cluster's KV store (replicated, on disk), changed by
// compare-and-set so that two operators switching two checks at once both land. How a node learns
// that the set changed: every node announces, in its gossip record, the KV index of the set it
// holds; a node that sees a higher index (or whose replica of the key applied one) reads the set
// then, and announces it in turn. Gossip's push-pull makes every record reach every node, so no
// change is missed, and a cluster where nothing was ever switched off reads nothing at all (a
// blocking query per node on the key's replicas, following them as the ring grew, opened ~5
// connections per node: half the CPU of a 50-node formation, docs/benchmarks.md). The last set seen is kept in the data dir, with its
// index, so a restarted node that cannot reach the KV yet keeps its checks off.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../shared/atomic-file.js';
import type { Logger } from '../log/index.js';
import { messageOf } from '../shared/errors.js';
import type { Timers } from '../shared/timers.js';

/** The KV key that holds the disabled set (a JSON array of check names). */
export const DISABLED_CHECKS_KEY = 'opsbro/checks/disabled';

/** The data dir's copy of the last set seen: `{"names": [...], "index": N}`. */
export const CHECK_SWITCHES_FILE = 'check-switches.json';

/** Where the set is kept cluster-wide: the KV store in the agent, a map in tests. */
export interface SwitchStore {
  /**
   * The set and the index to compare against (0: the key does not exist); `changeIndex`, when it
   * differs (a deleted key's delete), is the index of the last change.
   */
  read(): Promise<{ names: string[]; index: number; changeIndex?: number }>;
  /** Writes when the key is still at `index`: the write's index, or undefined when another write moved it first. */
  write(names: string[], index: number): Promise<number | undefined>;
}

/** How the set's changes are heard of: gossip records in the agent, a plain object in tests. */
export interface SwitchNews {
  /** The highest index another member announces, or this node's replica of the key applied. */
  highest(): number;
  /** Announces the index of the set this node holds. */
  announce(index: number): void;
  /** `listener` runs whenever highest() may have grown; returns the unsubscribe. */
  subscribe(listener: () => void): () => void;
}

export interface CheckSwitchesOptions {
  store: SwitchStore;
  news: SwitchNews;
  /** `<data-dir>/check-switches.json`. */
  file: string;
  timers: Timers;
  logger: Logger;
  /** Called when the set changed (a write here, or one read after news of it). */
  onChange: () => void;
}

/** A read that failed, or found an older index than announced, is tried again after this, doubling. */
const RETRY_MS = 10_000;
const RETRY_MAX_MS = 5 * 60_000;
/** Reads start up to this long after the news, at random: a change makes every node read at once. */
const SPREAD_MS = 1000;

const CAS_ATTEMPTS = 5;

export class CheckSwitches {
  private names = new Set<string>();
  /** The index of the set held here; undefined when the file is from before indexes (read once). */
  private held: number | undefined;
  private timer?: unknown;
  private reading = false;
  private failures = 0;
  private stopped = false;
  private unsubscribe?: () => void;
  private lastError?: string;

  constructor(private readonly options: CheckSwitchesOptions) {
    const kept = this.readFile();
    this.names = new Set(kept.names);
    this.held = kept.index;
  }

  isDisabled(name: string): boolean {
    return this.names.has(name);
  }

  disabled(): string[] {
    return [...this.names].sort();
  }

  start(): void {
    if (this.held) this.options.news.announce(this.held);
    this.unsubscribe = this.options.news.subscribe(() => this.heard());
    this.heard();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer !== undefined) this.options.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Switches one check on or off everywhere; throws when the KV cannot take it (say so to the operator). */
  async set(name: string, enabled: boolean): Promise<void> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const read = await this.options.store.read();
      const next = new Set(read.names);
      if (enabled) next.delete(name);
      else next.add(name);
      if (next.size === read.names.length && read.names.every((each) => next.has(each)))
        return this.adopt(read.names, read.changeIndex ?? read.index);
      const written = await this.options.store.write([...next].sort(), read.index);
      if (written !== undefined) return this.adopt([...next], written);
    }
    throw new Error(
      `the disabled set (KV key ${DISABLED_CHECKS_KEY}) kept changing under ${CAS_ATTEMPTS} attempts: try again`,
    );
  }

  /** The index of the set held here (0: none, or a file from before indexes). */
  get index(): number {
    return this.held ?? 0;
  }

  /** News that the set may have changed: a read soon, when it is newer than what is held here. */
  private heard(): void {
    if (this.stopped || this.reading || this.timer !== undefined || !this.behind()) return;
    this.schedule(Math.floor(Math.random() * SPREAD_MS));
  }

  private behind(): boolean {
    return this.held === undefined || this.options.news.highest() > this.held;
  }

  private schedule(delayMs: number): void {
    this.timer = this.options.timers.setTimeout(
      () => {
        this.timer = undefined;
        void this.read();
      },
      delayMs,
      true,
    );
  }

  private async read(): Promise<void> {
    if (this.stopped) return;
    this.reading = true;
    const wanted = this.options.news.highest();
    try {
      const read = await this.options.store.read();
      this.lastError = undefined;
      const index = read.changeIndex ?? read.index;
      // Another node's record is only ever an index it read or wrote, so a quorum read sees it;
      // an older answer is a replica set in the middle of a ring change: the retry reads again.
      this.adopt(read.names, index);
      this.failures = index >= wanted ? 0 : this.failures + 1;
    } catch (error) {
      // Not joined yet, or no quorum: the set kept in the data dir holds meanwhile.
      const message = messageOf(error);
      if (message !== this.lastError)
        this.options.logger.warn(
          'disabled checks could not be read from the KV store; the last set kept holds',
          {
            error: message,
          },
        );
      this.lastError = message;
      this.failures++;
    } finally {
      this.reading = false;
    }
    if (this.stopped) return;
    if (this.failures > 0 && this.behind())
      this.schedule(Math.min(RETRY_MAX_MS, RETRY_MS * 2 ** (this.failures - 1)));
    else this.heard();
  }

  /** Holds `names` at `index`: kept in the data dir, announced, and the checks told when it differs. */
  private adopt(names: readonly string[], index: number): void {
    // An answer older than the set held here (a stale replica mid ring change) changes nothing.
    if (this.held !== undefined && index < this.held) return;
    const next = new Set(names);
    const same = next.size === this.names.size && names.every((name) => this.names.has(name));
    const moved = index !== this.held;
    this.names = next;
    this.held = index;
    if (moved || !same) {
      try {
        writeFileAtomic(this.options.file, JSON.stringify({ names: this.disabled(), index }) + '\n');
      } catch (error) {
        this.options.logger.warn('disabled checks could not be kept in the data dir', {
          error: messageOf(error),
        });
      }
    }
    this.options.news.announce(index);
    if (!same) this.options.onChange();
  }

  /** The set and index kept in the data dir; a bare list (before indexes) has no index. */
  private readFile(): { names: string[]; index: number | undefined } {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.options.file, 'utf8')) as unknown;
    } catch {
      return { names: [], index: 0 };
    }
    const names = (list: unknown): string[] =>
      Array.isArray(list) ? list.filter((name): name is string => typeof name === 'string') : [];
    if (Array.isArray(parsed)) return { names: names(parsed), index: undefined };
    const kept = parsed as { names?: unknown; index?: unknown };
    const index =
      typeof kept.index === 'number' && Number.isSafeInteger(kept.index) && kept.index >= 0
        ? kept.index
        : undefined;
    return { names: names(kept.names), index };
  }
}
