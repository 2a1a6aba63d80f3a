// processes: how many processes are in each state, and their threads, counted from <proc>/[pid]/stat
// as top does: running (R), stopped (T, t), zombie (Z), and sleeping for every other state (S, D, I, ...);
// disk_sleep (D, uninterruptible: usually waiting on I/O) is also counted apart. Kernel threads count.
//
// Only the stat files are read, synchronously (a few microseconds each: see proc-files.ts) and parsed as
// bytes, yielding to the event loop every YIELD_EVERY processes so a host with thousands never blocks
// the agent for long.
import { readdirSync } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type {
  CollectContext,
  CollectedData,
  CollectorInstance,
  CollectorType,
  HostPaths,
} from '../collector.js';
import { errorCode, missingProcFile, readIntoSharedBuffer } from './proc-files.js';

const YIELD_EVERY = 256;

interface ProcessCounts {
  total: number;
  running: number;
  sleeping: number;
  disk_sleep: number;
  zombie: number;
  stopped: number;
  threads: number;
}

const SPACE = 0x20;
const CLOSE_PAREN = 0x29;
const ZERO = 0x30;

/**
 * Adds one /proc/<pid>/stat line ("pid (comm) state ppid ... num_threads ...") to the counts, parsing
 * the bytes in place: no string per process, so a host with thousands makes no garbage for the GC.
 */
function countStatBytes(bytes: Uint8Array, length: number, counts: ProcessCounts): void {
  // comm may hold spaces and parentheses: the fields start after the last ')'.
  let close = length - 1;
  while (close >= 0 && bytes[close] !== CLOSE_PAREN) close--;
  const statePos = close + 2;
  if (close < 0 || statePos >= length) return;
  const state = String.fromCharCode(bytes[statePos]!);
  counts.total++;
  if (state === 'R') counts.running++;
  else if (state === 'Z') counts.zombie++;
  else if (state === 'T' || state === 't') counts.stopped++;
  else {
    counts.sleeping++;
    if (state === 'D') counts.disk_sleep++;
  }
  // num_threads is the 18th field after ')' (state is the 1st): skip 17 spaces, read the digits.
  let pos = statePos;
  for (let spaces = 0; spaces < 17 && pos < length; pos++) if (bytes[pos] === SPACE) spaces++;
  let threads = 0;
  for (; pos < length && bytes[pos]! >= ZERO && bytes[pos]! <= ZERO + 9; pos++)
    threads = threads * 10 + bytes[pos]! - ZERO;
  counts.threads += threads || 1;
}

function noProcesses(): ProcessCounts {
  return { total: 0, running: 0, sleeping: 0, disk_sleep: 0, zombie: 0, stopped: 0, threads: 0 };
}

/** Counts the processes of `pids` from index `from`, at most YIELD_EVERY of them; returns where it stopped. */
function countSome(proc: string, pids: string[], from: number, counts: ProcessCounts): number {
  const end = Math.min(pids.length, from + YIELD_EVERY);
  for (let i = from; i < end; i++) {
    try {
      const { buffer, length } = readIntoSharedBuffer(`${proc}/${pids[i]}/stat`);
      countStatBytes(buffer, length, counts);
    } catch {
      // The process exited between the listing and the read.
    }
  }
  return end;
}

class Processes implements CollectorInstance {
  notEligibleReason(paths: HostPaths): string | undefined {
    return missingProcFile(paths, 'stat');
  }

  /** Synchronous on a host of up to YIELD_EVERY processes (most); beyond, yields between batches. */
  collect({ paths, signal }: CollectContext): CollectedData | Promise<CollectedData> {
    let entries: string[];
    try {
      entries = readdirSync(paths.proc);
    } catch (err) {
      throw new Error(`cannot read ${paths.proc}: ${errorCode(err)}`, { cause: err });
    }
    const pids = entries.filter((entry) => {
      const first = entry.charCodeAt(0);
      return first >= 48 && first <= 57; // only the numeric (pid) entries
    });
    const counts = noProcesses();
    const next = countSome(paths.proc, pids, 0, counts);
    if (next === pids.length) return { ...counts };
    return (async () => {
      for (let from = next; from < pids.length;) {
        await yieldToLoop();
        signal.throwIfAborted();
        from = countSome(paths.proc, pids, from, counts);
      }
      return { ...counts };
    })();
  }
}

export const processes: CollectorType = {
  type: 'processes',
  description: 'Processes per state (running, sleeping, zombie, stopped) and threads, from /proc/[pid]/stat',
  defaultSettings: {},
  create: () => new Processes(),
};
