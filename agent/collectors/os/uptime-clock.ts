// The clock every rate is computed against: <proc>/uptime, seconds since boot (CLOCK_BOOTTIME, 10 ms
// resolution). The kernel's counters start at boot on the same clock, so the first run's rates (counter /
// uptime) and later runs' (delta / delta uptime) agree, and fixture trees can fix the time exactly.
import type { HostPaths } from '../collector.js';
import { procPath, readText } from './proc-files.js';

export interface Uptime {
  /** Seconds since boot. */
  seconds: number;
  /** Seconds each CPU spent idle, summed over CPUs (so it can exceed `seconds`). */
  idleSeconds: number;
}

export function readUptime(paths: HostPaths): Uptime {
  const path = procPath(paths, 'uptime');
  const [seconds, idleSeconds] = readText(path).trim().split(/\s+/).map(Number);
  if (seconds === undefined || !(seconds >= 0))
    throw new Error(`cannot parse ${path}: expected "<seconds> <idle seconds>"`);
  return { seconds, idleSeconds: idleSeconds !== undefined && idleSeconds >= 0 ? idleSeconds : 0 };
}
