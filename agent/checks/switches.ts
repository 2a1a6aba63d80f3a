// Checks switched off by an operator (`opsbro targets NAME disable`), cluster-wide and kept: the
// set of disabled names is one key of the cluster's KV store (replicated, on disk), changed by
// compare-and-set so that two operators switching two checks at once both land. Every node reads
// it every `pollMs` (a write on this node applies at once); the last set seen is kept in the data
// dir, so a restarted node that cannot reach the KV yet keeps its checks off.
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
  /** The set and the index to compare against (0: the key does not exist). */
  read(): Promise<{ names: string[]; index: number }>;
  /** Writes when the key is still at `index`; false when another write moved it first. */
  write(names: string[], index: number): Promise<boolean>;
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

/** How often the set is read: a switch made on another node applies here within this. */
export const SWITCH_POLL_MS = 10_000;

const CAS_ATTEMPTS = 5;

export class CheckSwitches {
  private names = new Set<string>();
  private timer?: unknown;
  private stopped = false;
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

  private async poll(): Promise<void> {
    if (this.stopped) return;
    try {
      const { names } = await this.options.store.read();
      this.lastError = undefined;
      this.apply(names);
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
    if (!this.stopped)
      this.timer = this.options.timers.setTimeout(
        () => void this.poll(),
        this.options.pollMs ?? SWITCH_POLL_MS,
        true,
      );
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
