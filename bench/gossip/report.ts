// One table per N: both systems side by side and opsbro/serf for each figure (lower is better in all).
import type { IdleResult, Timing } from './measure.js';

export interface SystemResult {
  system: 'serf' | 'opsbro';
  n: number;
  skipped?: string;
  error?: string;
  startS?: number;
  joinS?: number;
  slowestJoinS?: number;
  /** From the start of the first join until all see N alive (joins take longer than convergence at N=100). */
  formS?: number | null;
  /** Suspicions refuted over the whole run, where the system logs them (serf). */
  refutationsTotal?: number | null;
  convergence?: Timing;
  idle?: IdleResult;
  /** The median of the kills (by time until all see it). */
  failure?: Timing;
  /** Each kill's time until all see it, in order. */
  failureSamplesS?: Array<number | null>;
  victim?: string;
  falseFailures?: number;
  falseFailureSamples?: string[];
  suspicions?: number;
  pollErrors?: number;
  wallS?: number;
}

interface Row {
  label: string;
  get: (r: SystemResult) => number | null | undefined;
  digits: number;
  ratio?: boolean;
}

const ROWS: Row[] = [
  { label: 'start all agents, s', get: (r) => r.startS, digits: 1 },
  { label: 'join all to the seed, s', get: (r) => r.joinS, digits: 1 },
  { label: '  slowest single join, s', get: (r) => r.slowestJoinS, digits: 2 },
  { label: 'convergence: all see N alive, s', get: (r) => r.convergence?.maxS, digits: 2, ratio: true },
  { label: '  median agent, s', get: (r) => r.convergence?.medianS, digits: 2, ratio: true },
  { label: '  from the first join, s', get: (r) => r.formS, digits: 2, ratio: true },
  { label: '  slowest poll round, s', get: (r) => r.convergence?.slowestRoundS, digits: 2 },
  { label: '  bench poller CPU, %', get: (r) => r.convergence?.pollerCpuPercent, digits: 0 },
  { label: 'failure detection: all see it, s (median)', get: (r) => r.failure?.maxS, digits: 2, ratio: true },
  { label: '  median agent, s', get: (r) => r.failure?.medianS, digits: 2, ratio: true },
  { label: '  slowest poll round, s', get: (r) => r.failure?.slowestRoundS, digits: 2 },
  { label: '  bench poller CPU, %', get: (r) => r.failure?.pollerCpuPercent, digits: 0 },
  { label: 'idle CPU/agent, % of a core', get: (r) => r.idle?.cpuPercentAvg, digits: 3, ratio: true },
  { label: '  busiest agent, %', get: (r) => r.idle?.cpuPercentMax, digits: 3, ratio: true },
  { label: 'idle RSS/agent, MiB', get: (r) => r.idle?.rssMiBAvg, digits: 1, ratio: true },
  { label: 'gossip bytes/s per agent', get: (r) => r.idle?.bytesPerSecPerAgent, digits: 0, ratio: true },
  { label: '  udp', get: (r) => r.idle?.udpBytesPerSecPerAgent, digits: 0, ratio: true },
  { label: '  tcp (push-pull)', get: (r) => r.idle?.tcpBytesPerSecPerAgent, digits: 0, ratio: true },
  { label: 'false failures (all phases)', get: (r) => r.falseFailures, digits: 0 },
  { label: 'refuted suspicions, idle window', get: (r) => r.idle?.refutations, digits: 0 },
  { label: 'refuted suspicions, run (serf log)', get: (r) => r.refutationsTotal, digits: 0 },
  {
    label: 'suspect states seen (opsbro)',
    get: (r) => (r.system === 'opsbro' ? r.suspicions : null),
    digits: 0,
  },
  { label: 'poll errors', get: (r) => r.pollErrors, digits: 0 },
  { label: 'wall time, s', get: (r) => r.wallS, digits: 0 },
];

/** A target's verdict as the reports print it. */
export function verdict(met: boolean | null): string {
  return met === null ? 'not measured' : met ? 'yes' : 'NO';
}

export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null || b == null || !(b > 0) ? null : Number((a / b).toFixed(2));
}

export function ratios(
  opsbro: SystemResult | undefined,
  serf: SystemResult | undefined,
): Record<string, number | null> {
  if (!opsbro || !serf) return {};
  return {
    convergence: ratio(opsbro.convergence?.maxS, serf.convergence?.maxS),
    formation: ratio(opsbro.formS, serf.formS),
    failureDetection: ratio(opsbro.failure?.maxS, serf.failure?.maxS),
    idleCpu: ratio(opsbro.idle?.cpuPercentAvg, serf.idle?.cpuPercentAvg),
    rss: ratio(opsbro.idle?.rssMiBAvg, serf.idle?.rssMiBAvg),
    bytesPerSec: ratio(opsbro.idle?.bytesPerSecPerAgent, serf.idle?.bytesPerSecPerAgent),
  };
}

function cell(r: SystemResult | undefined, row: Row): string {
  if (!r) return '-';
  if (r.skipped) return 'skipped';
  if (r.error) return 'error';
  const v = row.get(r);
  if (v === null || v === undefined)
    return row.label.startsWith('convergence') || row.label.startsWith('failure') ? 'timeout' : '-';
  return v.toFixed(row.digits);
}

export function table(n: number, results: SystemResult[], idleSeconds: number, pollMs: number): string {
  const serf = results.find((r) => r.system === 'serf');
  const opsbro = results.find((r) => r.system === 'opsbro');
  const line = (cells: string[]): string =>
    cells[0]!.padEnd(36) +
    cells
      .slice(1)
      .map((c) => c.padStart(12))
      .join('');
  const out = [
    `N=${n}  (idle window ${idleSeconds} s; polls every ${pollMs} ms; times are stamped when the answer arrives:`,
    '  upper bounds, late by at most the slowest poll round)',
    line(['', 'serf', 'opsbro', 'opsbro/serf']),
  ];
  for (const row of ROWS) {
    const r = row.ratio ? ratio(opsbro && row.get(opsbro), serf && row.get(serf)) : null;
    out.push(line([row.label, cell(serf, row), cell(opsbro, row), r === null ? '' : `${r.toFixed(2)}x`]));
  }
  out.push(
    'tcp = push-pull, periodic: serf first at 30-60 s after start, then every 30 s (60 s at N>32, 90 s at N>64);',
    '  opsbro every 30 s. A short window early in a run catches a random share of it; udp is steady. For the full',
    '  period: BENCH_SETTLE_SECONDS=60 BENCH_IDLE_SECONDS=90.',
  );
  for (const r of results) {
    if (r.skipped) out.push(`${r.system} skipped: ${r.skipped}`);
    if (r.error) out.push(`${r.system} failed: ${r.error}`);
    for (const s of r.falseFailureSamples ?? []) out.push(`${r.system} false failure: ${s}`);
    if (r.failureSamplesS?.length) {
      out.push(
        `${r.system} failure detection, each kill (s): ${r.failureSamplesS.map((s) => s ?? 'timeout').join(', ')}`,
      );
    }
  }
  return out.join('\n');
}
