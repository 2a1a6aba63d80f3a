// Append-only logs in a namespace, one per id, each keeping only its newest `bound` entries:
// entry n of id X is the key `<tag>/<X>/<n as 16 digits>`, so a log reads newest first with one
// reverse range scan. Trimming never reads the log: each id's span (its oldest and next sequence
// numbers) is kept in memory, read once from the first and last keys of the id the first time it
// is written, so an append is one put plus the deletes of what falls out, in the caller's batch.
//
// The caller plans the operations of one id one at a time (KeyedSerial) and calls commit() to move
// the span: once its batch is written, or as soon as it is planned if later plans may build on it
// before the write (the check history's groups), calling dropSpan() if that write fails.
import { keyOf, parseSortableNumber, partsOf, prefixOf } from './keys.js';
import type { Namespace, WriteOp } from './store.js';

/** Sequence numbers of a log: entries first..next-1 exist (or were deleted in a batch that failed). */
interface Span {
  first: number;
  next: number;
}

/** The operations of one change to a log, and what to record once they are written. */
export interface LogWritePlan {
  ops: WriteOp[];
  commit(): void;
}

export class BoundedLogs {
  private readonly spans = new Map<string, Span>();

  constructor(
    private readonly namespace: Namespace,
    /** The first part of every key of these logs ('result', 'change'). */
    private readonly tag: string,
    /** Entries kept per id: the newest ones. */
    private readonly bound: number,
  ) {
    if (!Number.isSafeInteger(bound) || bound < 1)
      throw new RangeError(`a log keeps at least 1 entry, not ${bound}`);
  }

  /** Appends `value` to `id`'s log and drops its entries beyond the bound, oldest first. */
  async planAppend(id: string, value: unknown): Promise<LogWritePlan> {
    return this.appendTo(id, await this.spanOf(id), value);
  }

  /**
   * planAppend without a wait, when `id`'s span is known already (it was written before):
   * undefined otherwise. What a writer of thousands of appends a second takes first.
   */
  planAppendNow(id: string, value: unknown): LogWritePlan | undefined {
    const span = this.spans.get(id);
    return span && this.appendTo(id, span, value);
  }

  private appendTo(id: string, span: Span, value: unknown): LogWritePlan {
    const sequence = span.next;
    const ops: WriteOp[] = [{ type: 'put', key: keyOf(this.tag, id, sequence), value }];
    // Usually one delete; more only when the bound was lowered since the log was written.
    const firstKept = Math.max(span.first, sequence + 1 - this.bound);
    for (let dropped = span.first; dropped < firstKept; dropped++) {
      ops.push({ type: 'del', key: keyOf(this.tag, id, dropped) });
    }
    return {
      ops,
      commit: () => this.spans.set(id, { first: firstKept, next: sequence + 1 }),
    };
  }

  /** Deletes `id`'s whole log (at most `bound` deletes, plus any left by a lowered bound). */
  async planClear(id: string): Promise<LogWritePlan> {
    const span = await this.spanOf(id);
    const ops: WriteOp[] = [];
    for (let sequence = span.first; sequence < span.next; sequence++) {
      ops.push({ type: 'del', key: keyOf(this.tag, id, sequence) });
    }
    return { ops, commit: () => this.spans.delete(id) };
  }

  /** The newest `limit` entries of `id`'s log, newest first. */
  async newest<V>(id: string, limit: number): Promise<V[]> {
    const values: V[] = [];
    if (limit <= 0) return values;
    for await (const [, value] of this.namespace.entries<V>({
      prefix: prefixOf(this.tag, id),
      order: 'descending',
      limit,
    })) {
      values.push(value);
    }
    return values;
  }

  /**
   * Forgets what is known of `id`'s span, to read it again from the store: after a write whose
   * outcome is unknown (a failed fsync may still have reached the log).
   */
  dropSpan(id: string): void {
    this.spans.delete(id);
  }

  private async spanOf(id: string): Promise<Span> {
    const known = this.spans.get(id);
    if (known) return known;
    const oldest = await this.edgeSequence(id, 'ascending');
    const newest = await this.edgeSequence(id, 'descending');
    const span =
      oldest === undefined || newest === undefined
        ? { first: 0, next: 0 }
        : { first: oldest, next: newest + 1 };
    this.spans.set(id, span);
    return span;
  }

  /** The sequence number of the first or last key of `id`'s log. */
  private async edgeSequence(id: string, order: 'ascending' | 'descending'): Promise<number | undefined> {
    for await (const key of this.namespace.keys({ prefix: prefixOf(this.tag, id), order, limit: 1 })) {
      const sequence = parseSortableNumber(partsOf(key).at(-1) ?? '');
      if (sequence === undefined) throw new Error(`store key ${key} does not end with a sequence number`);
      return sequence;
    }
    return undefined;
  }
}
