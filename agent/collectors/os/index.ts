// The Linux OS collectors (the `linux` pack's), one file each, listed here for the collectors registry.
import type { CollectorType } from '../collector.js';
import { cpustats } from './cpustats.js';
import { diskio } from './diskio.js';
import { diskusage } from './diskusage.js';
import { kernelstats } from './kernelstats.js';
import { loadaverage } from './loadaverage.js';
import { memory } from './memory.js';
import { networktraffic } from './networktraffic.js';
import { openports } from './openports.js';
import { processes } from './processes.js';
import { system } from './system.js';
import { uptime } from './uptime.js';

export const OS_COLLECTOR_TYPES: CollectorType[] = [
  system,
  cpustats,
  memory,
  loadaverage,
  diskusage,
  diskio,
  networktraffic,
  kernelstats,
  openports,
  processes,
  uptime,
];
