// How expressions touch the host: file contents, file metadata and name lookups, each through the
// I/O gate (io-gate.ts) and the protection rules (protected-paths.ts).
//
// Only regular files are read. A FIFO, socket or device is "missing": opening a FIFO for reading
// waits for a writer, and a read of it or of a terminal waits for data, forever, on a thread of the
// pool every file read and dns.lookup of the agent shares; /dev/zero never ends. So the path is
// stat'ed first (no open of anything but a regular file), opened non-blocking and without becoming
// a controlling terminal, and the opened descriptor is stat'ed again and must still be that same
// regular file. Its real path comes from the descriptor itself, so the protection check judges
// the file actually opened, not the name the expression wrote.
import { constants, type BigIntStats } from 'node:fs';
import { lstat, open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { lookup as dnsLookup, promises as dns } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { ExpressionError } from '../errors.js';
import { IO_CALL_TIMEOUT_MS, IO_GATE_CONCURRENCY, MAX_FILE_BYTES } from '../limits.js';
import type { EvaluatorHostPaths } from '../providers.js';
import { SYSTEM_TIMERS, type Timers } from '../timers.js';
import { isFsError, orMissing } from './fs-errors.js';
import { IoGate } from './io-gate.js';
import { ProtectedPaths } from './protected-paths.js';

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;
const BIGINT = { bigint: true } as const;
/** Read sizes: the file's size rounded into these bounds (/proc files say 0, so at least this). */
const MIN_READ_BYTES = 4096;
const MAX_READ_BYTES = 1024 * 1024;

export class HostAccess {
  private readonly gate: IoGate;
  private readonly protectedPaths: ProtectedPaths;

  constructor(paths: EvaluatorHostPaths, timers: Timers = SYSTEM_TIMERS) {
    this.gate = new IoGate(IO_GATE_CONCURRENCY, IO_CALL_TIMEOUT_MS, timers);
    this.protectedPaths = new ProtectedPaths(paths.protectedPaths, (call) => this.gate.run(call));
  }

  /**
   * The text of the regular file at `file` (at most MAX_FILE_BYTES, read to the end since /proc
   * files report size 0); undefined when it is missing, unreadable or not a regular file. Throws
   * an ExpressionError, revealing nothing of the content, when the file is protected.
   */
  async readFile(file: string): Promise<string | undefined> {
    this.refuseByName(file);
    const named = await this.fsCall(() => stat(file, BIGINT));
    if (!named?.isFile()) return undefined;
    const handle = await this.fsCall(() => open(file, OPEN_FLAGS));
    if (!handle) return undefined;
    try {
      const opened = await this.fsCall(() => handle.stat(BIGINT));
      // Replaced between the stat and the open (a rename, a link re-pointed): read nothing.
      if (!opened?.isFile() || opened.dev !== named.dev || opened.ino !== named.ino) return undefined;
      const realPath = await this.openedPath(handle, file);
      if (realPath === undefined) return undefined;
      await this.refuseProtected(file, realPath, opened);
      return await this.readAll(handle, opened.size);
    } finally {
      // Not through the gate: a close must never wait behind other calls and leak the descriptor.
      await handle.close().catch(() => undefined);
    }
  }

  /**
   * stat (following links) or lstat of `file`; undefined when it does not exist or cannot be
   * read. Throws an ExpressionError when it is protected (even its existence is not told).
   */
  async stat(file: string, followLinks: boolean): Promise<BigIntStats | undefined> {
    this.refuseByName(file);
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

  /** The real path of what `handle` opened, as the kernel names it; realpath() where there is no /proc. */
  private async openedPath(handle: FileHandle, file: string): Promise<string | undefined> {
    const fromProc = await this.fsCall(() => readlink(`/proc/self/fd/${handle.fd}`));
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

/** The refusal an expression sees: the path as named and why, never anything read from it. */
function refused(file: string, reason: string): ExpressionError {
  return new ExpressionError(
    `refused: ${file} ${reason}; expressions may not read the agent's own files, keys or any process's environment (docs/evaluator.md)`,
  );
}
