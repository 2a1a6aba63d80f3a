// uptime: seconds since boot and idle CPU seconds from <proc>/uptime, boot time (epoch seconds) from
// the btime line of <proc>/stat.
import type {
  CollectContext,
  CollectedData,
  CollectorInstance,
  CollectorType,
  HostPaths,
} from '../collector.js';
import { missingProcFile, procPath, readText, round } from './proc-files.js';
import { readUptime } from './uptime-clock.js';

/** Boot time in epoch seconds: the `btime` line of /proc/stat. */
export function readBootTime(paths: HostPaths): number {
  const path = procPath(paths, 'stat');
  const match = /^btime\s+(\d+)/m.exec(readText(path));
  if (!match) throw new Error(`cannot parse ${path}: no btime line`);
  return Number(match[1]);
}

class Uptime implements CollectorInstance {
  notEligibleReason(paths: HostPaths): string | undefined {
    return missingProcFile(paths, 'uptime', 'stat');
  }

  collect({ paths }: CollectContext): CollectedData {
    const { seconds, idleSeconds } = readUptime(paths);
    return { seconds: round(seconds), idle_seconds: round(idleSeconds), boot_time: readBootTime(paths) };
  }
}

export const uptime: CollectorType = {
  type: 'uptime',
  description: 'Seconds since boot, idle CPU seconds and boot time (epoch seconds)',
  defaultSettings: {},
  create: () => new Uptime(),
};
