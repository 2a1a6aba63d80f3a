// What bench:checks makes of its samples, as pure functions of them: CPU and RSS of a process tree
// over the window, opsbro's lag from GET /monitoring/scheduler samples, Nagios' runs and latencies
// from the status.dat files read during the window, and which checks ran within their interval.
import type { CheckSchedulerAnswer, CheckStatus } from '../../agent/shared/api-types.js';
import type { TreeSample } from '../collectors/proc-tree.js';
import { round } from '../gossip/measure.js';
import type { NagiosStatus } from './nagios.js';

/** A check whose last run is no older than this many intervals at the end ran within its interval. */
export const FRESH_INTERVALS = 1.1;

/** The nearest-rank percentile (0 < fraction <= 1) of unsorted values; null without any. */
export function percentile(values: readonly number[], fraction: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)]!;
}

export interface TreeFigures {
  /** CPU seconds from the start of the process to the window's. */
  startupCpuSeconds: number;
  cpuSeconds: number;
  cpuPercent: number;
  rssMiBAvg: number;
  rssMiBMax: number;
  processesMax: number;
}

/** CPU (utime+stime+cutime+cstime of the tree) between the first and last samples, and RSS over all. */
export function treeFigures(samples: readonly TreeSample[], windowS: number): TreeFigures {
  const first = samples[0]!;
  const cpuSeconds = samples.at(-1)!.cpuSeconds - first.cpuSeconds;
  const rss = samples.map((s) => s.rssBytes / 2 ** 20);
  return {
    startupCpuSeconds: round(first.cpuSeconds, 2),
    cpuSeconds: round(cpuSeconds, 2),
    cpuPercent: round((cpuSeconds / windowS) * 100, 3),
    rssMiBAvg: round(rss.reduce((a, b) => a + b, 0) / rss.length, 1),
    rssMiBMax: round(Math.max(...rss), 1),
    processesMax: Math.max(...samples.map((s) => s.members.length)),
  };
}

export interface LagFigures {
  lagP50Ms: number | null;
  /** opsbro: the worst p99 of any sample (each over the latest 1024 runs); Nagios: over the window's runs. */
  lagP99Ms: number | null;
  /** opsbro: the median of the samples' p99; Nagios: the largest latency of a run in the window. */
  lagP99TypicalMs: number | null;
  lagSamples: number;
}

/**
 * The scheduler keeps the lags of its latest 1024 runs; the bench asks for their p50 and p99 often
 * enough that the samples cover the window (see index.ts): the median of the p50s, and the worst
 * p99 (which the target is judged on) beside the median one.
 */
export function opsbroLag(samples: readonly CheckSchedulerAnswer[]): LagFigures {
  const p50s = samples.map((s) => s.lag_p50_ms);
  const p99s = samples.map((s) => s.lag_p99_ms);
  const ms = (v: number | null): number | null => (v === null ? null : round(v, 1));
  return {
    lagP50Ms: ms(percentile(p50s, 0.5)),
    lagP99Ms: ms(p99s.length ? Math.max(...p99s) : null),
    lagP99TypicalMs: ms(percentile(p99s, 0.5)),
    lagSamples: samples.length,
  };
}

export interface NagiosRuns {
  runs: number;
  lag: LagFigures;
}

/**
 * The runs that started in [fromS, toS), each seen in some status.dat (a service runs once a minute,
 * the file is rewritten every 10 s: no run goes unseen), and their latencies.
 */
export function nagiosRuns(statuses: readonly NagiosStatus[], fromS: number, toS: number): NagiosRuns {
  const runs = new Map<string, number>();
  for (const status of statuses)
    for (const [name, service] of status.services)
      if (service.lastCheckS >= Math.floor(fromS) && service.lastCheckS < Math.floor(toS))
        runs.set(`${name}@${service.lastCheckS}`, service.latencyS * 1000);
  const lags = [...runs.values()];
  const ms = (v: number | null): number | null => (v === null ? null : round(v, 1));
  return {
    runs: runs.size,
    lag: {
      lagP50Ms: ms(percentile(lags, 0.5)),
      lagP99Ms: ms(percentile(lags, 0.99)),
      lagP99TypicalMs: ms(lags.length ? Math.max(...lags) : null),
      lagSamples: lags.length,
    },
  };
}

/** Checks in each state: `{ok: 50}`, with `pending` for those without a result. */
export function stateCounts(states: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const state of states) counts[state] = (counts[state] ?? 0) + 1;
  return counts;
}

const NAGIOS_STATES = ['ok', 'warning', 'critical', 'unknown'];

export interface Freshness {
  /** Checks (of the kind asked) whose last run is at most FRESH_INTERVALS intervals old at the end. */
  fresh: number;
  of: number;
  states: Record<string, number>;
}

/** opsbro: the checks named with `prefix`, from GET /monitoring/state read at `atMs`. */
export function opsbroFreshness(
  statuses: readonly CheckStatus[],
  prefix: string,
  intervalS: number,
  atMs: number,
): Freshness {
  const mine = statuses.filter((s) => s.name.startsWith(prefix));
  const oldest = atMs - FRESH_INTERVALS * intervalS * 1000;
  return {
    fresh: mine.filter((s) => s.last_run_at !== undefined && Date.parse(s.last_run_at) >= oldest).length,
    of: mine.length,
    states: stateCounts(mine.map((s) => s.state)),
  };
}

/** Nagios: every service, from the status.dat written after the window. */
export function nagiosFreshness(status: NagiosStatus, intervalS: number): Freshness {
  const services = [...status.services.values()];
  const oldest = status.createdS - FRESH_INTERVALS * intervalS;
  return {
    fresh: services.filter((s) => s.lastCheckS > 0 && s.lastCheckS >= oldest).length,
    of: services.length,
    states: stateCounts(
      services.map((s) => (s.lastCheckS > 0 ? (NAGIOS_STATES[s.state] ?? 'unknown') : 'pending')),
    ),
  };
}
