// loadaverage: the run-queue load averages and thread counts of <proc>/loadavg
// ("0.40 0.54 0.92 2/94 11707": load1 load5 load15 runnable/total threads, last pid).
import type { CollectedData, CollectorType } from '../collector.js';
import { procFileCollector } from './proc-files.js';

function parseLoadavg(text: string, path: string): CollectedData {
  const [load1, load5, load15, threads] = text.trim().split(/\s+/);
  const [runnable, total] = (threads ?? '').split('/').map(Number);
  const loads = [load1, load5, load15].map(Number);
  if (loads.some((n) => !Number.isFinite(n)) || !Number.isFinite(runnable) || !Number.isFinite(total))
    throw new Error(`cannot parse ${path}: expected "load1 load5 load15 runnable/total lastpid"`);
  return {
    load1: loads[0]!,
    load5: loads[1]!,
    load15: loads[2]!,
    runnable: runnable!,
    total_threads: total!,
  };
}

export const loadaverage: CollectorType = {
  type: 'loadaverage',
  description: 'Load averages over 1, 5 and 15 minutes and runnable/total threads, from /proc/loadavg',
  defaultSettings: {},
  create: () => procFileCollector('loadavg', parseLoadavg),
};
