// Tables for bench:collectors (stdout); the JSON line is printed by index.ts.
import { ratio } from '../gossip/report.js';
import type { InProcessResult } from './in-process.js';
import type { PeerName } from './peers.js';

export interface PeerResult {
  name: PeerName;
  version?: string;
  /** Why it was not measured. */
  skipped?: string;
  /** CPU seconds from its start to the window's (startup and settle): not in the figures below. */
  startupCpuSeconds?: number;
  cpuSeconds?: number;
  cpuPercent?: number;
  rssMiBAvg?: number;
  rssMiBMax?: number;
  /** Most processes seen in its tree at once (netdata: the daemon and its plugins). */
  processesMax?: number;
}

const pad = (cells: string[], first: number, rest: number): string =>
  cells[0]!.padEnd(first) +
  cells
    .slice(1)
    .map((c) => c.padStart(rest))
    .join('');

export function inProcessTable(result: InProcessResult, intervalS: number): string {
  const total = result.total;
  const out = [
    `One OS collection in process: every collector once, median of ${result.runs} runs after a warm-up run`,
    '(CPU = user+system of this process, so the kernel generating /proc files counts)',
    pad(['collector', 'wall ms', 'CPU ms', 'CPU max ms', 'share', `% core @${intervalS}s`], 16, 12),
  ];
  for (const c of result.collectors) {
    out.push(
      pad(
        [
          c.type,
          c.wallMsMedian.toFixed(3),
          c.cpuMsMedian.toFixed(3),
          c.cpuMsMax.toFixed(3),
          total.cpuMsMedian > 0 ? `${((c.cpuMsMedian / total.cpuMsMedian) * 100).toFixed(0)}%` : '-',
          ((c.cpuMsMedian / (intervalS * 1000)) * 100).toFixed(4),
        ],
        16,
        12,
      ),
    );
  }
  out.push(
    pad(
      [
        'full collection',
        total.wallMsMedian.toFixed(3),
        total.cpuMsMedian.toFixed(3),
        total.cpuMsMax.toFixed(3),
        '100%',
        ((total.cpuMsMedian / (intervalS * 1000)) * 100).toFixed(4),
      ],
      16,
      12,
    ),
  );
  return out.join('\n');
}

export function peersTable(
  results: PeerResult[],
  windowS: number,
  scrapeS: number,
  onlyOsPacks: boolean,
): string {
  const get = (name: PeerName): PeerResult | undefined => results.find((r) => r.name === name && !r.skipped);
  const opsbro = get('opsbro');
  const exporter = get('node_exporter');
  const netdata = get('netdata');
  const x = (v: number | null): string => (v === null ? '-' : `${v.toFixed(2)}x`);
  const rows: [string, (r: PeerResult) => number | undefined, number][] = [
    ['CPU % of one core', (r) => r.cpuPercent, 3],
    ['CPU seconds', (r) => r.cpuSeconds, 2],
    ['RSS MiB avg', (r) => r.rssMiBAvg, 1],
    ['RSS MiB max', (r) => r.rssMiBMax, 1],
    ['processes (max)', (r) => r.processesMax, 0],
    ['CPU s before window', (r) => r.startupCpuSeconds, 2],
  ];
  const out = [
    `Side by side over ${windowS.toFixed(0)} s: opsbro (${onlyOsPacks ? 'linux+system packs' : 'every pack'}: OS ` +
      'collectors every 10 s, openports, processes and system every 60 s), opsbro-bare',
    `(no pack), node_exporter (scraped every ${scrapeS} s), netdata (stock, every 1 s); each process tree summed`,
    pad(['', ...results.map((r) => r.name), 'opsbro/n_e', 'opsbro/netdata'], 20, 15),
  ];
  for (const [label, pick, digits] of rows) {
    const cells = results.map((r) => {
      if (r.skipped) return 'skipped';
      const v = pick(r);
      return v === undefined ? '-' : v.toFixed(digits);
    });
    out.push(
      pad(
        [
          label,
          ...cells,
          x(ratio(opsbro && pick(opsbro), exporter && pick(exporter))),
          x(ratio(opsbro && pick(opsbro), netdata && pick(netdata))),
        ],
        20,
        15,
      ),
    );
  }
  for (const r of results) {
    if (r.skipped) out.push(`${r.name} skipped: ${r.skipped}`);
    else if (r.version) out.push(`${r.name}: ${r.version}`);
  }
  return out.join('\n');
}
