// CPU time and RSS of a process and all its descendants, from /proc/<pid>/stat (Linux).
//
// CPU is utime+stime+cutime+cstime summed over the live tree: a child that exits and is reaped moves its
// time into its parent's cutime/cstime, so the sum stays continuous as plugins come and go (netdata's
// plugins, a check's script). Clock ticks (USER_HZ, 10 ms) are fine over a window of minutes.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

function getconf(name: string, fallback: number): number {
  try {
    const value = Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim());
    return value > 0 ? value : fallback;
  } catch {
    return fallback;
  }
}

export const CLOCK_TICKS_PER_S = getconf('CLK_TCK', 100);
const PAGE_BYTES = getconf('PAGESIZE', 4096);

interface ProcStat {
  pid: number;
  ppid: number;
  /** Start time in ticks since boot: with the pid, identifies the process (pids are reused). */
  startTicks: number;
  cpuTicks: number;
  rssBytes: number;
}

function readStat(pid: number): ProcStat | undefined {
  let line: string;
  try {
    line = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined; // exited
  }
  // After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  // cutime cstime priority nice threads itrealvalue starttime vsize rss
  const f = line.slice(line.lastIndexOf(')') + 2).split(' ');
  const n = (i: number): number => Number(f[i]);
  return {
    pid,
    ppid: n(1),
    startTicks: n(19),
    cpuTicks: n(11) + n(12) + n(13) + n(14),
    rssBytes: n(21) * PAGE_BYTES,
  };
}

/** A process identity that survives pid reuse. */
export interface ProcessId {
  pid: number;
  startTicks: number;
}

export interface TreeSample {
  cpuSeconds: number;
  rssBytes: number;
  /** Every process of the tree at this instant, root first. */
  members: ProcessId[];
}

/** One sample of the tree rooted at `rootPid`; undefined when the root has exited. */
export function sampleTree(rootPid: number): TreeSample | undefined {
  const root = readStat(rootPid);
  if (!root) return undefined;
  const children = new Map<number, ProcStat[]>();
  for (const entry of readdirSync('/proc')) {
    const first = entry.charCodeAt(0);
    if (first < 48 || first > 57) continue;
    const stat = readStat(Number(entry));
    if (!stat) continue;
    const siblings = children.get(stat.ppid);
    if (siblings) siblings.push(stat);
    else children.set(stat.ppid, [stat]);
  }
  const members: ProcStat[] = [root];
  for (let i = 0; i < members.length; i++) members.push(...(children.get(members[i]!.pid) ?? []));
  return {
    cpuSeconds: members.reduce((sum, p) => sum + p.cpuTicks, 0) / CLOCK_TICKS_PER_S,
    rssBytes: members.reduce((sum, p) => sum + p.rssBytes, 0),
    members: members.map(({ pid, startTicks }) => ({ pid, startTicks })),
  };
}

/** Whether this exact process (pid and start time) still runs. */
export function stillRunning(id: ProcessId): boolean {
  const stat = readStat(id.pid);
  return stat !== undefined && stat.startTicks === id.startTicks;
}

/**
 * Every process seen in a measured tree (pid and start time), so that whatever outlives its parent
 * (a plugin, a Nagios worker after its daemon was SIGKILLed) is stopped by pid at the end; a pid
 * reused since by another process is left alone.
 */
export class SeenProcesses {
  private readonly seen = new Map<string, ProcessId>();

  /** Remembers the sample's processes; returns the sample. */
  remember(sample: TreeSample | undefined): TreeSample | undefined {
    for (const id of sample?.members ?? []) this.seen.set(`${id.pid}:${id.startTicks}`, id);
    return sample;
  }

  /** SIGKILLs every remembered process that still runs (synchronous: usable on exit). */
  killLeftovers(): void {
    for (const id of this.seen.values()) {
      if (id.pid === process.pid || !stillRunning(id)) continue;
      try {
        process.kill(id.pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
  }
}
