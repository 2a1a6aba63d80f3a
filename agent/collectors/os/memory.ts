// memory: physical memory and swap from <proc>/meminfo. Sizes in bytes; phys_used and swap_used are
// PERCENT (what checks compare against thresholds); `meminfo` holds every meminfo field, in bytes
// (fields without a kB unit, e.g. HugePages_Total, are counts and kept as they are).
import type { CollectedData, CollectorType } from '../collector.js';
import { parseKeyValueLines, procFileCollector, round } from './proc-files.js';

function memoryFromMeminfo(meminfo: Record<string, number>, path: string): CollectedData {
  const total = meminfo.MemTotal;
  const free = meminfo.MemFree;
  if (total === undefined || free === undefined || !(total > 0))
    throw new Error(`cannot parse ${path}: no MemTotal/MemFree`);
  // MemAvailable exists since Linux 3.14; before, free + page cache is the usual estimate.
  const available = meminfo.MemAvailable ?? free + (meminfo.Buffers ?? 0) + (meminfo.Cached ?? 0);
  const swapTotal = meminfo.SwapTotal ?? 0;
  const swapFree = meminfo.SwapFree ?? 0;
  return {
    phys_total: total,
    phys_free: free,
    phys_available: available,
    phys_used: round(((total - available) / total) * 100),
    swap_total: swapTotal,
    swap_free: swapFree,
    swap_used: swapTotal > 0 ? round(((swapTotal - swapFree) / swapTotal) * 100) : 0,
    meminfo,
  };
}

export const memory: CollectorType = {
  type: 'memory',
  description: 'Physical memory and swap (bytes, and used as a percent) plus every /proc/meminfo field',
  defaultSettings: {},
  create: () =>
    procFileCollector('meminfo', (text, path) => memoryFromMeminfo(parseKeyValueLines(text), path)),
};
