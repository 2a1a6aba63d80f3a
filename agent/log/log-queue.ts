// The logger's output queue: lines are queued, not written, by the code that logs them, and written
// a batch at a time without ever blocking the event loop. A pipe nobody reads (a stuck journald, a
// `| less` left in the background) fills, and then the agent keeps probing, answering and
// collecting: the queue is bounded, lines past the bound are dropped and counted, and the count is
// reported in the output as soon as a line gets through again (and by `droppedLines`).
//
// Lines a crash needs are not lost: flushSync() writes the queue synchronously on the fatal paths
// (uncaught exception, process exit), waiting a bounded time for a full pipe to take it.

/** Where the lines go. */
export interface LogTarget {
  /**
   * Writes a prefix of `bytes` without blocking and returns its length (0 when the output cannot
   * take anything now: a full pipe). Throws when the output is gone for good (EPIPE, EBADF).
   */
  writeSome(bytes: Buffer): number;
}

/** The timers the queue uses, injected by tests. */
export interface LogQueueTimers {
  setImmediate(callback: () => void): { unref?(): unknown };
  setTimeout(callback: () => void, ms: number): { unref?(): unknown };
  /** Blocks the thread for `ms` (flushSync only, while a full pipe drains). */
  sleepSync(ms: number): void;
  /** A monotonic clock in ms. */
  now(): number;
}

export interface LogQueueOptions {
  target: LogTarget;
  /** The line that reports `dropped` lines, in the logger's format. */
  dropNotice: (dropped: number) => string;
  /** Bytes queued at most (default 1 MiB, about 5,000 lines); lines beyond are dropped and counted. */
  maxQueuedBytes?: number;
  /** How long flushSync waits, in all, for a full output to take the queue (default 1 s). */
  flushDeadlineMs?: number;
  timers?: LogQueueTimers;
}

/** One write hands the output at most this much: a drain turn stays short. */
const BATCH_BYTES = 64 * 1024;
/** Per drain turn, so a fast output and a busy logger cannot hold the event loop either. */
const BYTES_PER_TURN = 1024 * 1024;
/** Retry delays while the output is full: from 10 ms, doubling, at most 1 s. */
const FIRST_RETRY_MS = 10;
const MAX_RETRY_MS = 1000;

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

const realTimers: LogQueueTimers = {
  setImmediate: (callback) => setImmediate(callback),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  sleepSync: (ms) => Atomics.wait(sleepCell, 0, 0, ms),
  now: () => performance.now(),
};

/** A queued line; a drop notice remembers how many drops it reports, in case it is dropped too. */
interface Entry {
  text: string;
  reports: number;
}

export class LogQueue {
  private readonly lines: Entry[] = [];
  /** Bytes of `lines` plus the unwritten part of `partial`. */
  private queuedBytes = 0;
  /** A batch the output took only part of: the rest goes first, so no line is cut or reordered. */
  private partial?: Buffer;
  private drainScheduled = false;
  private retryMs = FIRST_RETRY_MS;
  private dropped = 0;
  /** Drops not yet reported in the output. */
  private unreported = 0;
  /** The output is gone (EPIPE): everything from now on is dropped. */
  private broken = false;
  private readonly maxQueuedBytes: number;
  private readonly flushDeadlineMs: number;
  private readonly timers: LogQueueTimers;

  constructor(private readonly options: LogQueueOptions) {
    this.maxQueuedBytes = options.maxQueuedBytes ?? 1024 * 1024;
    this.flushDeadlineMs = options.flushDeadlineMs ?? 1000;
    this.timers = options.timers ?? realTimers;
  }

  /** Lines dropped since the start: the queue was full, or the output is gone. */
  get droppedLines(): number {
    return this.dropped;
  }

  /** Queues one line (with its newline); drops and counts it when the queue is full. Never blocks. */
  enqueue(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.broken || this.queuedBytes + bytes > this.maxQueuedBytes) {
      this.dropped++;
      this.unreported++;
      return;
    }
    if (this.unreported) {
      // The notice may pass the bound by its own few bytes: it is what explains the gap.
      this.push(this.options.dropNotice(this.unreported), this.unreported);
      this.unreported = 0;
    }
    this.push(line);
    this.scheduleDrain();
  }

  /**
   * Writes everything queued now, synchronously: for fatal paths, where the process is about to
   * exit. A full output is waited for up to the flush deadline in all; what it still cannot take is
   * dropped and counted, so a stuck pipe cannot hold a dying agent either.
   */
  flushSync(): void {
    const deadline = this.timers.now() + this.flushDeadlineMs;
    let noticed = false;
    let pauseMs = 1;
    while (!this.broken) {
      if (this.queuedBytes === 0) {
        // Everything went out: say what was dropped before, as the last line.
        if (noticed || !this.unreported) return;
        this.push(this.options.dropNotice(this.unreported), this.unreported);
        this.unreported = 0;
        noticed = true;
      }
      if (this.writeBatch()) {
        pauseMs = 1;
        continue;
      }
      const left = deadline - this.timers.now();
      if (left <= 0) break;
      this.timers.sleepSync(Math.min(pauseMs, left));
      pauseMs = Math.min(pauseMs * 2, 50);
    }
    if (this.queuedBytes > 0) this.discard();
  }

  private push(text: string, reports = 0): void {
    this.lines.push({ text, reports });
    this.queuedBytes += Buffer.byteLength(text);
  }

  private scheduleDrain(delayMs = 0): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    const run = () => {
      this.drainScheduled = false;
      this.drain();
    };
    // A retry must not keep a stopping process alive (its exit path flushes); the first turn may.
    if (delayMs > 0) this.timers.setTimeout(run, delayMs).unref?.();
    else this.timers.setImmediate(run);
  }

  private drain(): void {
    let written = 0;
    while (this.queuedBytes > 0 && !this.broken) {
      const bytes = this.writeBatch();
      if (this.broken) return;
      if (bytes === 0) {
        this.scheduleDrain(this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
        return;
      }
      this.retryMs = FIRST_RETRY_MS;
      written += bytes;
      if (written >= BYTES_PER_TURN) {
        this.scheduleDrain();
        return;
      }
    }
  }

  /** Hands the output one batch (or the rest of the partial one); returns the bytes it took. */
  private writeBatch(): number {
    let batch = this.partial;
    if (!batch) {
      const taken: string[] = [];
      let size = 0;
      while (
        this.lines.length &&
        (size === 0 || size + Buffer.byteLength(this.lines[0]!.text) <= BATCH_BYTES)
      ) {
        const { text } = this.lines.shift()!;
        taken.push(text);
        size += Buffer.byteLength(text);
      }
      batch = Buffer.from(taken.join(''));
    }
    let written: number;
    try {
      written = this.options.target.writeSome(batch);
    } catch {
      // The reader went away (EPIPE) or the file is gone: logging must never take the agent down.
      this.partial = batch;
      this.broken = true;
      this.discard();
      return 0;
    }
    this.queuedBytes -= written;
    this.partial = written < batch.length ? batch.subarray(written) : undefined;
    return written;
  }

  /**
   * Drops what is queued, counting its lines (those of a partial batch by their newlines); a drop
   * notice dropped with them hands its count back, to be reported by the next one.
   */
  private discard(): void {
    let lines = 0;
    for (const { reports } of this.lines) {
      if (reports) this.unreported += reports;
      else lines++;
    }
    if (this.partial) for (const byte of this.partial) if (byte === 0x0a) lines++;
    this.dropped += lines;
    this.unreported += lines;
    this.lines.length = 0;
    this.partial = undefined;
    this.queuedBytes = 0;
  }
}
