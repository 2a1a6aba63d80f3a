// The table of bench:checks (stdout); index.ts prints the JSON line.
import { ratio } from '../gossip/report.js';
import type { Freshness, LagFigures, TreeFigures } from './measure.js';
import type { ChecksLoad, OpsbroPeerName } from './peers.js';

export type PeerName = OpsbroPeerName | 'nagios';

export interface PeerResult extends Partial<TreeFigures>, Partial<LagFigures> {
  name: PeerName;
  version?: string;
  /** Why it was not measured. */
  skipped?: string;
  load: ChecksLoad;
  /** Check runs started in the window, and how many its load should start in that time. */
  runs?: number;
  runsExpected?: number;
  /** opsbro: runs that fell due while the check's previous run was under way (none expected). */
  runsSkipped?: number;
  /** The script checks (Nagios: services) that ran within their interval, read after the window. */
  scripts?: Freshness;
  /** The evaluated checks, likewise. */
  evaluated?: Freshness;
  /** CPU µs per check run in the window. */
  cpuUsPerRun?: number;
}

interface Row {
  label: string;
  get: (r: PeerResult) => number | string | null | undefined;
  digits: number;
  /** Compare opsbro-scripts with nagios on this row. */
  ratio?: boolean;
}

const ROWS: Row[] = [
  { label: 'checks: evaluated + script', get: (r) => `${r.load.evaluated}+${r.load.scripts}`, digits: 0 },
  { label: 'CPU % of one core', get: (r) => r.cpuPercent, digits: 3, ratio: true },
  { label: 'CPU seconds', get: (r) => r.cpuSeconds, digits: 2, ratio: true },
  { label: 'CPU µs per check run', get: (r) => r.cpuUsPerRun, digits: 0, ratio: true },
  { label: 'RSS MiB avg', get: (r) => r.rssMiBAvg, digits: 1, ratio: true },
  { label: 'RSS MiB max', get: (r) => r.rssMiBMax, digits: 1, ratio: true },
  { label: 'processes (max)', get: (r) => r.processesMax, digits: 0 },
  { label: 'lag p50 ms', get: (r) => r.lagP50Ms, digits: 1, ratio: true },
  { label: 'lag p99 ms', get: (r) => r.lagP99Ms, digits: 1, ratio: true },
  { label: '  (opsbro: median p99; nagios: max)', get: (r) => r.lagP99TypicalMs, digits: 1 },
  { label: 'check runs in the window', get: (r) => r.runs, digits: 0, ratio: true },
  { label: '  expected', get: (r) => r.runsExpected, digits: 0 },
  { label: '  skipped (still running)', get: (r) => r.runsSkipped, digits: 0 },
  {
    label: 'scripts run within interval',
    get: (r) => (r.scripts ? `${r.scripts.fresh}/${r.scripts.of}` : undefined),
    digits: 0,
  },
  {
    label: 'evaluated run within interval',
    get: (r) => (r.evaluated ? `${r.evaluated.fresh}/${r.evaluated.of}` : undefined),
    digits: 0,
  },
  { label: 'CPU s before the window', get: (r) => r.startupCpuSeconds, digits: 2 },
];

function cell(r: PeerResult, row: Row): string {
  if (r.skipped) return 'skipped';
  const v = row.get(r);
  if (v === undefined || v === null) return '-';
  return typeof v === 'string' ? v : v.toFixed(row.digits);
}

export function peersTable(results: PeerResult[], windowS: number, concurrency: number): string {
  const measured = (name: PeerName): PeerResult | undefined =>
    results.find((r) => r.name === name && !r.skipped);
  const scripts = measured('opsbro-scripts');
  const nagios = measured('nagios');
  const line = (cells: string[]): string =>
    cells[0]!.padEnd(38) +
    cells
      .slice(1)
      .map((c) => c.padStart(17))
      .join('');
  const out = [
    `Over ${windowS.toFixed(0)} s, side by side, at most ${concurrency} check runs at once in each; ` +
      'each process tree summed (plugins included)',
    line(['', ...results.map((r) => r.name), 'scripts/nagios']),
  ];
  for (const row of ROWS) {
    const pick = (r: PeerResult | undefined): number | undefined => {
      const v = r && row.get(r);
      return typeof v === 'number' ? v : undefined;
    };
    const x = row.ratio ? ratio(pick(scripts), pick(nagios)) : null;
    out.push(line([row.label, ...results.map((r) => cell(r, row)), x === null ? '' : `${x.toFixed(2)}x`]));
  }
  for (const r of results) {
    if (r.skipped) out.push(`${r.name} skipped: ${r.skipped}`);
    else {
      const states = [r.evaluated, r.scripts]
        .filter((f): f is Freshness => f !== undefined)
        .map((f) => JSON.stringify(f.states))
        .join(' ');
      out.push(`${r.name}: ${r.version ?? ''}; states at the end: ${states}`);
    }
  }
  return out.join('\n');
}
