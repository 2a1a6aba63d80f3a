// cpustats: share of CPU time per state, for all CPUs (`cpuall`) and each (`cpu0`, `cpu1`, ...), from
// the jiffy counters of <proc>/stat. Percent of the interval since the previous run; the first run
// reports the shares since boot. `{collector.cpustats.cpuall.%idle}` is what the linux pack checks.
import type {
  CollectContext,
  CollectedData,
  CollectorInstance,
  CollectorType,
  HostPaths,
} from '../collector.js';
import { missingProcFile, procPath, readText, round } from './proc-files.js';
import { named } from './rates.js';

/** The states reported, in /proc/stat's column order (guest and guest_nice are already in user/nice). */
const CPU_STATES = ['%user', '%nice', '%system', '%idle', '%iowait', '%irq', '%softirq', '%steal'];

/** Jiffies per state of each `cpu*` line, keyed `cpuall` (the `cpu` line), `cpu0`, ... */
function parseCpuLines(text: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu')) continue;
    const fields = line.trim().split(/\s+/);
    const name = fields[0] === 'cpu' ? 'cpuall' : fields[0]!;
    // Old kernels have fewer columns (no steal before 2.6.11): missing ones count as 0.
    out.set(
      name,
      CPU_STATES.map((_, i) => Number(fields[i + 1] ?? 0) || 0),
    );
  }
  return out;
}

/**
 * Percent per state of the jiffies between two samples (before undefined: since boot); undefined when
 * no jiffy passed (two runs within one tick, or an offline CPU).
 */
export function cpuPercents(
  before: readonly number[] | undefined,
  after: readonly number[],
): number[] | undefined {
  // A counter may step back (iowait does, on some kernels): a negative delta counts as 0.
  const deltas = after.map((v, i) => Math.max(0, v - (before?.[i] ?? 0)));
  const total = deltas.reduce((a, b) => a + b, 0);
  return total > 0 ? deltas.map((d) => round((d / total) * 100)) : undefined;
}

class CpuStats implements CollectorInstance {
  /**
   * Per CPU: its jiffies at the last run that saw one pass (the next interval is measured from them)
   * and the percents of that interval (reported again while no jiffy passes).
   */
  private readonly last = new Map<string, { jiffies: number[]; percents: number[] }>();

  notEligibleReason(paths: HostPaths): string | undefined {
    return missingProcFile(paths, 'stat');
  }

  collect({ paths }: CollectContext): CollectedData {
    const path = procPath(paths, 'stat');
    const current = parseCpuLines(readText(path));
    if (!current.has('cpuall')) throw new Error(`cannot parse ${path}: no "cpu" line`);
    const out: CollectedData = {};
    for (const [name, jiffies] of current) {
      const before = this.last.get(name);
      const fresh = cpuPercents(before?.jiffies, jiffies);
      // No jiffy since the previous run: its sample and figures are kept.
      if (fresh) this.last.set(name, { jiffies, percents: fresh });
      out[name] = named(CPU_STATES, fresh ?? before?.percents ?? CPU_STATES.map(() => 0));
    }
    // CPUs gone offline are forgotten.
    for (const name of this.last.keys()) if (!current.has(name)) this.last.delete(name);
    return out;
  }
}

export const cpustats: CollectorType = {
  type: 'cpustats',
  description: 'CPU time per state (%user %system %idle %iowait ...), all CPUs and each, from /proc/stat',
  defaultSettings: {},
  create: () => new CpuStats(),
};
