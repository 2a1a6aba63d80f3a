// The agent's side of the plugin launcher (launcher/opsbro-plugin-launcher.c): one small process,
// started at the first plugin run, that starts every plugin with posix_spawn so that the agent
// never forks itself (a fork copies the page tables of the whole agent: docs/checks-script.md).
// Requests and events are length-prefixed binary frames on its stdin and stdout (the protocol is
// described at the top of the C file). If the launcher dies, the runs it had are reported lost
// (their groups killed) and the next run starts a new one.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../log/index.js';
import { packageRoot } from '../../shared/paths.js';
import {
  cappedText,
  PLUGIN_ENVIRONMENT,
  type OutputLimits,
  type PluginRun,
  type PluginSink,
  type PluginSpawner,
} from './plugin-process.js';
import { describeSpawnError, IN_AGENT_SPAWNER } from './spawn-in-agent.js';

/** Where `npm run build` puts the launcher (agent/checks/nagios/launcher/build.sh). */
export function launcherBinary(): string {
  return join(packageRoot(), 'dist', 'launcher', 'opsbro-plugin-launcher');
}

const REQUEST_RUN = 1;
const REQUEST_ABANDON = 2;
const EVENT_STARTED = 1;
const EVENT_FAILED = 2;
const EVENT_EXITED = 3;
const EVENT_CLOSED = 4;
/** The launcher refuses larger frames (MAX_FRAME there). */
const MAX_REQUEST_BYTES = 1 << 20;

const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, value]) => [value, name]));
const SIGNAL_NAMES = new Map(
  Object.entries(osConstants.signals).map(([name, value]) => [value, name as NodeJS.Signals]),
);

interface PendingRun {
  sink: PluginSink;
  limits: OutputLimits;
  started: boolean;
  exited: boolean;
}

/** What the launcher says, and where (the agent's logger). */
export type LauncherLog = Pick<Logger, 'warn' | 'error'>;

export interface PluginLauncherOptions {
  /** The launcher's path (default: launcherBinary()). */
  binary?: string;
  logger?: LauncherLog;
  /** The clock of the deaths' window (tests may drive it). */
  now?: () => number;
}

/**
 * A launcher that dies this many times within DEATHS_WINDOW_MS is given up: plugins start from
 * the agent from then on (at more CPU per run, but they run), and the log says so once.
 */
export const DEATHS_BEFORE_FALLBACK = 3;
export const DEATHS_WINDOW_MS = 60_000;

export class PluginLauncher implements PluginSpawner {
  private readonly binary: string;
  private child: ChildProcess | undefined;
  private readonly runs = new Map<number, PendingRun>();
  private lastId = 0;
  private input: Buffer = Buffer.alloc(0);
  /** Whether the launcher holds the event loop now (a new child does, until told otherwise). */
  private holding = true;
  /** When it died lately (within DEATHS_WINDOW_MS). */
  private deaths: number[] = [];
  /** Given up after repeated deaths: runs start from the agent. */
  private fallenBack = false;
  /** The launcher close() is ending. */
  private closing: ChildProcess | undefined;
  /** Requests of this turn, written to `child` at its end. */
  private outgoing: { child: ChildProcess; frames: Buffer[] } | undefined;

  constructor(private readonly options: PluginLauncherOptions = {}) {
    this.binary = options.binary ?? launcherBinary();
  }

  /** The launcher's pid while it runs (tests kill it to see runs lost). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Runs under way whose pid the launcher has reported (it does after STARTED_DELAY_MS). */
  get runsWithPid(): number {
    let count = 0;
    for (const run of this.runs.values()) if (run.started) count += 1;
    return count;
  }

  /** Whether it gave up on the launcher process (it died too often) and starts plugins itself. */
  get inAgent(): boolean {
    return this.fallenBack;
  }

  spawn(argv: readonly string[], limits: OutputLimits, sink: PluginSink): PluginRun {
    if (this.fallenBack) return IN_AGENT_SPAWNER.spawn(argv, limits, sink);
    const id = this.nextId();
    const frame = runFrame(id, argv, limits);
    if (frame.length > MAX_REQUEST_BYTES) {
      sink.failed('the command line is too long');
      return { abandonOutput: () => {} };
    }
    const child = this.running();
    this.runs.set(id, { sink, limits, started: false, exited: false });
    this.holdLoop();
    this.send(child, frame);
    return {
      abandonOutput: () => {
        if (this.runs.has(id) && this.child === child) this.send(child, smallFrame(REQUEST_ABANDON, id));
      },
    };
  }

  /** Ends the launcher (it kills what still runs when its stdin closes) and waits for it. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    // Held until it is gone, whether runs are under way or not; its end is no death.
    this.closing = child;
    this.holding = true;
    child.ref();
    (child.stdout as unknown as { ref(): void }).ref();
    await new Promise<void>((resolve) => {
      child.once('close', () => resolve());
      // Requests of this turn still go out first (their runs then end with the launcher).
      const outgoing = this.outgoing?.child === child ? this.outgoing.frames : [];
      this.outgoing = undefined;
      child.stdin!.end(Buffer.concat(outgoing));
    });
  }

  /**
   * The requests of one turn (the runs of a window start together) go out in one write at its
   * end, so the launcher wakes up once for all of them.
   */
  private send(child: ChildProcess, frame: Buffer): void {
    if (this.outgoing?.child === child) {
      this.outgoing.frames.push(frame);
      return;
    }
    const outgoing = { child, frames: [frame] };
    this.outgoing = outgoing;
    process.nextTick(() => {
      // close() sent them, or the launcher they were for died (its runs are reported lost).
      if (this.outgoing !== outgoing) return;
      this.outgoing = undefined;
      const { frames } = outgoing;
      child.stdin!.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
    });
  }

  private nextId(): number {
    this.lastId = this.lastId >= 0xffff_ffff ? 1 : this.lastId + 1;
    return this.lastId;
  }

  private running(): ChildProcess {
    if (this.child) return this.child;
    // Its own process group: a Ctrl-C to the agent's terminal does not reach it; it ends when the
    // agent closes its stdin (or dies).
    const child = spawn(this.binary, [], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: PLUGIN_ENVIRONMENT,
      cwd: '/',
    });
    this.child = child;
    this.holding = true;
    this.input = Buffer.alloc(0);
    child.stdout.on('data', (chunk: Buffer) => this.read(chunk));
    // Its complaints go to the log; they never keep the agent running.
    (child.stderr as unknown as { unref(): void }).unref();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) =>
      this.options.logger?.warn('plugin launcher: ' + text.trim(), { binary: this.binary }),
    );
    // EPIPE when it died with requests unwritten: its exit reports the runs lost.
    child.stdin.on('error', () => {});
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined && this.child === child) {
        this.died(null, null);
        this.gone(
          child,
          `cannot start ${this.binary}: ${describeSpawnError(error.code, error.message)}`,
          false,
        );
      }
    });
    child.on('close', (code, signal) => {
      if (this.child === child && this.runs.size > 0) {
        this.options.logger?.warn('the plugin launcher stopped with runs under way', {
          code,
          signal,
          runs: this.runs.size,
        });
      }
      if (this.child === child && this.closing !== child) this.died(code, signal);
      this.gone(
        child,
        signal ? `the plugin launcher was killed by ${signal}` : `the plugin launcher exited (${code})`,
      );
    });
    return child;
  }

  /** Counts a death; too many in a row and plugins start from the agent from now on. */
  private died(code: number | null, signal: NodeJS.Signals | null): void {
    const now = (this.options.now ?? Date.now)();
    this.deaths = [...this.deaths.filter((at) => now - at < DEATHS_WINDOW_MS), now];
    if (this.deaths.length < DEATHS_BEFORE_FALLBACK || this.fallenBack) return;
    this.fallenBack = true;
    this.options.logger?.error(
      `the plugin launcher died ${this.deaths.length} times within ${DEATHS_WINDOW_MS / 1000} s: ` +
        'plugins start from the agent process from now on (more CPU per run); restart the agent to try it again',
      { binary: this.binary, code, signal },
    );
  }

  /**
   * The launcher is gone: its runs are lost (a run whose pid it had not reported yet may have
   * started all the same), and the next run starts another. `ran` false: it never started, so
   * neither did any run.
   */
  private gone(child: ChildProcess, reason: string, ran = true): void {
    if (this.child !== child) return;
    this.child = undefined;
    const runs = [...this.runs.values()];
    this.runs.clear();
    for (const run of runs) {
      if (ran) run.sink.lost(reason);
      else run.sink.failed(reason);
    }
  }

  /** The launcher keeps the agent's event loop alive only while runs are under way. */
  private holdLoop(): void {
    const child = this.child;
    const hold = this.runs.size > 0;
    if (!child || hold === this.holding) return;
    this.holding = hold;
    const stdout = child.stdout as unknown as { ref(): void; unref(): void };
    if (hold) {
      child.ref();
      stdout.ref();
    } else {
      child.unref();
      stdout.unref();
    }
  }

  private read(chunk: Buffer): void {
    this.input = this.input.length ? Buffer.concat([this.input, chunk]) : chunk;
    let offset = 0;
    while (this.input.length - offset >= 4) {
      const length = this.input.readUInt32LE(offset);
      if (this.input.length - offset - 4 < length) break;
      this.event(this.input.subarray(offset + 4, offset + 4 + length));
      offset += 4 + length;
    }
    this.input = offset === this.input.length ? Buffer.alloc(0) : this.input.subarray(offset);
    this.holdLoop();
  }

  private event(frame: Buffer): void {
    const type = frame[0];
    const id = frame.readUInt32LE(1);
    const run = this.runs.get(id);
    if (!run) return;
    if (type === EVENT_FAILED) {
      this.runs.delete(id);
      const errno = frame.readInt32LE(5);
      run.sink.failed(describeSpawnError(ERRNO_NAMES.get(errno), `errno ${errno}`));
      return;
    }
    // STARTED, EXITED and CLOSED all carry the pid; EXITED and CLOSED how the leader ended.
    if (!run.started) {
      run.started = true;
      run.sink.started(frame.readInt32LE(5));
    }
    if (type === EVENT_STARTED) return;
    if (!run.exited) {
      run.exited = true;
      const signal = frame.readInt32LE(13);
      // EXITED: processes of the group are left; CLOSED first: none is (the launcher looked).
      run.sink.exited(
        signal ? null : frame.readInt32LE(9),
        signal ? (SIGNAL_NAMES.get(signal) ?? 'SIGKILL') : null,
        type === EVENT_EXITED,
      );
    }
    if (type === EVENT_CLOSED) {
      this.runs.delete(id);
      const stdoutDropped = Number(frame.readBigUInt64LE(17));
      const stderrDropped = Number(frame.readBigUInt64LE(25));
      const stdoutStart = 41;
      const stderrStart = stdoutStart + frame.readUInt32LE(33);
      run.sink.closed(
        cappedText(frame.subarray(stdoutStart, stderrStart), stdoutDropped, run.limits.stdoutBytes),
        cappedText(frame.subarray(stderrStart), stderrDropped, run.limits.stderrBytes),
      );
    }
  }
}

function runFrame(id: number, argv: readonly string[], limits: OutputLimits): Buffer {
  const strings = argv.map((argument) => Buffer.from(argument + '\0', 'utf8'));
  const body = 1 + 4 + 12 + strings.reduce((sum, bytes) => sum + bytes.length, 0);
  const frame = Buffer.allocUnsafe(4 + body);
  frame.writeUInt32LE(body, 0);
  frame.writeUInt8(REQUEST_RUN, 4);
  frame.writeUInt32LE(id, 5);
  frame.writeUInt32LE(limits.stdoutBytes, 9);
  frame.writeUInt32LE(limits.stderrBytes, 13);
  frame.writeUInt32LE(argv.length, 17);
  let offset = 21;
  for (const bytes of strings) offset += bytes.copy(frame, offset);
  return frame;
}

function smallFrame(type: number, id: number): Buffer {
  const frame = Buffer.allocUnsafe(9);
  frame.writeUInt32LE(5, 0);
  frame.writeUInt8(type, 4);
  frame.writeUInt32LE(id, 5);
  return frame;
}

/**
 * The spawner the agent runs plugins with: the launcher when it is wanted and built, else the
 * agent itself (and the log says why, once).
 */
export function pluginSpawner(
  wanted: boolean,
  logger?: LauncherLog,
  binary = launcherBinary(),
): PluginSpawner {
  if (!wanted) return IN_AGENT_SPAWNER;
  try {
    accessSync(binary, fsConstants.X_OK);
  } catch {
    logger?.warn(
      'the plugin launcher is not built: plugins run from the agent process, at several times ' +
        'the CPU per run (a C compiler and `npm run build` make it; docs/checks-script.md)',
      { binary },
    );
    return IN_AGENT_SPAWNER;
  }
  return new PluginLauncher({ binary, ...(logger ? { logger } : {}) });
}
