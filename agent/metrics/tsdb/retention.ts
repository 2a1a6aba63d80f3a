// Which archives a series keeps (graphite's retention syntax, `10s:6h,1m:7d,10m:1y`: a point every
// 10 s for 6 hours, then a point a minute for 7 days, ...) and how points that share a slot are
// combined (average, sum, min, max, last), each chosen by the first rule whose pattern matches the
// series' name, as carbon's storage-schemas.conf and storage-aggregation.conf do.

import { parseRetention, type Archive } from '../../shared/retention-syntax.js';

export { parseRetention, type Archive };

export type Aggregation = 'average' | 'sum' | 'min' | 'max' | 'last';

export interface RetentionRule {
  pattern: RegExp;
  archives?: Archive[];
  aggregation?: Aggregation;
}

/**
 * The aggregation carbon's defaults and the issue ask for, by name: sums for counts, the lowest for
 * `lower`, the highest for `upper`, the last for gauges, an average otherwise.
 */
export const DEFAULT_AGGREGATION_RULES: RetentionRule[] = [
  { pattern: /\.count(_\d+(_\d+)?)?$/, aggregation: 'sum' },
  { pattern: /\.sum(_\d+(_\d+)?)?$/, aggregation: 'sum' },
  { pattern: /\.lower(_\d+(_\d+)?)?$/, aggregation: 'min' },
  { pattern: /\.upper(_\d+(_\d+)?)?$/, aggregation: 'max' },
  { pattern: /^stats\.gauges\./, aggregation: 'last' },
];

/** Chooses a series' archives and aggregation: the operator's rules first, then the defaults. */
export class RetentionPolicy {
  constructor(
    private readonly defaults: Archive[],
    private readonly rules: RetentionRule[] = [],
  ) {}

  archivesFor(name: string): Archive[] {
    for (const rule of this.rules) if (rule.archives && rule.pattern.test(name)) return rule.archives;
    return this.defaults;
  }

  aggregationFor(name: string): Aggregation {
    for (const rule of [...this.rules, ...DEFAULT_AGGREGATION_RULES])
      if (rule.aggregation && rule.pattern.test(name)) return rule.aggregation;
    return 'average';
  }

  /** The longest any series keeps points. */
  get longestRetentionSeconds(): number {
    const all = [this.defaults, ...this.rules.flatMap((rule) => (rule.archives ? [rule.archives] : []))];
    return Math.max(...all.map((archives) => archives[archives.length - 1]!.retentionSeconds));
  }
}
