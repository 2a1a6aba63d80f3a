// kernelstats: scheduler activity from <proc>/stat: context switches, forks and interrupts per second
// (since the previous run; the first run since boot), and the processes running and blocked on I/O now.
import type {
  CollectContext,
  CollectedData,
  CollectorInstance,
  CollectorType,
  HostPaths,
} from '../collector.js';
import { missingProcFile, procPath, readText } from './proc-files.js';
import { RateTracker } from './rates.js';
import { readUptime } from './uptime-clock.js';

interface KernelCounters {
  ctxt: number;
  forks: number;
  interrupts: number;
  procsRunning: number;
  procsBlocked: number;
}

function parseKernelCounters(text: string, path: string): KernelCounters {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0 || line.startsWith('cpu')) continue;
    const key = line.slice(0, space);
    // intr's first number is the total; the per-IRQ columns after it are not needed.
    const first = line.slice(space + 1).trimStart();
    const end = first.indexOf(' ');
    values.set(key, Number(end < 0 ? first : first.slice(0, end)));
  }
  const get = (key: string): number => {
    const value = values.get(key);
    if (value === undefined || !Number.isFinite(value))
      throw new Error(`cannot parse ${path}: no ${key} line`);
    return value;
  };
  return {
    ctxt: get('ctxt'),
    forks: get('processes'),
    interrupts: get('intr'),
    procsRunning: get('procs_running'),
    procsBlocked: get('procs_blocked'),
  };
}

class KernelStats implements CollectorInstance {
  private readonly rates = new RateTracker();

  notEligibleReason(paths: HostPaths): string | undefined {
    return missingProcFile(paths, 'stat', 'uptime');
  }

  collect({ paths }: CollectContext): CollectedData {
    const path = procPath(paths, 'stat');
    const counters = parseKernelCounters(readText(path), path);
    const { seconds } = readUptime(paths);
    const sample = new Map([['kernel', [counters.ctxt, counters.forks, counters.interrupts]]]);
    const [ctxt, forks, interrupts] = this.rates.next(seconds, sample).get('kernel')!;
    return {
      ctxt_s: ctxt!,
      forks_s: forks!,
      interrupts_s: interrupts!,
      procs_running: counters.procsRunning,
      procs_blocked: counters.procsBlocked,
    };
  }
}

export const kernelstats: CollectorType = {
  type: 'kernelstats',
  description: 'Context switches, forks and interrupts per second; processes running and blocked now',
  defaultSettings: {},
  create: () => new KernelStats(),
};
