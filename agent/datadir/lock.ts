// One agent per data dir. The lock is an abstract-namespace unix socket named after the data dir's
// device and inode: binding it is atomic, and the kernel releases it when the process dies, even on
// SIGKILL, so a crash never leaves a stale lock behind. The pidfile next to it is information
// (for operators, init scripts and error messages), not the lock itself.
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';

export const PIDFILE_NAME = 'opsbro.pid';

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
    private readonly server: Server,
    readonly pidfile: string,
    /** The pid a previous agent left in the pidfile when it did not stop cleanly. */
    readonly stalePid: number | undefined,
  ) {}

  static async acquire(dataDir: string): Promise<DataDirLock> {
    const pidfile = join(dataDir, PIDFILE_NAME);
    const server = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ path: lockName(dataDir), exclusive: true }, () => resolve());
      });
    } catch (error) {
      server.close();
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new DataDirLockedError(dataDir, readPid(pidfile));
      }
      throw error;
    }
    server.unref();
    const previous = readPid(pidfile);
    writeFileSync(pidfile, `${process.pid}\n`, { mode: 0o644 });
    return new DataDirLock(server, pidfile, previous !== process.pid ? previous : undefined);
  }

  release(): void {
    if (readPid(this.pidfile) === process.pid) rmSync(this.pidfile, { force: true });
    this.server.close();
  }
}

function lockName(dataDir: string): string {
  // Device and inode, not the path: two paths to one directory share a lock.
  const { dev, ino } = statSync(dataDir);
  const digest = createHash('sha256').update(`${dev}:${ino}`).digest('hex').slice(0, 32);
  return `\0opsbro-datadir-${digest}`;
}

export function readPid(pidfile: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(pidfile, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
