// Checks switched off by an operator (`opsbro targets NAME disable`), cluster-wide and kept: the
// set of disabled names is one key of the cluster's KV store (replicated, on disk), changed by
// compare-and-set so that two operators switching two checks at once both land. Every node reads
// it, then waits for it to change with a blocking query on its replicas (a write on this node
// applies at once; without a blocking query, or after a failure, it reads every `pollMs`); the
// last set seen is kept in the data dir, so a restarted node that cannot reach the KV yet keeps
// its checks off.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../shared/atomic-file.js';
import type { Logger } from '../log/index.js';
import { messageOf } from '../shared/errors.js';
import type { Timers } from '../shared/timers.js';

/** The KV key that holds the disabled set (a JSON array of check names). */
export const DISABLED_CHECKS_KEY = 'opsbro/checks/disabled';

/** The data dir's copy of the last set seen. */
export const CHECK_SWITCHES_FILE = 'check-switches.json';

/** Where the set is kept cluster-wide: the KV store in the agent, a map in tests. */
export interface SwitchStore {
  /**
   * The set and the index to compare against (0: the key does not exist); `changeIndex`, when it
   * differs (a deleted key's delete), is the one a blocking query waits past.
   */
  read(): Promise<{ names: string[]; index: number; changeIndex?: number }>;
  /** Writes when the key is still at `index`; false when another write moved it first. */
  write(names: string[], index: number): Promise<boolean>;
  /**
   * Resolves true once the key passes `index`, false after `timeoutMs` or an abort (a blocking
   * query on the key's replicas). Without it, the set is read every `pollMs`.
   */
  waitForChange?(index: number, timeoutMs: number, signal: AbortSignal): Promise<boolean>;
}

export interface CheckSwitchesOptions {
  store: SwitchStore;
  /** `<data-dir>/check-switches.json`. */
  file: string;
  timers: Timers;
  logger: Logger;
  /** Called when the set changed (a write here, or one seen by polling). */
  onChange: () => void;
  pollMs?: number;
}

/**
 * How often the set is read without a blocking query, or after a failed read: a switch made on
 * another node applies here within this.
 */
export const SWITCH_POLL_MS = 10_000;
/**
 * A blocking query on the key lasts this long, then the set is read again: a change applies at
 * once (the wait follows the key to its new replicas when the ring changes), and a node costs its
 * replicas a read and three waits every 5 minutes (Consul's default wait; a 60 s wait cost ~5
 * requests a minute per node: most of an idle cluster's KV requests, docs/benchmarks.md).
 */
export const SWITCH_WAIT_MS = 5 * 60_000;
/** After a blocking query saw a change, the set is read again this much later. */
const SWITCH_REREAD_MS = 1000;

const CAS_ATTEMPTS = 5;

export class CheckSwitches {
  private names = new Set<string>();
  private timer?: unknown;
  private stopped = false;
  private readonly waiting = new AbortController();
  private lastError?: string;

  constructor(private readonly options: CheckSwitchesOptions) {
    this.names = new Set(this.readFile());
  }

  isDisabled(name: string): boolean {
    return this.names.has(name);
  }

  disabled(): string[] {
    return [...this.names].sort();
  }

  start(): void {
    void this.poll();
  }

  stop(): void {
    this.stopped = true;
    this.waiting.abort();
    if (this.timer !== undefined) this.options.timers.clearTimeout(this.timer);
  }

  /** Switches one check on or off everywhere; throws when the KV cannot take it (say so to the operator). */
  async set(name: string, enabled: boolean): Promise<void> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const { names, index } = await this.options.store.read();
      const next = new Set(names);
      if (enabled) next.delete(name);
      else next.add(name);
      if (next.size === names.length && names.every((each) => next.has(each))) return this.apply(names);
      if (await this.options.store.write([...next].sort(), index)) return this.apply([...next]);
    }
    throw new Error(
      `the disabled set (KV key ${DISABLED_CHECKS_KEY}) kept changing under ${CAS_ATTEMPTS} attempts: try again`,
    );
  }

  /** Reads the set, then waits for it to change (or for pollMs), and again, until stop(). */
  private async poll(): Promise<void> {
    if (this.stopped) return;
    let index: number | undefined;
    try {
      const read = await this.options.store.read();
      this.lastError = undefined;
      this.apply(read.names);
      index = read.changeIndex ?? read.index;
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
    }
    let delayMs = this.options.pollMs ?? SWITCH_POLL_MS;
    const { store } = this.options;
    if (index !== undefined && store.waitForChange && !this.stopped) {
      try {
        // Up to 1/16 longer at random, as Consul spreads its blocking queries: nodes started
        // together would otherwise renew their waits together, a burst every 5 minutes.
        const waitMs = SWITCH_WAIT_MS * (1 + Math.random() / 16);
        const changed = await store.waitForChange(index, waitMs, this.waiting.signal);
        // A change is read a second later (never in a tight loop, whatever a replica answers);
        // the end of the wait, at once.
        delayMs = changed ? SWITCH_REREAD_MS : 0;
      } catch {
        // The wait failed (the KV stopped, a replica went away mid-wait): read again after pollMs.
      }
    }
    if (!this.stopped) this.timer = this.options.timers.setTimeout(() => void this.poll(), delayMs, true);
  }

  private apply(names: readonly string[]): void {
    const next = new Set(names);
    if (next.size === this.names.size && names.every((name) => this.names.has(name))) return;
    this.names = next;
    try {
      writeFileAtomic(this.options.file, JSON.stringify(this.disabled()) + '\n');
    } catch (error) {
      this.options.logger.warn('disabled checks could not be kept in the data dir', {
        error: messageOf(error),
      });
    }
    this.options.onChange();
  }

  private readFile(): string[] {
    try {
      const parsed = JSON.parse(readFileSync(this.options.file, 'utf8')) as unknown;
      return Array.isArray(parsed) ? parsed.filter((name): name is string => typeof name === 'string') : [];
    } catch {
      return [];
    }
  }
}
