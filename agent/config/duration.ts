// Durations in definitions: `10s`, `500ms`, `2m`, `1h`, or a plain number of seconds, as operators
// write them in the original opsbro packs.
import { Type } from '@sinclair/typebox';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * The schema of a duration setting: validated here so parseDurationMs never sees a bad one. Without
 * a default the key stays absent when not given (the code that reads it decides, e.g. a collector's
 * timeout follows its interval).
 */
export function DurationSchema(defaultValue?: string) {
  return Type.Union([Type.Number({ exclusiveMinimum: 0 }), Type.String({ pattern: DURATION.source })], {
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
    description: 'a duration such as 10s, 500ms, 2m, 1h or a number of seconds',
  });
}

/** Milliseconds of a duration; throws on a value the schema would refuse. */
export function parseDurationMs(value: string | number): number {
  if (typeof value === 'number') return Math.round(value * 1000);
  const match = DURATION.exec(value.trim());
  if (!match) throw new Error(`not a duration: ${JSON.stringify(value)} (expected e.g. 10s, 500ms, 2m)`);
  return Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 's']!);
}
