// One agent per data dir. The lock is flock(2) on <data-dir>/agent.lock, inside the 0700 data dir
// so no other user can touch it. Node has no flock, so util-linux's `flock` (Essential in Debian)
// holds it for us, running `cat` on a pipe from the agent: when the agent dies, even by SIGKILL,
// the pipe closes, `cat` and `flock` exit, and the kernel releases the lock. No stale lock is
// possible. The helper runs in its own process group so a Ctrl-C meant for the agent does not
// release the lock while the agent is still stopping. The pidfile is information (operators,
// init scripts, error messages), not the lock.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const PIDFILE_NAME = 'opsbro.pid';
const LOCKFILE_NAME = 'agent.lock';
/** Exit code the helper uses when another process holds the lock. */
const LOCK_HELD_EXIT_CODE = 75;

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly ownerPid: number | undefined,
  ) {
    super(
      `data dir ${dataDir} is in use by another running agent` +
        (ownerPid ? ` (pid ${ownerPid})` : '') +
        '; stop it first (`opsbro agent stop`) or give this agent its own --data-dir',
    );
    this.name = 'DataDirLockedError';
  }
}

export class DataDirLock {
  private constructor(
    private readonly holder: ChildProcess,
    readonly pidfile: string,
    /** The pid a previous agent left in the pidfile when it did not stop cleanly. */
    readonly stalePid: number | undefined,
  ) {}

  static async acquire(dataDir: string): Promise<DataDirLock> {
    const pidfile = join(dataDir, PIDFILE_NAME);
    const holder = spawn(
      'flock',
      [
        '--nonblock',
        '--conflict-exit-code',
        String(LOCK_HELD_EXIT_CODE),
        join(dataDir, LOCKFILE_NAME),
        'sh',
        '-c',
        'echo locked; exec cat',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'], detached: true },
    );
    // 'locked', 'held', or why flock could not run.
    const outcome = await new Promise<string>((resolve) => {
      let stderr = '';
      holder.stdout.once('data', () => resolve('locked'));
      holder.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      holder.once('error', (error) => resolve(`cannot run flock (util-linux): ${error.message}`));
      holder.once('exit', (code) =>
        resolve(code === LOCK_HELD_EXIT_CODE ? 'held' : `flock failed: ${stderr.trim() || `exit ${code}`}`),
      );
    });
    if (outcome === 'held') throw new DataDirLockedError(dataDir, readPid(pidfile));
    if (outcome !== 'locked') {
      holder.kill('SIGKILL');
      throw new Error(`cannot lock data dir ${dataDir}: ${outcome}`);
    }
    holder.removeAllListeners();
    holder.unref();
    for (const stream of [holder.stdout, holder.stderr]) {
      (stream as NodeJS.ReadableStream & { unref?: () => void }).unref?.();
      stream.resume();
    }
    (holder.stdin as NodeJS.WritableStream & { unref?: () => void }).unref?.();
    const previous = readPid(pidfile);
    writeFileNoFollow(pidfile, `${process.pid}\n`);
    return new DataDirLock(holder, pidfile, previous !== process.pid ? previous : undefined);
  }

  release(): void {
    if (readPid(this.pidfile) === process.pid) rmSync(this.pidfile, { force: true });
    this.holder.stdin?.end();
    this.holder.kill('SIGTERM');
  }
}

export function readPid(pidfile: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(pidfile, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Writes a file, refusing to follow a symlink planted in its place. */
function writeFileNoFollow(path: string, content: string, mode = 0o644): void {
  const fd = openSync(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    mode,
  );
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}
