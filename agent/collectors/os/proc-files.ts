// Reading the host's /proc and /sys files, shared by the OS collectors.
//
// These files are generated in memory by the kernel when read: a synchronous read costs a few
// microseconds and never waits on a disk, while fs/promises' readFile pays an open/read/close round
// trip through libuv's thread pool for each (9-45x the CPU of the read below, 5-22x readFileSync's).
// So /proc files are read synchronously, into one reused buffer (readFileSync allocates 64 KiB per
// call for these size-0 files: 1.5-2.2x the CPU per read). Only statfs (which can hang on a network
// filesystem) goes through the thread pool, with a timeout (diskusage).
// Measured: process.cpuUsage over 10,000 reads each of /proc/stat and /proc/<pid>/stat, Node 20, 2 vCPUs.
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { CollectedData, CollectorInstance, HostPaths } from '../collector.js';
import { messageOf } from '../../shared/errors.js';

/** The buffer every read shares (each read is synchronous, so nothing interleaves); grows as needed. */
const SHARED_BUFFER_BYTES = 16 * 1024;
/**
 * Past this, a grown buffer is let go at the next read: one huge /proc/net/tcp (a host with 100,000
 * sockets: 15 MB) must not stay allocated for the agent's lifetime.
 */
const KEPT_BUFFER_BYTES = 1024 * 1024;
let readBuffer = Buffer.allocUnsafe(SHARED_BUFFER_BYTES);

/**
 * Reads a whole file into the shared buffer and returns it with the length read: valid until the next
 * read. For hot loops that parse bytes without making a string (`processes`). Throws the fs error as is.
 */
export function readIntoSharedBuffer(path: string): { buffer: Buffer; length: number } {
  if (readBuffer.length > KEPT_BUFFER_BYTES) readBuffer = Buffer.allocUnsafe(SHARED_BUFFER_BYTES);
  const fd = openSync(path, 'r');
  try {
    let length = 0;
    for (;;) {
      if (length === readBuffer.length) {
        const bigger = Buffer.allocUnsafe(readBuffer.length * 2);
        readBuffer.copy(bigger, 0, 0, length);
        readBuffer = bigger;
      }
      const n = readSync(fd, readBuffer, length, readBuffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    return { buffer: readBuffer, length };
  } finally {
    closeSync(fd);
  }
}

/**
 * The texts read in the current turn of the event loop, forgotten at its end (a microtask). The
 * collectors of one interval run in one turn (interval-clock.ts), and several read the same file:
 * /proc/stat (cpustats, kernelstats, uptime) and /proc/uptime (the rate collectors' clock). They
 * share one read, one snapshot of the same instant, instead of asking the kernel to generate the
 * file again microseconds later.
 */
let readThisTurn: Map<string, string> | undefined;

/** A whole file as latin1 text (the kernel's output is ASCII); throws the fs error (ENOENT...) as is. */
function readFileFast(path: string): string {
  const cached = readThisTurn?.get(path);
  if (cached !== undefined) return cached;
  const { buffer, length } = readIntoSharedBuffer(path);
  const text = buffer.toString('latin1', 0, length);
  if (!readThisTurn) {
    readThisTurn = new Map();
    queueMicrotask(() => (readThisTurn = undefined));
  }
  readThisTurn.set(path, text);
  return text;
}

/** Reads a whole file as text; throws "cannot read <path>: <code>" (e.g. ENOENT) when it cannot. */
export function readText(path: string): string {
  try {
    return readFileFast(path);
  } catch (err) {
    throw new Error(`cannot read ${path}: ${errorCode(err)}`, { cause: err });
  }
}

/** Like readText, but undefined when the file does not exist (optional files such as /proc/net/tcp6). */
export function readOptionalText(path: string): string | undefined {
  try {
    return readFileFast(path);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${errorCode(err)}`, { cause: err });
  }
}

/** The errno code of a failed fs call (ENOENT, EACCES...), or the message when there is none. */
export function errorCode(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return messageOf(err);
}

/** `<proc>/<relative>`, e.g. procPath(paths, 'net/dev'). */
export function procPath(paths: HostPaths, relative: string): string {
  return join(paths.proc, relative);
}

/**
 * The notEligibleReason of a collector that needs these /proc files: undefined when they all exist,
 * else which one is missing.
 */
export function missingProcFile(paths: HostPaths, ...relatives: string[]): string | undefined {
  for (const relative of relatives) {
    const path = procPath(paths, relative);
    if (!existsSync(path)) return `${path} does not exist (not a Linux host, or /proc is not mounted there)`;
  }
  return undefined;
}

/**
 * Parses "Key: value [kB]" lines (/proc/meminfo): numbers keyed by the text before the colon; a "kB"
 * suffix is turned into bytes. Lines without a numeric value are skipped.
 */
export function parseKeyValueLines(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    const value = Number(fields[0]);
    if (fields[0] === '' || !Number.isFinite(value)) continue;
    out[line.slice(0, colon).trim()] = fields[1] === 'kB' ? value * 1024 : value;
  }
  return out;
}

/** Parses KEY=value lines (os-release): quotes removed, comments and blank lines skipped. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const eq = line.indexOf('=');
    if (line.startsWith('#') || eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2)
      value = value.slice(1, -1).replace(/\\(["'$`\\])/g, '$1');
    out[line.slice(0, eq)] = value;
  }
  return out;
}

/** Rounds to `digits` decimals (collectors report 2: more is noise at a 10 s interval). */
export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/**
 * The instance of a stateless collector of one /proc file (loadavg, meminfo): eligible when the file
 * exists; each run parses it afresh (`path` is for parse errors).
 */
export function procFileCollector(
  relative: string,
  parse: (text: string, path: string) => CollectedData,
): CollectorInstance {
  return {
    notEligibleReason: (paths) => missingProcFile(paths, relative),
    collect: ({ paths }) => {
      const path = procPath(paths, relative);
      return parse(readText(path), path);
    },
  };
}
