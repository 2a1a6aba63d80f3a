// `agent start --daemon`: the foreground process re-runs itself detached and waits until the child
// reports ready (or why it failed) over an IPC channel, so the operator gets a real exit status.
import { spawn } from 'node:child_process';
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const DAEMON_CHILD_ENV = 'OPSBRO_DAEMON_CHILD';

/** Messages the detached child sends to the process that launched it. */
export type DaemonMessage = { type: 'ready'; pid: number } | { type: 'failed'; error: string };

/** Read once and removed, so processes the agent starts later (plugins) do not inherit it. */
const launchedAsDaemon = process.env[DAEMON_CHILD_ENV] === '1';
delete process.env[DAEMON_CHILD_ENV];

export function isDaemonChild(): boolean {
  return launchedAsDaemon && typeof process.send === 'function';
}

/** In the child: tell the launcher how the start went, then let it go. */
export function reportToLauncher(message: DaemonMessage): void {
  if (!isDaemonChild()) return;
  process.send!(message, () => process.disconnect?.());
}

export interface DaemonLaunch {
  /** argv for `opsbro agent start` in the child, without --daemon. */
  args: string[];
  logFile: string;
  /** The stderr file is rotated at launch beyond this size (default 10 MiB, like log.max_size_mb). */
  stderrMaxBytes?: number;
  timeoutMs?: number;
}

/** Where the daemon's stderr goes: beside its log file. */
export function stderrFileOf(logFile: string): string {
  return join(dirname(logFile), 'opsbro.stderr');
}

export async function launchDaemon(launch: DaemonLaunch): Promise<DaemonMessage> {
  mkdirSync(dirname(launch.logFile), { recursive: true, mode: 0o700 });
  // Anything the child prints outside the logger (a Node fatal error) lands here, not in the void.
  const stderrFile = stderrFileOf(launch.logFile);
  rotateAtLaunch(stderrFile, launch.stderrMaxBytes ?? DEFAULT_STDERR_MAX_BYTES);
  const stderr = openSync(stderrFile, 'a', 0o600);
  const child = spawn(process.execPath, [resolve(process.argv[1]!), ...launch.args], {
    detached: true,
    // Off the caller's directory, so a daemon never keeps a mount busy.
    cwd: '/',
    stdio: ['ignore', 'ignore', stderr, 'ipc'],
    env: { ...process.env, [DAEMON_CHILD_ENV]: '1' },
  });
  const timeoutMs = launch.timeoutMs ?? 30_000;
  const outcome = await new Promise<DaemonMessage>((resolve) => {
    const timer = setTimeout(() => {
      // Reporting failure while leaving it to come up later would lie: stop it.
      child.kill('SIGTERM');
      resolve({
        type: 'failed',
        error: `the agent did not report ready within ${timeoutMs / 1000} s, stopped it; see ${launch.logFile}`,
      });
    }, timeoutMs);
    child.once('message', (message: DaemonMessage) => {
      clearTimeout(timer);
      resolve(message);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({
        type: 'failed',
        error: `the agent exited during start (${signal ?? `exit code ${code}`}); see ${launch.logFile}`,
      });
    });
  });
  child.removeAllListeners();
  if (child.connected) child.disconnect();
  child.unref();
  return outcome;
}

// The daemon's stderr file, bounded.
//
// Why a file and not a pipe into the rotating log: what lands on stderr is mostly what Node prints
// as it dies (an out-of-memory "FATAL ERROR", an abort, an uncaught error before the logger exists).
// A pipe would need a reader; the launcher exits once the agent is up, and the agent reading its own
// stderr is the one process that cannot, as it dies. A file keeps those last words whatever happens.
// So the file stays, bounded two ways: the launcher rotates it at each start when it is over the
// limit (opsbro.stderr -> opsbro.stderr.1, one kept), and the running agent checks its size once a
// minute and, over the limit, copies its last `maxBytes` to opsbro.stderr.1 and truncates it
// (copy-then-truncate, as logrotate's copytruncate: the child cannot reopen its own fd 2). The file
// is open in append mode, so writes after the truncation start again at offset 0. A line written
// between the copy and the truncation is lost; for a file that stays empty while all is well, that is
// the price of never losing the last words of a crash.

export const DEFAULT_STDERR_MAX_BYTES = 10 * 1024 * 1024;

/** At launch: moves `path` to `path.1` (replacing it) when larger than `maxBytes`. */
export function rotateAtLaunch(path: string, maxBytes: number): void {
  try {
    if ((statSync(path, { throwIfNoEntry: false })?.size ?? 0) > maxBytes) renameSync(path, `${path}.1`);
  } catch {
    // Cannot rotate (permissions, a directory there): appending is still better than not starting.
  }
}

export interface StderrCapOptions {
  /** The stderr file's path (to copy its tail to `<path>.1`). */
  path: string;
  maxBytes: number;
  /** The descriptor open on it in append mode: 2 in the daemon child. */
  fd?: number;
  /** How often the size is checked (default one minute). */
  intervalMs?: number;
  timers?: {
    setInterval(callback: () => void, ms: number): { unref?(): unknown };
    clearInterval(timer: unknown): void;
  };
}

/** In the daemon child: keeps its stderr file under `maxBytes` (see above). */
export class StderrFileCap {
  private timer?: unknown;
  private readonly fd: number;
  private readonly timers: NonNullable<StderrCapOptions['timers']>;

  constructor(private readonly options: StderrCapOptions) {
    this.fd = options.fd ?? 2;
    this.timers = options.timers ?? {
      setInterval: (callback, ms) => setInterval(callback, ms),
      clearInterval: (timer) => clearInterval(timer as NodeJS.Timeout),
    };
  }

  start(): void {
    const timer = this.timers.setInterval(() => this.check(), this.options.intervalMs ?? 60_000);
    timer.unref?.();
    this.timer = timer;
  }

  stop(): void {
    if (this.timer !== undefined) this.timers.clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One check: true when the file was over the limit and was cut back to empty. */
  check(): boolean {
    try {
      const size = fstatSync(this.fd).size;
      if (size <= this.options.maxBytes) return false;
      this.copyTail(size);
      ftruncateSync(this.fd, 0);
      return true;
    } catch {
      // fd 2 is not a file (run by hand with a terminal) or the disk is full: nothing to bound.
      return false;
    }
  }

  /** Copies the last maxBytes of the file to `<path>.1`, a chunk at a time. */
  private copyTail(size: number): void {
    const { path, maxBytes } = this.options;
    // The path must still name the file fd 2 writes to (not one moved in its place).
    const opened = fstatSync(this.fd);
    const named = statSync(path, { throwIfNoEntry: false });
    if (!named || named.ino !== opened.ino || named.dev !== opened.dev) return;
    const source = openSync(path, 'r');
    const target = openSync(`${path}.1.tmp`, 'w', 0o600);
    try {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      for (let position = size - maxBytes; position < size;) {
        const read = readSync(source, chunk, 0, Math.min(chunk.length, size - position), position);
        if (read === 0) break;
        writeSync(target, chunk, 0, read);
        position += read;
      }
    } finally {
      closeSync(source);
      closeSync(target);
    }
    renameSync(`${path}.1.tmp`, `${path}.1`);
  }
}
