// Units of collector values, for `opsbro collectors show`: the raw value stays first (it is what
// expressions read), followed by its unit and, for large ones, a human reading. The table follows
// docs/collectors.md; the first rule whose collector type and key path match wins, and a value no
// rule knows is shown bare.
import { formatBytes, formatDuration } from './output.js';

type Unit = 'bytes' | 'bytes/s' | '%' | '/s' | 's' | 'ms' | 'MiB' | 'epoch' | 'count';

interface UnitRule {
  /** Collector types the rule is for; every type when absent. */
  types?: string[];
  /** Matched against the value's path (`meminfo.Cached`, `/var.total`, `cpuall.%idle`). */
  path: RegExp;
  unit: Unit;
}

const RULES: UnitRule[] = [
  // memory: bytes, but the two percents and the huge page counts.
  { types: ['memory'], path: /^meminfo\.HugePages_(Total|Free|Rsvd|Surp)$/, unit: 'count' },
  { types: ['memory'], path: /^(phys|swap)_used$/, unit: '%' },
  { types: ['memory'], path: /^(phys_|swap_|meminfo\.)/, unit: 'bytes' },
  { types: ['diskusage'], path: /\.(total|used|free)$/, unit: 'bytes' },
  { types: ['uptime'], path: /^(idle_)?seconds$/, unit: 's' },
  { types: ['mongodb'], path: /^mem\.(resident|virtual)$/, unit: 'MiB' },
  { types: ['mongodb'], path: /^network\.bytes(In|Out)$/, unit: 'bytes' },
  { types: ['mongodb', 'mysql'], path: /^uptime$/, unit: 's' },
  { types: ['mysql'], path: /^bytes_(received|sent)$/, unit: 'bytes' },
  { types: ['mysql'], path: /^innodb_row_lock_time$/, unit: 'ms' },
  { types: ['redis'], path: /^memory\.(used_memory[a-z_]*|maxmemory|total_system_memory)$/, unit: 'bytes' },
  { types: ['redis'], path: /\.avg_ttl$/, unit: 'ms' },
  { path: /(^|\.)boot_time$/, unit: 'epoch' },
  { path: /(^|\.)%[a-z]+$/, unit: '%' },
  { path: /(_pct|(^|\.)pct_used)$/, unit: '%' },
  { path: /(bytes_s|bytes(In|Out)_s)$/, unit: 'bytes/s' },
  { path: /(_s|_per_sec)$/, unit: '/s' },
  { path: /_ms$/, unit: 'ms' },
  { path: /(_in_seconds|_sec|_seconds)$/, unit: 's' },
  { path: /_bytes$/, unit: 'bytes' },
];

export function unitOf(type: string, path: string): Unit | undefined {
  return RULES.find((rule) => (!rule.types || rule.types.includes(type)) && rule.path.test(path))?.unit;
}

/** A value of collector `type` at `path`, with its unit when known: `25276071936 B (23.5 GiB)`. */
export function withUnit(type: string, path: string, value: unknown): string {
  const raw = JSON.stringify(value);
  if (typeof value !== 'number' || !Number.isFinite(value)) return raw;
  switch (unitOf(type, path)) {
    case 'bytes':
      return `${raw} B${Math.abs(value) >= 1024 ? ` (${formatBytes(value)})` : ''}`;
    case 'bytes/s':
      return `${raw} B/s${Math.abs(value) >= 1024 ? ` (${formatBytes(value)}/s)` : ''}`;
    case '%':
      return `${raw} %`;
    case '/s':
      return `${raw} /s`;
    case 's':
      return `${raw} s${value >= 60 ? ` (${formatDuration(value)})` : ''}`;
    case 'ms':
      return `${raw} ms`;
    case 'MiB':
      return `${raw} MiB`;
    case 'epoch':
      return `${raw} (${new Date(value * 1000).toISOString()})`;
    default:
      return raw;
  }
}
