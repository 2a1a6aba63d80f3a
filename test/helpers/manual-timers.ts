// Timers (agent/timers.ts) that run only when the test says so, on a clock of their own: nothing
// waits on real time, and "it did not happen" is proved by not advancing past it.
import type { Timers } from '../../agent/shared/timers.js';

interface Pending {
  id: number;
  at: number;
  callback: () => void;
}

export class ManualTimers implements Timers {
  /** The clock (ms): `now` for the code under test too. */
  now = 0;
  /** Every delay asked of setTimeout, in order. */
  readonly delays: number[] = [];
  private pending: Pending[] = [];
  private nextId = 1;

  setTimeout(callback: () => void, delayMs: number): unknown {
    this.delays.push(delayMs);
    return this.add(callback, this.now + delayMs);
  }

  clearTimeout(handle: unknown): void {
    this.pending = this.pending.filter((timer) => timer.id !== handle);
  }

  setImmediate(callback: () => void): void {
    this.add(callback, this.now);
  }

  /** Timers and immediates not run or cleared yet. */
  get size(): number {
    return this.pending.length;
  }

  /** Moves the clock `ms` ahead, running what falls due in order (and what that schedules in time). */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = this.pending
        .filter((timer) => timer.at <= until)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.pending = this.pending.filter((timer) => timer !== due);
      this.now = Math.max(this.now, due.at);
      due.callback();
    }
    this.now = until;
  }

  private add(callback: () => void, at: number): number {
    const id = this.nextId++;
    this.pending.push({ id, at, callback });
    return id;
  }
}
