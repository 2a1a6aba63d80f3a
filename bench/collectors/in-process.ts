// Part 1: what one collection costs. Every OS collector is built once and run in this process, one after
// the other (a full OS collection), RUNS times after one warm-up run (the JIT's), RUN_GAP_MS apart so the
// rate collectors measure real intervals. CPU is process.cpuUsage() (user+system, so the kernel's work
// generating /proc files counts), wall is performance.now(); the table gives medians per collector.
import { setTimeout as sleep } from 'node:timers/promises';
import type { CollectContext } from '../../agent/collectors/collector.js';
import { OS_COLLECTOR_TYPES } from '../../agent/collectors/os/index.js';
import { round } from '../gossip/measure.js';

const RUN_GAP_MS = 100;

export interface CollectorCost {
  type: string;
  wallMsMedian: number;
  cpuMsMedian: number;
  cpuMsMax: number;
}

export interface InProcessResult {
  runs: number;
  collectors: CollectorCost[];
  /** One full OS collection (every collector once). */
  total: { wallMsMedian: number; cpuMsMedian: number; cpuMsMax: number };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round3 = (n: number): number => round(n, 3);

export async function measureInProcess(runs: number): Promise<InProcessResult> {
  const instances = OS_COLLECTOR_TYPES.map((type) => ({
    type: type.type,
    instance: type.create(type.defaultSettings),
  }));
  const context: CollectContext = {
    paths: { root: '/', proc: '/proc', sys: '/sys' },
    signal: new AbortController().signal,
    timeoutMs: 10_000,
  };
  for (const { type, instance } of instances) {
    const reason = instance.notEligibleReason?.(context.paths);
    if (reason) throw new Error(`${type} is not eligible on this host: ${reason}`);
  }
  const wall = new Map<string, number[]>(instances.map(({ type }) => [type, []]));
  const cpu = new Map<string, number[]>(instances.map(({ type }) => [type, []]));
  const totalWall: number[] = [];
  const totalCpu: number[] = [];
  for (let run = -1; run < runs; run++) {
    const runWall0 = performance.now();
    const runCpu0 = process.cpuUsage();
    for (const { type, instance } of instances) {
      const wall0 = performance.now();
      const cpu0 = process.cpuUsage();
      await instance.collect(context);
      const used = process.cpuUsage(cpu0);
      if (run < 0) continue; // the warm-up run
      wall.get(type)!.push(performance.now() - wall0);
      cpu.get(type)!.push((used.user + used.system) / 1000);
    }
    const used = process.cpuUsage(runCpu0);
    if (run >= 0) {
      totalWall.push(performance.now() - runWall0);
      totalCpu.push((used.user + used.system) / 1000);
    }
    await sleep(RUN_GAP_MS);
  }
  for (const { instance } of instances) await instance.close?.();
  return {
    runs,
    collectors: instances.map(({ type }) => ({
      type,
      wallMsMedian: round3(median(wall.get(type)!)),
      cpuMsMedian: round3(median(cpu.get(type)!)),
      cpuMsMax: round3(Math.max(...cpu.get(type)!)),
    })),
    total: {
      wallMsMedian: round3(median(totalWall)),
      cpuMsMedian: round3(median(totalCpu)),
      cpuMsMax: round3(Math.max(...totalCpu)),
    },
  };
}
