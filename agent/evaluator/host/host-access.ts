// How expressions touch the host: file contents, file metadata and name lookups, each through the
// I/O gate (io-gate.ts) and the protection rules (protected-paths.ts).
//
// Only regular files are read. A FIFO, socket or device is "missing": opening a FIFO for reading
// waits for a writer, and a read of it or of a terminal waits for data, forever, on a thread of the
// pool every file read and dns.lookup of the agent shares; /dev/zero never ends; opening some
// devices has side effects of its own (/dev/watchdog arms, a tape rewinds), which the agent, as root,
// must not cause: on Linux no open() reaches one, even when the name is swapped for it mid-check.
//
// On Linux the name is resolved once, into an O_PATH descriptor: the kernel finds the file but
// does not open it (no driver's open, no FIFO wait, no side effect). Everything is judged on that
// descriptor: its fstat (a regular file?), its real path from /proc/self/fd/N (protected?), and only
// then is that same file opened, through /proc/self/fd/N, which reaches the pinned file whatever
// the name leads to by now. stat() answers from the descriptor too, so the identity that is told
// is the identity that was judged. Where there is no /proc (or no O_PATH), the name is stat'ed,
// opened non-blocking and without becoming a controlling terminal, and the opened descriptor must
// be the same regular file: reads and protection stay exact, but a name swapped between the stat and
// the open makes that open reach what it was swapped to (docs/evaluator.md says so).
import { constants, type BigIntStats } from 'node:fs';
import { lstat, open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { lookup as dnsLookup, promises as dns } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { ExpressionError } from '../errors.js';
import { IO_CALL_TIMEOUT_MS, IO_GATE_CONCURRENCY, MAX_FILE_BYTES } from '../limits.js';
import type { EvaluatorHostPaths } from '../providers.js';
import { SYSTEM_TIMERS, type Timers } from '../../shared/timers.js';
import { isFsError, orMissing } from './fs-errors.js';
import { IoGate } from './io-gate.js';
import { type Clock, ProtectedPaths, sameObject } from './protected-paths.js';

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;
/**
 * Linux's O_PATH and O_CLOEXEC (not in fs.constants; Node passes numeric flags to open(2) as they
 * are, and libuv adds O_CLOEXEC anyway). The values are those of every architecture Node runs on;
 * the probe (pinsByDescriptor) checks the kernel honours them before any is relied on.
 */
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;
/** Resolve the name to a descriptor without opening the file. */
const PIN_FLAGS = O_PATH | O_CLOEXEC;
const BIGINT = { bigint: true } as const;
/** Read sizes: the file's size rounded into these bounds (/proc files say 0, so at least this). */
const MIN_READ_BYTES = 4096;
const MAX_READ_BYTES = 1024 * 1024;

export interface HostAccessOptions {
  /** Timers for the I/O gate; tests drive them by hand. */
  timers?: Timers;
  /** When the set of protected files with other names is rebuilt (protected-paths.ts); tests drive it. */
  clock?: Clock;
  /**
   * false: never pin names with O_PATH, as on a system without it or without /proc (tests of the
   * fallback). Default: pin wherever the probe says the kernel can.
   */
  pinFiles?: boolean;
}

export class HostAccess {
  private readonly gate: IoGate;
  private readonly protectedPaths: ProtectedPaths;
  /** Whether names are pinned with O_PATH and reopened through /proc/self/fd (probed once). */
  private pinning?: Promise<boolean>;

  constructor(paths: EvaluatorHostPaths, options: HostAccessOptions = {}) {
    this.gate = new IoGate(IO_GATE_CONCURRENCY, IO_CALL_TIMEOUT_MS, options.timers ?? SYSTEM_TIMERS);
    this.protectedPaths = new ProtectedPaths(
      paths.protectedPaths,
      (call) => this.gate.run(call),
      options.clock,
    );
    if (options.pinFiles === false) this.pinning = Promise.resolve(false);
  }

  /**
   * The text of the regular file at `file` (at most MAX_FILE_BYTES, read to the end since /proc
   * files report size 0); undefined when it is missing, unreadable or not a regular file. Throws
   * an ExpressionError, revealing nothing of the content, when the file is protected.
   */
  async readFile(file: string): Promise<string | undefined> {
    this.refuseByName(file);
    if (!(await this.pinsByDescriptor())) return this.readFileByName(file);
    return this.withPinned(file, true, async (pinned, stats, realPath) => {
      if (!stats.isFile()) return undefined;
      await this.refuseProtected(file, realPath, stats);
      // The pinned file itself, not whatever `file` names by now.
      const handle = await this.fsCall(() => open(procFd(pinned), OPEN_FLAGS));
      if (!handle) return undefined;
      try {
        const opened = await this.fsCall(() => handle.stat(BIGINT));
        if (!opened?.isFile() || !sameObject(opened, stats)) return undefined;
        return await this.readAll(handle, opened.size);
      } finally {
        await closeQuietly(handle);
      }
    });
  }

  /**
   * stat (following links) or lstat of `file`; undefined when it does not exist or cannot be
   * read. Throws an ExpressionError when it is protected (even its existence is not told).
   */
  async stat(file: string, followLinks: boolean): Promise<BigIntStats | undefined> {
    this.refuseByName(file);
    if (!(await this.pinsByDescriptor())) return this.statByName(file, followLinks);
    return this.withPinned(file, followLinks, async (_pinned, stats, realPath) => {
      await this.refuseProtected(file, realPath, stats);
      return stats;
    });
  }

  /** The first IPv4 address of `host` from the system resolver, or '' when it does not resolve. */
  async lookupIpv4(host: string): Promise<string> {
    try {
      return (await this.gate.run(() => dns.lookup(host, { family: 4 }))).address;
    } catch (error) {
      if (isFsError(error)) return '';
      throw error;
    }
  }

  /** A `lookup` for net.connect: a socket's name resolution goes through the gate too. */
  readonly socketLookup: LookupFunction = (hostname, options, callback) => {
    this.gate
      .run(
        () =>
          new Promise<void>((done) => {
            dnsLookup(hostname, options, (error, address, family) => {
              callback(error, address, family);
              done();
            });
          }),
      )
      .catch((error: unknown) => callback(error as NodeJS.ErrnoException, '', 0));
  };

  /** Calls in flight and waiting at the gate (tests, diagnostics). */
  ioLoad(): { running: number; waiting: number } {
    return this.gate.load();
  }

  private refuseByName(file: string): void {
    const reason = this.protectedPaths.nameRefusal(file);
    if (reason !== undefined) throw refused(file, reason);
  }

  private async refuseProtected(file: string, realPath: string, stats: BigIntStats): Promise<void> {
    const reason = await this.protectedPaths.refusal(realPath, stats);
    if (reason !== undefined) throw refused(file, reason);
  }

  /**
   * Resolves `file` once into an O_PATH descriptor (O_NOFOLLOW: the link itself) and calls `use`
   * with it, its fstat and its real path as the kernel names it; undefined when the name does not
   * resolve. Nothing is opened: a FIFO or a device is described, never entered.
   */
  private async withPinned<T>(
    file: string,
    followLinks: boolean,
    use: (pinned: FileHandle, stats: BigIntStats, realPath: string) => Promise<T | undefined>,
  ): Promise<T | undefined> {
    const flags = PIN_FLAGS | (followLinks ? 0 : constants.O_NOFOLLOW);
    const pinned = await this.fsCall(() => open(file, flags));
    if (!pinned) return undefined;
    try {
      const stats = await this.fsCall(() => pinned.stat(BIGINT));
      if (!stats) return undefined;
      const realPath = await this.fsCall(() => readlink(procFd(pinned)));
      if (!realPath?.startsWith('/')) return undefined;
      return await use(pinned, stats, realPath);
    } finally {
      await closeQuietly(pinned);
    }
  }

  /**
   * Whether this kernel pins names with O_PATH and reopens them through /proc/self/fd: `/` pinned
   * with O_PATH|O_WRONLY must succeed (O_PATH ignores the access mode; a plain open of a directory
   * for writing fails), read back as `/`, and reopen for reading. Asked once.
   */
  private pinsByDescriptor(): Promise<boolean> {
    this.pinning ??= (async () => {
      if (process.platform !== 'linux') return false;
      try {
        const root = await this.gate.run(() => open('/', PIN_FLAGS | constants.O_WRONLY));
        try {
          if ((await this.gate.run(() => readlink(procFd(root)))) !== '/') return false;
          const reopened = await this.gate.run(() => open(procFd(root), constants.O_RDONLY));
          await closeQuietly(reopened);
          return true;
        } finally {
          await closeQuietly(root);
        }
      } catch (error) {
        if (isFsError(error)) return false;
        // The gate gave up (its calls are stuck): ask again next time.
        this.pinning = undefined;
        throw error;
      }
    })();
    return this.pinning;
  }

  /** Without O_PATH or /proc: stat the name, open it non-blocking, and the two must agree. */
  private async readFileByName(file: string): Promise<string | undefined> {
    const named = await this.fsCall(() => stat(file, BIGINT));
    if (!named?.isFile()) return undefined;
    const handle = await this.fsCall(() => open(file, OPEN_FLAGS));
    if (!handle) return undefined;
    try {
      const opened = await this.fsCall(() => handle.stat(BIGINT));
      // Replaced between the stat and the open (a rename, a link re-pointed): read nothing.
      if (!opened?.isFile() || !sameObject(opened, named)) return undefined;
      const realPath = await this.openedPath(handle, file);
      if (realPath === undefined) return undefined;
      await this.refuseProtected(file, realPath, opened);
      return await this.readAll(handle, opened.size);
    } finally {
      await closeQuietly(handle);
    }
  }

  /** Without O_PATH or /proc: the stat and the real path come from two lookups of the name. */
  private async statByName(file: string, followLinks: boolean): Promise<BigIntStats | undefined> {
    const stats = await this.fsCall(() => (followLinks ? stat(file, BIGINT) : lstat(file, BIGINT)));
    if (!stats) return undefined;
    // lstat describes the link itself: its directory's real path plus its own name.
    const realPath = await this.fsCall(async () =>
      followLinks ? realpath(file) : join(await realpath(dirname(file)), basename(file)),
    );
    if (realPath === undefined) return undefined;
    await this.refuseProtected(file, realPath, stats);
    return stats;
  }

  /** The real path of what `handle` opened, as the kernel names it; realpath() where there is no /proc. */
  private async openedPath(handle: FileHandle, file: string): Promise<string | undefined> {
    const fromProc = await this.fsCall(() => readlink(procFd(handle)));
    if (fromProc?.startsWith('/')) return fromProc;
    return this.fsCall(() => realpath(file));
  }

  private async readAll(handle: FileHandle, sizeBytes: bigint): Promise<string | undefined> {
    const chunkBytes = Math.min(Math.max(Number(sizeBytes) + 1, MIN_READ_BYTES), MAX_READ_BYTES);
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < MAX_FILE_BYTES) {
      const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, MAX_FILE_BYTES - total));
      const read = await this.fsCall(() => handle.read(buffer, 0, buffer.length, null));
      // A read error (EIO, ...) midway: the file counts as unreadable, as before the first byte.
      if (read === undefined) return undefined;
      if (read.bytesRead === 0) break;
      chunks.push(buffer.subarray(0, read.bytesRead));
      total += read.bytesRead;
    }
    return Buffer.concat(chunks, total).toString('utf8');
  }

  /** One file-system call through the gate; an operating-system error is "missing". */
  private fsCall<T>(call: () => Promise<T>): Promise<T | undefined> {
    return orMissing(this.gate.run(call));
  }
}

/** The name through which the kernel reaches what `handle` holds (a "magic link", not a path lookup). */
function procFd(handle: FileHandle): string {
  return `/proc/self/fd/${handle.fd}`;
}

/** Not through the gate: a close must never wait behind other calls and leak the descriptor. */
async function closeQuietly(handle: FileHandle): Promise<void> {
  await handle.close().catch(() => undefined);
}

/** The refusal an expression sees: the path as named and why, never anything read from it. */
function refused(file: string, reason: string): ExpressionError {
  return new ExpressionError(
    `refused: ${file} ${reason}; expressions may not read the agent's own files, keys or any process's environment (docs/evaluator.md)`,
  );
}
