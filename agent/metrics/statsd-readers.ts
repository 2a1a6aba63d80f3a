// Statsd reader processes: under load, helpers that read the agent's statsd socket beside it.
//
// Why processes: one Node thread receives at most ~320k datagrams a second here (a syscall and a
// callback each) and parses ~180k packets of 10 lines; past that the kernel drops them. Several
// readers of one socket share its queue (each datagram goes to whichever reads first), so the
// rate scales with cores. Threads cannot do it on Node 20: a socket handle can only be passed to
// another process (the IPC channel dups it; two threads sharing one descriptor would close it
// twice), and SO_REUSEPORT (Node >= 22.12) would send one client's packets all to one socket.
//
// They cost memory only under load: none run while the agent takes fewer than START_RATE packets
// a second, and they stop after IDLE_MS below a quarter of it. Each hands over its interval at the
// agent's flush (statsd-interval.ts), merged before the flush is computed; a reader that does not
// answer in time has its interval merged into the next one, when it does. `statsd.readers: 0`
// keeps every packet in the agent.
import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:dgram';
import { join } from 'node:path';
import { messageOf } from '../shared/errors.js';
import type { Logger } from '../log/index.js';
import { packageRoot } from '../shared/paths.js';
import type { StatsdIntervalSnapshot } from './statsd-interval.js';

/** Packets a second (all readers together) from which reader processes are started. */
export const START_RATE = 10_000;
/** How long the rate stays under a quarter of START_RATE before the readers are stopped. */
export const IDLE_MS = 10 * 60_000;
/** How long a flush waits for a reader's interval. */
const TAKE_TIMEOUT_MS = 1000;
/** After a reader died on its own, no new one for this long (a crash loop costs nothing). */
const RESPAWN_BACKOFF_MS = 60_000;

export type ReaderRequest = { type: 'listen'; maxKeys: number } | { type: 'take'; id: number };
export type ReaderReply =
  { type: 'listening' } | { type: 'interval'; id: number; snapshot: StatsdIntervalSnapshot | undefined };

export interface StatsdReadersOptions {
  /** Most reader processes at once (statsd.readers); 0: none ever. */
  maxReaders: number;
  /** Distinct keys a reader holds in one interval. */
  maxKeys: number;
  logger: Logger;
  /** Wall clock, ms: the idle time and the respawn backoff. */
  now: () => number;
  /** Packets a second from which readers start (START_RATE; tests lower it). */
  startRate?: number;
}

export interface StatsdReadersStats {
  /** Reader processes running now. */
  running: number;
  started: number;
  /** Readers that exited on their own (not stopped by the agent). */
  died: number;
  /** Packets the readers took, since start. */
  packets: number;
}

interface Reader {
  child: ChildProcess;
  stopping: boolean;
  exited: Promise<void>;
}

export class StatsdReaders {
  private readonly readers = new Set<Reader>();
  private socket?: Socket;
  private nextId = 0;
  /** Snapshots that came in after their flush stopped waiting: merged into the next one. */
  private late: StatsdIntervalSnapshot[] = [];
  private readonly pending = new Map<number, (snapshot: StatsdIntervalSnapshot | undefined) => void>();
  private quietSinceMs?: number;
  private lastDeathMs = -Infinity;
  private readonly counters = { started: 0, died: 0, packets: 0 };

  constructor(private readonly options: StatsdReadersOptions) {}

  /** The socket readers share (the agent keeps reading it too). */
  attach(socket: Socket): void {
    this.socket = socket;
  }

  /**
   * At each flush: every reader's interval (those that answer within a second, and late ones from
   * before), then the decision to start or stop readers from the rate of the whole interval.
   * `ownPackets`: what the agent itself read in the interval.
   */
  async collect(intervalSeconds: number, ownPackets: number): Promise<StatsdIntervalSnapshot[]> {
    const asked = [...this.readers].filter((reader) => !reader.stopping).map((reader) => this.take(reader));
    const snapshots = [
      ...this.late.splice(0),
      ...(await Promise.all(asked)).filter((one) => one !== undefined),
    ];
    let packets = ownPackets;
    for (const snapshot of snapshots) packets += snapshot.packets;
    this.adjust(packets / intervalSeconds);
    return snapshots;
  }

  /** The running readers' process ids. */
  pids(): number[] {
    return [...this.readers].flatMap((reader) => (reader.child.pid === undefined ? [] : [reader.child.pid]));
  }

  stats(): StatsdReadersStats {
    return { running: this.readers.size, ...this.counters };
  }

  async stop(): Promise<void> {
    this.socket = undefined;
    await Promise.all([...this.readers].map((reader) => this.retire(reader, false)));
  }

  private adjust(rate: number): void {
    const nowMs = this.options.now();
    const startRate = this.options.startRate ?? START_RATE;
    if (rate >= startRate) {
      this.quietSinceMs = undefined;
      while (this.readers.size < this.options.maxReaders && nowMs - this.lastDeathMs >= RESPAWN_BACKOFF_MS) {
        if (!this.spawn(rate)) break;
      }
      return;
    }
    if (rate >= startRate / 4 || this.readers.size === 0) {
      this.quietSinceMs = undefined;
      return;
    }
    this.quietSinceMs ??= nowMs;
    if (nowMs - this.quietSinceMs < IDLE_MS) return;
    this.options.logger.info('statsd: load is down, reader processes stopped', {
      readers: this.readers.size,
    });
    this.quietSinceMs = undefined;
    for (const reader of this.readers) void this.retire(reader);
  }

  private spawn(rate: number): boolean {
    const socket = this.socket;
    if (!socket) return false;
    const script = join(packageRoot(), 'dist', 'agent', 'metrics', 'statsd-reader-main.js');
    let child: ChildProcess;
    try {
      // Not the agent's node flags (an --inspect port in use, heap sizes meant for the agent).
      child = fork(script, [], {
        execArgv: [],
        serialization: 'advanced',
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
    } catch (error) {
      this.options.logger.warn('statsd: cannot start a reader process', { error: messageOf(error) });
      this.lastDeathMs = this.options.now();
      return false;
    }
    let exited!: () => void;
    const reader: Reader = { child, stopping: false, exited: new Promise((resolve) => (exited = resolve)) };
    this.readers.add(reader);
    this.counters.started++;
    child.on('message', (reply: ReaderReply) => this.answered(reply));
    child.on('error', () => {});
    child.on('exit', (code, signal) => {
      this.readers.delete(reader);
      exited();
      if (reader.stopping) return;
      this.counters.died++;
      this.lastDeathMs = this.options.now();
      this.options.logger.warn('statsd: a reader process exited', { code, signal });
    });
    child.send({ type: 'listen', maxKeys: this.options.maxKeys } satisfies ReaderRequest, socket);
    this.options.logger.info('statsd: reader process started', {
      pid: child.pid,
      packets_per_second: Math.round(rate),
      readers: this.readers.size,
    });
    return true;
  }

  private take(reader: Reader): Promise<StatsdIntervalSnapshot | undefined> {
    const id = ++this.nextId;
    return new Promise((resolve) => {
      let waiting = true;
      const timer = setTimeout(() => {
        // Too slow for this flush: its interval joins the next one when it comes.
        waiting = false;
        resolve(undefined);
      }, TAKE_TIMEOUT_MS);
      timer.unref();
      const settle = (snapshot: StatsdIntervalSnapshot | undefined): void => {
        this.pending.delete(id);
        clearTimeout(timer);
        if (waiting) resolve(snapshot);
        else if (snapshot) this.late.push(snapshot);
        waiting = false;
      };
      this.pending.set(id, settle);
      // A reader that exits before it answers has nothing more to give.
      void reader.exited.then(() => this.pending.get(id)?.(undefined));
      try {
        reader.child.send({ type: 'take', id } satisfies ReaderRequest);
      } catch {
        settle(undefined);
      }
    });
  }

  private answered(reply: ReaderReply): void {
    if (reply.type !== 'interval') return;
    if (reply.snapshot) this.counters.packets += reply.snapshot.packets;
    this.pending.get(reply.id)?.(reply.snapshot);
  }

  /**
   * Stops a reader. `keep`: after taking what it holds (merged at the next flush); the agent
   * stopping does not wait for that.
   */
  private async retire(reader: Reader, keep = true): Promise<void> {
    if (reader.stopping) return reader.exited;
    const last = keep ? await this.take(reader) : undefined;
    if (last) this.late.push(last);
    reader.stopping = true;
    if (reader.child.connected) reader.child.disconnect();
    const killer = setTimeout(() => reader.child.kill('SIGKILL'), 2000);
    killer.unref();
    await reader.exited;
    clearTimeout(killer);
  }
}
