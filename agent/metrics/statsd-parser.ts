// Parses the datagrams of the statsd listener (Etsy statsd's line protocol) into samples. Pure: no
// socket, no clock. A malformed line never throws: it is counted as bad and skipped, as statsd does,
// because one broken client must not cost the other metrics of its packet (or the listener).
//
// Line grammar: `key:value|type[|@rate][|#tags]`, and several values for one key `key:1|c:2|ms`
// (statsd splits the part after the key on ':'). Types: c (counter), ms / h / d (timers: statsd
// has only ms; h and d are the histogram/distribution spellings of other clients, summarised the
// same way), g (gauge, `+n` / `-n` is a delta) and s (set). Where this is stricter than statsd
// (an unknown type, a sample rate above 1, a hexadecimal value, an empty key), the brief of the
// listener asked for it: statsd counts an unknown type as a counter and takes `0x10` as 16.

/** One value of one line, with the key sanitised as statsd does. */
export type StatsdSample =
  | { kind: 'counter'; key: string; value: number; sampleRate: number }
  | { kind: 'timer'; key: string; value: number; sampleRate: number }
  | { kind: 'gauge'; key: string; value: number; delta: boolean }
  | { kind: 'set'; key: string; member: string };

export interface StatsdParseResult {
  samples: StatsdSample[];
  /** Bad lines (a bad value part of a multi-value line counts once, as in statsd's bad_lines_seen). */
  badLines: number;
  /** Non-empty lines, good or bad: what statsd counts as statsd.metrics_received. */
  metricLines: number;
}

/** A line longer than this (in bytes) is refused whole: a bound on what one line can make us hold. */
export const MAX_STATSD_LINE_BYTES = 8192;

// A plain decimal number, as clients write them. Stricter than statsd's `!isNaN(str)` on purpose:
// that one takes '0x1A', 'Infinity' and '1e999' too.
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

const decoder = new TextDecoder('utf-8');

/** Keys already clean: the common case, tested once instead of three replacements. */
const CLEAN_KEY = /^[a-zA-Z0-9_.\-;=]+$/;
/**
 * Raw keys seen lately and what they sanitise to: clients send the same few keys again and again.
 * Bounded (emptied when full), so a stranger's endless new keys cost memory only up to the bound.
 */
const sanitised = new Map<string, string>();
const MAX_REMEMBERED_KEYS = 10_000;

/** The key as statsd's sanitizeKeyName leaves it, but keeping ';' and '=' (graphite's tag syntax). */
export function sanitizeStatsdKey(raw: string): string {
  if (CLEAN_KEY.test(raw)) return raw;
  const known = sanitised.get(raw);
  if (known !== undefined) return known;
  const clean = raw
    .replace(/\s+/g, '_')
    .replace(/\//g, '-')
    .replace(/[^a-zA-Z0-9_.\-;=]/g, '');
  if (sanitised.size >= MAX_REMEMBERED_KEYS) sanitised.clear();
  sanitised.set(raw, clean);
  return clean;
}

// A DogStatsD tag name or value: the key's charset without ';' and '=', so that a tag cannot forge
// another tag once it is written in graphite's `;name=value` form.
function sanitizeTagPart(raw: string): string {
  return raw
    .replace(/\s+/g, '_')
    .replace(/\//g, '-')
    .replace(/[^a-zA-Z0-9_.-]/g, '');
}

/** A finite decimal number, or undefined. */
function parseDecimal(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * DogStatsD tags (`#name:value,other:value`) as graphite tags (`;name=value;other=value`), sorted so
 * that the order a client writes them in does not make two series of one. The sample type has no
 * tags field: folding them into the key keeps the series apart, the way the graphite backend of
 * statsd writes `key;tag=value` keys. A tag without a value (`#canary`) is dropped, as Telegraf does:
 * graphite has no valueless tag.
 */
function dogstatsdTagsAsKeySuffix(text: string): string {
  const tags: Array<[string, string]> = [];
  for (const raw of text.split(',')) {
    const colon = raw.indexOf(':');
    if (colon <= 0) continue;
    const name = sanitizeTagPart(raw.slice(0, colon));
    const value = sanitizeTagPart(raw.slice(colon + 1));
    if (name === '' || value === '') continue;
    tags.push([name, value]);
  }
  tags.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  let suffix = '';
  for (const [name, value] of tags) suffix += `;${name}=${value}`;
  return suffix;
}

/** One `value|type[|@rate][|#tags]` part of a line, or undefined if it is bad. */
function parseValuePart(key: string, part: string): StatsdSample | undefined {
  const fields = part.split('|');
  const rawValue = fields[0] ?? '';
  const type = fields[1]?.trim();
  if (type === undefined) return undefined;

  let sampleRate = 1;
  let rateSeen = false;
  let tagSuffix: string | undefined;
  for (let i = 2; i < fields.length; i++) {
    const field = (fields[i] ?? '').trim();
    if (field.startsWith('@') && !rateSeen) {
      const rate = parseDecimal(field.slice(1));
      if (rate === undefined || !(rate > 0 && rate <= 1)) return undefined;
      sampleRate = rate;
      rateSeen = true;
    } else if (field.startsWith('#') && tagSuffix === undefined) {
      tagSuffix = dogstatsdTagsAsKeySuffix(field.slice(1));
    } else {
      // An empty field (`1|c|`), a second rate, or a field we do not know: statsd refuses a third
      // field that is not a rate, and guessing what an unknown one means could count wrong.
      return undefined;
    }
  }
  const fullKey = tagSuffix === undefined ? key : key + tagSuffix;

  if (type === 's') {
    // statsd stores an empty member as '0'; the member is not trimmed (it is any string).
    return { kind: 'set', key: fullKey, member: rawValue === '' ? '0' : rawValue };
  }
  const trimmed = rawValue.trim();
  const value = parseDecimal(trimmed);
  if (value === undefined) return undefined;
  switch (type) {
    case 'c':
      return { kind: 'counter', key: fullKey, value, sampleRate };
    case 'ms':
      // statsd refuses a negative duration; a histogram or distribution may hold any value.
      if (value < 0) return undefined;
      return { kind: 'timer', key: fullKey, value, sampleRate };
    case 'h':
    case 'd':
      return { kind: 'timer', key: fullKey, value, sampleRate };
    case 'g':
      return { kind: 'gauge', key: fullKey, value, delta: trimmed[0] === '+' || trimmed[0] === '-' };
    default:
      return undefined;
  }
}

function lineTooLong(line: string): boolean {
  // A UTF-16 length never exceeds the UTF-8 byte length, and a code unit is at most 3 bytes: the
  // exact count is only needed between the two bounds.
  if (line.length > MAX_STATSD_LINE_BYTES) return true;
  if (line.length * 3 <= MAX_STATSD_LINE_BYTES) return false;
  return Buffer.byteLength(line, 'utf8') > MAX_STATSD_LINE_BYTES;
}

/** Parses one datagram: lines separated by '\n' (a '\r' before it is tolerated, as by statsd). */
export function parseStatsdPacket(packet: Uint8Array | string): StatsdParseResult {
  const text = typeof packet === 'string' ? packet : decoder.decode(packet);
  const samples: StatsdSample[] = [];
  let badLines = 0;
  let metricLines = 0;

  for (let line of text.split('\n')) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length === 0) continue;
    metricLines++;
    if (lineTooLong(line)) {
      badLines++;
      continue;
    }

    const colon = line.indexOf(':');
    // No ':' means no value and no type: statsd reads it as '1' without a type, a bad line.
    if (colon < 0) {
      badLines++;
      continue;
    }
    const key = sanitizeStatsdKey(line.slice(0, colon));
    // The name before graphite tags must survive sanitising: `stats.counters..rate` helps nobody.
    if (key === '' || key.startsWith(';')) {
      badLines++;
      continue;
    }

    const rest = line.slice(colon + 1);
    // DogStatsD tags hold ':' (`#env:prod`): a line with tags is one value, never split on ':'.
    const parts = rest.includes('|#') ? [rest] : rest.split(':');
    for (const part of parts) {
      const sample = parseValuePart(key, part);
      if (sample === undefined) badLines++;
      else samples.push(sample);
    }
  }
  return { samples, badLines, metricLines };
}
