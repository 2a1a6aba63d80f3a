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
import { missingProcFile, procPath, readText, round, settle } from './proc-files.js';

/** The states reported, in /proc/stat's column order (guest and guest_nice are already in user/nice). */
export const CPU_STATES = ['%user', '%nice', '%system', '%idle', '%iowait', '%irq', '%softirq', '%steal'];

/** Jiffies per state of each `cpu*` line, keyed `cpuall` (the `cpu` line), `cpu0`, ... */
export function parseCpuLines(text: string): Map<string, number[]> {
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
  /** Jiffies per CPU at the previous run. */
  private previous = new Map<string, number[]>();
  /** Percents per CPU reported last, reused for a CPU with no jiffy since. */
  private lastPercents = new Map<string, number[]>();

  notEligibleReason(paths: HostPaths): string | undefined {
    return missingProcFile(paths, 'stat');
  }

  collect({ paths }: CollectContext): Promise<CollectedData> {
    return settle(() => this.sample(paths));
  }

  private sample(paths: HostPaths): CollectedData {
    const path = procPath(paths, 'stat');
    const current = parseCpuLines(readText(path));
    if (!current.has('cpuall')) throw new Error(`cannot parse ${path}: no "cpu" line`);
    const out: CollectedData = {};
    for (const [name, jiffies] of current) {
      const fresh = cpuPercents(this.previous.get(name), jiffies);
      // No jiffy since the previous run: keep its sample (the next interval is measured from it) and figures.
      if (fresh) {
        this.previous.set(name, jiffies);
        this.lastPercents.set(name, fresh);
      }
      const percents = fresh ?? this.lastPercents.get(name) ?? CPU_STATES.map(() => 0);
      out[name] = Object.fromEntries(CPU_STATES.map((state, i) => [state, percents[i]!]));
    }
    // CPUs gone offline are forgotten.
    for (const name of this.previous.keys()) if (!current.has(name)) this.previous.delete(name);
    return out;
  }
}

export const cpustats: CollectorType = {
  type: 'cpustats',
  description: 'CPU time per state (%user %system %idle %iowait ...), all CPUs and each, from /proc/stat',
  defaultSettings: {},
  create: () => new CpuStats(),
};
