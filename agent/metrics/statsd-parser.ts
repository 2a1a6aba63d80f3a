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

import { isAscii } from 'node:buffer';
import { DOT, MINUS, NINE, plainDecimal, PLUS, readPlainDecimal, ZERO } from './plain-decimal.js';

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
  const samples: StatsdSample[] = [];
  const counts = readStatsdPacketWith(packet, (line) => parseStatsdLine(line, samples));
  return { samples, ...counts };
}

/** Where readStatsdPacket puts what it reads: the aggregator, or a reader process's interval. */
export interface StatsdSink {
  counter(key: string, value: number, sampleRate: number): void;
  timer(key: string, value: number, sampleRate: number): void;
  gauge(key: string, value: number, delta: boolean): void;
  set(key: string, member: string): void;
}

/**
 * Reads one datagram into `sink`, the same samples in the same order as parseStatsdPacket gives,
 * without making them: the lines nearly every client sends (`key:value|type[|@rate]`, a clean key,
 * a plain decimal) are read by hand, any other line by the general parser. Returns the counts.
 */
export function readStatsdPacket(
  packet: Uint8Array | string,
  sink: StatsdSink,
): { badLines: number; metricLines: number } {
  const samples: StatsdSample[] = [];
  return readStatsdPacketWith(packet, (line) => {
    const common = readCommonLine(line, sink);
    if (common !== undefined) return common;
    samples.length = 0;
    const bad = parseStatsdLine(line, samples);
    for (const sample of samples) sampleToSink(sample, sink);
    return bad;
  });
}

/** One parsed sample into a sink. */
export function sampleToSink(sample: StatsdSample, sink: StatsdSink): void {
  switch (sample.kind) {
    case 'counter':
      return sink.counter(sample.key, sample.value, sample.sampleRate);
    case 'timer':
      return sink.timer(sample.key, sample.value, sample.sampleRate);
    case 'gauge':
      return sink.gauge(sample.key, sample.value, sample.delta);
    case 'set':
      return sink.set(sample.key, sample.member);
  }
}

/** Cuts a datagram into its non-empty lines; `onLine` returns how many bad values the line held. */
function readStatsdPacketWith(
  packet: Uint8Array | string,
  onLine: (line: string) => number,
): { badLines: number; metricLines: number } {
  // ASCII, the usual case: a one-byte string, which V8 makes faster than a decoded one.
  const text =
    typeof packet === 'string'
      ? packet
      : isAscii(packet)
        ? Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength).toString('latin1')
        : decoder.decode(packet);
  let badLines = 0;
  let metricLines = 0;
  for (let start = 0; start <= text.length;) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const stop = end > start && text.charCodeAt(end - 1) === CR ? end - 1 : end;
    if (stop > start) {
      metricLines++;
      badLines += onLine(text.slice(start, stop));
    }
    start = end + 1;
  }
  return { badLines, metricLines };
}

/** One non-empty line, its samples pushed to `samples`; returns its bad values (0 or more). */
function parseStatsdLine(line: string, samples: StatsdSample[]): number {
  if (lineTooLong(line)) return 1;
  const colon = line.indexOf(':');
  // No ':' means no value and no type: statsd reads it as '1' without a type, a bad line.
  if (colon < 0) return 1;
  const key = sanitizeStatsdKey(line.slice(0, colon));
  // The name before graphite tags must survive sanitising: `stats.counters..rate` helps nobody.
  if (key === '' || key.startsWith(';')) return 1;

  const rest = line.slice(colon + 1);
  // DogStatsD tags hold ':' (`#env:prod`): a line with tags is one value, never split on ':'.
  const parts = rest.includes('|#') ? [rest] : rest.split(':');
  let bad = 0;
  for (const part of parts) {
    const sample = parseValuePart(key, part);
    if (sample === undefined) bad++;
    else samples.push(sample);
  }
  return bad;
}

const CR = 0x0d;
const COLON = 0x3a;
const PIPE = 0x7c;
const AT = 0x40;

/** A key statsd leaves as it is (CLEAN_KEY), not starting with ';'. */
function cleanKeyEnd(line: string): number {
  for (let i = 0; i < line.length; i++) {
    const code = line.charCodeAt(i);
    if (code === COLON) return i > 0 && line.charCodeAt(0) !== 0x3b ? i : -1;
    const clean =
      (code >= 0x61 && code <= 0x7a) || // a-z
      (code >= 0x41 && code <= 0x5a) || // A-Z
      (code >= ZERO && code <= NINE) ||
      code === DOT ||
      code === 0x5f || // _
      code === MINUS ||
      code === 0x3b || // ;
      code === 0x3d; // =
    if (!clean) return -1;
  }
  return -1;
}

/**
 * The common line `key:value|type[|@rate]` (types c, ms, h, d, g), straight into the sink; returns
 * 0 (no bad value), or undefined to leave the line to the general parser (sets, tags, several
 * values, odd keys or numbers, anything the parser would refuse).
 */
function readCommonLine(line: string, sink: StatsdSink): number | undefined {
  if (line.length > MAX_STATSD_LINE_BYTES) return undefined;
  const colon = cleanKeyEnd(line);
  if (colon < 0) return undefined;
  const value = readPlainDecimal(line, colon + 1, line.length, PIPE);
  const pipe = plainDecimal.end;
  if (pipe < 0 || pipe >= line.length) return undefined;
  // The type runs to the end or to "|@rate".
  let typeEnd = line.indexOf('|', pipe + 1);
  let sampleRate = 1;
  if (typeEnd >= 0) {
    if (line.charCodeAt(typeEnd + 1) !== AT) return undefined;
    sampleRate = readPlainDecimal(line, typeEnd + 2, line.length, PIPE);
    if (plainDecimal.end !== line.length || !(sampleRate > 0 && sampleRate <= 1)) return undefined;
  } else {
    typeEnd = line.length;
  }
  const typeLength = typeEnd - pipe - 1;
  const type = line.charCodeAt(pipe + 1);
  const key = line.slice(0, colon);
  if (typeLength === 1 && type === 0x63 /* c */) {
    sink.counter(key, value, sampleRate);
  } else if (typeLength === 2 && type === 0x6d /* m */ && line.charCodeAt(pipe + 2) === 0x73 /* s */) {
    // statsd refuses a negative duration: the general parser counts it.
    if (value < 0) return undefined;
    sink.timer(key, value, sampleRate);
  } else if (typeLength === 1 && (type === 0x68 /* h */ || type === 0x64) /* d */) {
    sink.timer(key, value, sampleRate);
  } else if (typeLength === 1 && type === 0x67 /* g */) {
    const sign = line.charCodeAt(colon + 1);
    sink.gauge(key, value, sign === PLUS || sign === MINUS);
  } else {
    return undefined;
  }
  return 0;
}
