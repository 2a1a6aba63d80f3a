// Timers (agent/shared/timers.ts) that run only when the test says so, on a clock of their own:
// nothing waits on real time, and "it did not happen" is proved by not advancing past it.
import type { Timers } from '../../agent/shared/timers.js';

interface Pending {
  id: number;
  at: number;
  callback: () => void;
}

/**
 * A real turn of the event loop, taken from Node before any test can fake it: every promise
 * callback queued so far (and those they queue) has run when it resolves.
 */
const realSetImmediate = setImmediate;
const nextTurn = (): Promise<void> => new Promise((resolve) => realSetImmediate(resolve));

export class ManualTimers implements Timers {
  /** The clock (ms): `now` for the code under test too. */
  now = 0;
  /** Every delay asked of setTimeout, in order. */
  readonly delays: number[] = [];
  private pending: Pending[] = [];
  private nextId = 1;

  /** `now` as a function, for code that takes a clock. */
  readonly clock = (): number => this.now;

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
    for (let due = this.takeDue(until); due; due = this.takeDue(until)) due.callback();
    this.now = until;
  }

  /**
   * advance() for code that awaits between timers (a probe awaiting its ack, a run racing its
   * timeout): after each timer, the promise callbacks it set off run before the next timer, as
   * they would on the event loop. Time moves only from timer to timer; no real time is waited.
   */
  async advanceAsync(ms: number): Promise<void> {
    const until = this.now + ms;
    await nextTurn();
    for (let due = this.takeDue(until); due; due = this.takeDue(until)) {
      due.callback();
      await nextTurn();
    }
    this.now = until;
  }

  /**
   * Runs timers in order until `condition()` holds, and returns how much of this clock's time that
   * took. Fails when it does not hold within `limitMs` of this clock's time, or when no timer is
   * left that could change anything.
   */
  async until(condition: () => boolean, limitMs: number, what = 'the condition'): Promise<number> {
    const start = this.now;
    const deadline = start + limitMs;
    await nextTurn();
    while (!condition()) {
      const due = this.takeDue(deadline);
      if (!due) {
        this.now = Math.max(this.now, Math.min(deadline, this.nextAt() ?? deadline));
        throw new Error(
          `${what}: not within ${limitMs} ms of test time${this.size ? '' : ' (no timer left to run)'}`,
        );
      }
      due.callback();
      await nextTurn();
    }
    return this.now - start;
  }

  /** Runs timers until `promise` settles (see until()), then returns what it resolved with. */
  async settle<T>(promise: Promise<T>, limitMs: number, what = 'the promise'): Promise<T> {
    let settled = false;
    const done = promise.finally(() => (settled = true));
    // A rejection is reported by the await below, not as unhandled meanwhile.
    done.catch(() => undefined);
    await this.until(() => settled, limitMs, what);
    return done;
  }

  /** Removes and returns the first timer due by `until` (in time order, then in order of creation). */
  private takeDue(until: number): Pending | undefined {
    let first: Pending | undefined;
    for (const timer of this.pending) {
      if (
        timer.at <= until &&
        (!first || timer.at < first.at || (timer.at === first.at && timer.id < first.id))
      )
        first = timer;
    }
    if (!first) return undefined;
    const taken = first;
    this.pending = this.pending.filter((timer) => timer !== taken);
    this.now = Math.max(this.now, taken.at);
    return taken;
  }

  private nextAt(): number | undefined {
    let at: number | undefined;
    for (const timer of this.pending) if (at === undefined || timer.at < at) at = timer.at;
    return at;
  }

  private add(callback: () => void, at: number): number {
    const id = this.nextId++;
    this.pending.push({ id, at, callback });
    return id;
  }
}
