// A bound on the evaluator's calls that occupy one of libuv's thread-pool threads (4 by default,
// shared by every file operation and dns.lookup of the whole agent). A call that never returns
// (a read on a hung NFS mount, /proc of a process stuck in the kernel, a resolver that does not
// answer) keeps its thread for good; with at most `concurrency` of them in flight at once, the
// evaluator can lose at most that many threads, and the agent's collectors, logs and lookups keep
// the rest. Callers beyond the bound wait their turn, for at most `maxWaitMs`.
import { UnknownValueError } from '../errors.js';
import type { Timers } from '../../shared/timers.js';

interface Waiter {
  start: () => void;
  timer: unknown;
}

export class IoGate {
  private running = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    /** Calls in flight at once: below the thread pool's size, so others always get a thread. */
    private readonly concurrency: number,
    /** How long a call waits for its turn before it is unknown (the gate's holders are stuck). */
    private readonly maxWaitMs: number,
    private readonly timers: Timers,
  ) {}

  /** Runs `call` once fewer than `concurrency` calls are in flight; its outcome is the result. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    await this.turn();
    try {
      return await call();
    } finally {
      this.running--;
      this.waiting.shift()?.start();
    }
  }

  /** Calls in flight and calls waiting, for tests and diagnostics. */
  load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  private turn(): Promise<void> {
    if (this.running < this.concurrency) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          this.timers.clearTimeout(waiter.timer);
          this.running++;
          resolve();
        },
        timer: this.timers.setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          reject(
            new UnknownValueError(
              `unknown: the host's files did not answer: ${this.concurrency} file or name lookups ` +
                `have been pending for over ${this.maxWaitMs / 1000} s (a hung mount?)`,
            ),
          );
        }, this.maxWaitMs),
      };
      this.waiting.push(waiter);
    });
  }
}
