// Tasks run one at a time per key, in the order they were queued; different keys run side by side.
// A read-modify-write on a key range (append to a bounded log: read its span, write, move the span)
// must not interleave with another on the same range, and LevelDB may apply two batches submitted
// together in either order. An idle key holds no memory.
export class KeyedSerial {
  /** The last task queued for each busy key; removed when it settles and nothing came after it. */
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** No task is queued or running for `key`: one may run now, in the caller's turn. */
  isIdle(key: string): boolean {
    return !this.tails.has(key);
  }

  /** Keys with a task queued or running (tests: nothing is left behind). */
  get busyKeys(): number {
    return this.tails.size;
  }
}
