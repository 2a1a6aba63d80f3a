// Collector data -> metrics: every numeric leaf becomes `<collector>.<path>` (booleans as 0/1, so a
// `connected: true` can be graphed). Arrays are indexed (`openports.tcp.0`): rarely useful, but
// nothing numeric is silently dropped.
import type { CollectedValue } from './collector.js';

export type Metric = [name: string, value: number];

export function flattenMetrics(prefix: string, value: CollectedValue, into: Metric[] = []): Metric[] {
  if (typeof value === 'number') {
    if (Number.isFinite(value)) into.push([prefix, value]);
  } else if (typeof value === 'boolean') {
    into.push([prefix, value ? 1 : 0]);
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => flattenMetrics(`${prefix}.${index}`, item, into));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) flattenMetrics(`${prefix}.${key}`, item, into);
  }
  return into;
}
