// graphite's retention syntax (`10s:6h,1m:7d,10m:1y`: a point every 10 s kept 6 hours, then one a
// minute kept 7 days, ...), parsed where the configuration checks it and where the metrics store
// uses it.

export interface Archive {
  /** Seconds between two points. */
  stepSeconds: number;
  /** Seconds of points kept. */
  retentionSeconds: number;
}

const UNIT_SECONDS: Record<string, number> = {
  s: 1,
  sec: 1,
  m: 60,
  min: 60,
  h: 3600,
  d: 86_400,
  w: 7 * 86_400,
  y: 365 * 86_400,
};

/** Archives one retention may have: the store marks them in a 32-bit mask; whisper files rarely have 5. */
export const MAX_ARCHIVES = 16;

/** Parses `10s:6h,1m:7d`; throws with the faulty part named. Archives go finest first. */
export function parseRetention(text: string): Archive[] {
  const parts = text.split(',');
  if (parts.length > MAX_ARCHIVES)
    throw new Error(`retention ${JSON.stringify(text)}: at most ${MAX_ARCHIVES} archives`);
  const archives = parts.map((part) => {
    const match = /^\s*(\d+)([a-z]+)?:(\d+)([a-z]+)?\s*$/.exec(part);
    if (!match) throw new Error(`retention ${JSON.stringify(part)} is not STEP:KEEP, e.g. 10s:6h`);
    const step = Number(match[1]) * unitOf(match[2] ?? 's', part);
    // graphite: a bare number of points after the colon means that many points.
    const keep = match[4] === undefined ? Number(match[3]) * step : Number(match[3]) * unitOf(match[4], part);
    if (step <= 0 || keep < step)
      throw new Error(`retention ${JSON.stringify(part)} keeps less than one point`);
    return { stepSeconds: step, retentionSeconds: keep };
  });
  for (let index = 1; index < archives.length; index++) {
    const finer = archives[index - 1]!;
    const coarser = archives[index]!;
    if (coarser.stepSeconds <= finer.stepSeconds || coarser.stepSeconds % finer.stepSeconds !== 0)
      throw new Error(
        `retention ${JSON.stringify(text)}: each step must be a multiple of the one before, and larger`,
      );
    if (coarser.retentionSeconds <= finer.retentionSeconds)
      throw new Error(`retention ${JSON.stringify(text)}: each archive must keep longer than the one before`);
  }
  return archives;
}

function unitOf(unit: string, part: string): number {
  const seconds = UNIT_SECONDS[unit];
  if (seconds === undefined)
    throw new Error(`retention ${JSON.stringify(part)}: unknown unit ${unit} (s, m, h, d, w, y)`);
  return seconds;
}
