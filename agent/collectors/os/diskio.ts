// diskio: per block device, reads/writes and bytes per second and the share of time it was busy, from
// <proc>/diskstats (since the previous run; the first run since boot). Like node_exporter's default
// device filter: loop, ram, zram and floppy devices and partitions (sda1, vda2, nvme0n1p1, mmcblk0p1) are
// skipped, so each disk is counted once; device-mapper and md devices are kept.
import type { CollectorType } from '../collector.js';
import { round } from './proc-files.js';
import { perThingRatesCollector, type CounterSample } from './rates.js';

const SKIPPED_DEVICES = /^(?:z?ram\d+|loop\d+|fd\d+|(?:h|s|v|xv)d[a-z]+\d+|nvme\d+n\d+p\d+|mmcblk\d+p\d+)$/;
/** /proc/diskstats counts 512-byte sectors whatever the device's own sector size. */
const SECTOR_BYTES = 512;

export function isReportedDevice(name: string): boolean {
  return !SKIPPED_DEVICES.test(name);
}

/** Per device: reads completed, writes completed, bytes read, bytes written, ms spent doing I/O. */
function parseDiskstats(text: string): CounterSample {
  const out: CounterSample = new Map();
  for (const line of text.split('\n')) {
    // major minor name reads merged sectors ms_reading writes merged sectors ms_writing in_flight io_ms ...
    const f = line.trim().split(/\s+/);
    if (f.length < 14 || !isReportedDevice(f[2]!)) continue;
    out.set(f[2]!, [
      Number(f[3]),
      Number(f[7]),
      Number(f[5]) * SECTOR_BYTES,
      Number(f[9]) * SECTOR_BYTES,
      Number(f[12]),
    ]);
  }
  return out;
}

export const diskio: CollectorType = {
  type: 'diskio',
  description: 'Per disk: read/write operations and bytes per second, and busy time as a percent',
  defaultSettings: {},
  create: () =>
    perThingRatesCollector(
      'diskstats',
      parseDiskstats,
      ([readOps, writeOps, readBytes, writeBytes, ioMsPerS]) => ({
        read_ops_s: readOps!,
        write_ops_s: writeOps!,
        read_bytes_s: readBytes!,
        write_bytes_s: writeBytes!,
        // ms of I/O per second of wall time, as a percent; in-flight accounting can overshoot a little.
        busy_pct: Math.min(100, round(ioMsPerS! / 10)),
      }),
    ),
};
