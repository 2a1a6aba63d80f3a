// Runs operators' regular expressions over files' lines in a fixed number of worker threads.
// JavaScript regexps can backtrack for ages (ReDoS: `^(a+)+$` against a long line of a's); on the
// main thread that would freeze the agent, gossip included, so they run in workers with a deadline.
// A thread per call (as before) let 200 concurrent calls make ~100 threads and 660 MB, and stall
// the agent until its peers declared it dead. Here:
// - at most `workers` threads exist (busy, idle, or terminated and not yet gone); they are made on
//   demand, reused, and terminated after `idleMs` without work, so an idle agent holds none;
// - a job that runs past `timeoutMs` has its worker terminated (a regexp cannot be interrupted any
//   other way); a new one is made for the next job;
// - jobs wait in a queue bounded by count and by the bytes of text held, for at most `maxWaitMs`;
//   beyond any of these a call fails at once with EvaluatorBusyError (the API answers 503).
import { Worker } from 'node:worker_threads';
import { EvaluatorBusyError, ExpressionError } from '../errors.js';
import {
  REGEXP_QUEUE_BYTES,
  REGEXP_QUEUE_JOBS,
  REGEXP_QUEUE_WAIT_MS,
  REGEXP_TIMEOUT_MS,
  REGEXP_WORKER_IDLE_MS,
  REGEXP_WORKERS,
} from '../limits.js';
import { SYSTEM_TIMERS, type Timers } from '../../shared/timers.js';
import { REGEXP_WORKER_SOURCE } from './worker-source.js';

export interface RegexpPoolOptions {
  /** Threads alive at most (busy, idle or exiting). */
  workers: number;
  /** Jobs waiting for a worker at most. */
  queueJobs: number;
  /** Text held by waiting and running jobs at most, counted at 2 bytes a character (a string's worst case). */
  queueBytes: number;
  /** How long one regular expression may run before its worker is terminated. */
  timeoutMs: number;
  /** An idle worker is terminated after this long. */
  idleMs: number;
  /** How long a job may wait for a worker before it is given up as busy. */
  maxWaitMs: number;
  timers: Timers;
}

/** What the pool holds right now (tests, diagnostics). */
export interface RegexpPoolLoad {
  /** Worker threads alive, busy or idle or exiting. */
  threads: number;
  busy: number;
  queued: number;
  heldBytes: number;
  /** Workers made since the pool was created. */
  spawned: number;
}

interface Job {
  pattern: string;
  text: string;
  whole: boolean;
  bytes: number;
  /** Names the call in messages: "grep_file('^(a+)+$', ...)". */
  label: string;
  resolve(matched: boolean): void;
  reject(error: Error): void;
  waitTimer?: unknown;
}

interface PoolWorker {
  thread: Worker;
  job?: Job;
  deadline?: unknown;
  idleTimer?: unknown;
  /** Terminated (deadline, idle, close) and no longer given work; counted until it exits. */
  retiring: boolean;
  exited: Promise<void>;
}

/** What worker-source.ts posts back. */
type WorkerReply = { matched?: boolean; error?: string };

export class RegexpPool {
  private readonly options: RegexpPoolOptions;
  private readonly alive = new Set<PoolWorker>();
  private readonly idle: PoolWorker[] = [];
  private readonly queue: Job[] = [];
  private heldBytes = 0;
  private spawned = 0;
  private closed = false;

  constructor(options: Partial<RegexpPoolOptions> = {}) {
    this.options = {
      workers: REGEXP_WORKERS,
      queueJobs: REGEXP_QUEUE_JOBS,
      queueBytes: REGEXP_QUEUE_BYTES,
      timeoutMs: REGEXP_TIMEOUT_MS,
      idleMs: REGEXP_WORKER_IDLE_MS,
      maxWaitMs: REGEXP_QUEUE_WAIT_MS,
      timers: SYSTEM_TIMERS,
      ...options,
    };
  }

  /**
   * Whether any line of `text` matches `pattern` (case-insensitive, an already valid regexp); with
   * `whole`, whether the pattern matches anywhere in the text, case-sensitive.
   */
  match(pattern: string, text: string, label: string, whole = false): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new ExpressionError(`${label}: the evaluator is shutting down`));
      const job: Job = { pattern, text, whole, bytes: text.length * 2, label, resolve, reject };
      // Always admitted when nothing is held: one file (at most MAX_FILE_BYTES) must be searchable.
      if (this.heldBytes > 0 && this.heldBytes + job.bytes > this.options.queueBytes) {
        return reject(this.busy(label, `${megabytes(this.heldBytes)} MB of text are already waiting`));
      }
      let worker: PoolWorker | undefined;
      try {
        worker = this.availableWorker();
      } catch (error) {
        return reject(
          new ExpressionError(`${label}: cannot start a regular-expression worker: ${String(error)}`),
        );
      }
      if (!worker && this.queue.length >= this.options.queueJobs) {
        return reject(this.busy(label, `${this.queue.length} regular expressions are already waiting`));
      }
      this.heldBytes += job.bytes;
      if (worker) return this.start(worker, job);
      job.waitTimer = this.options.timers.setTimeout(() => this.giveUp(job), this.options.maxWaitMs);
      this.queue.push(job);
    });
  }

  load(): RegexpPoolLoad {
    return {
      threads: this.alive.size,
      busy: [...this.alive].filter((worker) => worker.job).length,
      queued: this.queue.length,
      heldBytes: this.heldBytes,
      spawned: this.spawned,
    };
  }

  /** Fails waiting jobs, terminates every worker and resolves once all their threads are gone. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) {
      this.options.timers.clearTimeout(job.waitTimer);
      this.finish(job, new ExpressionError(`${job.label}: the evaluator is shutting down`));
    }
    const exits = [...this.alive].map((worker) => worker.exited);
    for (const worker of [...this.alive]) this.retire(worker);
    await Promise.all(exits);
  }

  /** An idle worker, or a new one while fewer than `workers` threads are alive. */
  private availableWorker(): PoolWorker | undefined {
    const worker = this.idle.pop();
    if (worker) {
      this.options.timers.clearTimeout(worker.idleTimer);
      return worker;
    }
    return this.alive.size < this.options.workers ? this.spawn() : undefined;
  }

  private spawn(): PoolWorker {
    const thread = new Worker(REGEXP_WORKER_SOURCE, {
      eval: true,
      // A job's text and the lines split from it, with room to spare; more is a runaway worker.
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    let exited!: () => void;
    const worker: PoolWorker = {
      thread,
      retiring: false,
      exited: new Promise((resolve) => (exited = resolve)),
    };
    this.alive.add(worker);
    this.spawned++;
    thread.on('message', (reply: WorkerReply) => this.answered(worker, reply));
    thread.on('error', (error: Error) => {
      // Out of memory, most likely; the thread exits next.
      if (worker.job) this.finish(worker.job, new ExpressionError(`${worker.job.label}: ${error.message}`));
      worker.job = undefined;
    });
    thread.once('exit', () => {
      this.alive.delete(worker);
      this.forget(worker);
      if (worker.job) {
        this.finish(
          worker.job,
          new ExpressionError(`${worker.job.label}: the regular-expression worker stopped without an answer`),
        );
        worker.job = undefined;
      }
      exited();
      // Its place may now go to a waiting job.
      this.pump();
    });
    return worker;
  }

  private start(worker: PoolWorker, job: Job): void {
    worker.job = job;
    // While it works, the worker keeps the process alive like any pending I/O.
    worker.thread.ref();
    worker.deadline = this.options.timers.setTimeout(() => this.expire(worker), this.options.timeoutMs);
    worker.thread.postMessage({ pattern: job.pattern, text: job.text, whole: job.whole });
  }

  private answered(worker: PoolWorker, reply: WorkerReply): void {
    const job = worker.job;
    // A late answer from a worker already given up on (deadline, close): nobody waits for it.
    if (!job || worker.retiring) return;
    this.options.timers.clearTimeout(worker.deadline);
    worker.job = undefined;
    if (reply.error !== undefined)
      this.finish(job, new ExpressionError(`${job.label}: ${String(reply.error)}`));
    else this.finish(job, reply.matched === true);
    this.nextJob(worker);
  }

  /** Gives the worker the next waiting job, or lets it idle until it is retired. */
  private nextJob(worker: PoolWorker): void {
    const job = this.queue.shift();
    if (job) {
      this.options.timers.clearTimeout(job.waitTimer);
      return this.start(worker, job);
    }
    worker.thread.unref();
    this.idle.push(worker);
    worker.idleTimer = this.options.timers.setTimeout(() => this.retire(worker), this.options.idleMs, true);
  }

  /** The deadline passed: the regexp cannot be stopped inside its thread, so the thread goes. */
  private expire(worker: PoolWorker): void {
    const job = worker.job;
    worker.job = undefined;
    if (job) {
      this.finish(
        job,
        new ExpressionError(
          `${job.label}: the regular expression ran longer than ${this.options.timeoutMs} ms; simplify it`,
        ),
      );
    }
    this.retire(worker);
  }

  private retire(worker: PoolWorker): void {
    if (worker.retiring) return;
    worker.retiring = true;
    this.forget(worker);
    void worker.thread.terminate();
  }

  /** Out of the idle list, timers cleared. */
  private forget(worker: PoolWorker): void {
    this.options.timers.clearTimeout(worker.deadline);
    this.options.timers.clearTimeout(worker.idleTimer);
    const index = this.idle.indexOf(worker);
    if (index >= 0) this.idle.splice(index, 1);
  }

  /** Starts waiting jobs while workers are available (after a worker exited). */
  private pump(): void {
    while (this.queue.length > 0 && !this.closed) {
      let worker: PoolWorker | undefined;
      try {
        worker = this.availableWorker();
      } catch (error) {
        const job = this.queue.shift()!;
        this.options.timers.clearTimeout(job.waitTimer);
        this.finish(
          job,
          new ExpressionError(`${job.label}: cannot start a regular-expression worker: ${String(error)}`),
        );
        continue;
      }
      if (!worker) return;
      const job = this.queue.shift()!;
      this.options.timers.clearTimeout(job.waitTimer);
      this.start(worker, job);
    }
  }

  /** Waited too long in the queue. */
  private giveUp(job: Job): void {
    const index = this.queue.indexOf(job);
    if (index < 0) return;
    this.queue.splice(index, 1);
    this.finish(job, this.busy(job.label, `waited ${this.options.maxWaitMs / 1000} s for a free worker`));
  }

  /** Settles a job that was admitted, and frees its share of the byte budget. */
  private finish(job: Job, outcome: boolean | Error): void {
    this.heldBytes -= job.bytes;
    if (outcome instanceof Error) job.reject(outcome);
    else job.resolve(outcome);
  }

  private busy(label: string, why: string): EvaluatorBusyError {
    const retryAfterS = Math.max(1, Math.ceil(this.options.timeoutMs / 1000));
    return new EvaluatorBusyError(
      `unknown: ${label}: the regular-expression workers are busy (${why}); retry in ${retryAfterS} s`,
      retryAfterS,
    );
  }
}

function megabytes(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}
