// Graphite's plaintext protocol (`path value [timestamp]`, one metric a line) for the agent's
// graphite listener: a line parser, and a splitter that cuts a TCP byte stream into lines. Pure: no
// socket, no clock (the caller passes "now"). Refusal is `undefined`, never an exception, because a
// client's bad line must only cost that line.
//
// The rules follow carbon (its plaintext receiver and graphite's TaggedSeries): fields split on
// whitespace, a timestamp of -1 or none means now, tags `path;name=value`. Stricter than carbon
// where carbon would store nonsense: NaN and infinite values, negative timestamps, non-ASCII paths.
import { isAscii } from 'node:buffer';
import { plainDecimal, readPlainDecimal } from './plain-decimal.js';

export interface GraphitePoint {
  path: string;
  value: number;
  /** Whole seconds since the epoch. */
  timestamp: number;
}

/** Longest path accepted, in bytes (the path is ASCII, so also in characters). */
export const MAX_GRAPHITE_PATH_BYTES = 1024;
export const DEFAULT_MAX_LINE_BYTES = 4096;

const FIELD_SEPARATORS = /[ \t]+/;
// A decimal number; refuses Python float()'s 'nan', 'inf' and 'infinity' spellings by construction.
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
// Printable ASCII but space: what a graphite path may be made of (whitespace separates fields).
const PATH_CHARS = /^[\x21-\x7e]+$/;

function parseDecimal(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * Graphite's tag rules (TaggedSeries.validateTagAndValue): a tag is `name=value`, both non-empty;
 * the name without ';', '!', '^' or '='; the value without ';' and not starting with '~' (graphite
 * allows '~' further in: it only marks a regex match at the start of a query's value).
 */
function validTaggedPath(path: string): boolean {
  const segments = path.split(';');
  if ((segments[0] ?? '') === '') return false;
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    const equals = segment.indexOf('=');
    if (equals <= 0) return false;
    const name = segment.slice(0, equals);
    const value = segment.slice(equals + 1);
    if (/[!^]/.test(name)) return false;
    if (value === '' || value.startsWith('~')) return false;
  }
  return true;
}

/** One plaintext line (without its newline), or undefined if carbon should not store it. */
export function parseGraphiteLine(line: string, nowSeconds: number): GraphitePoint | undefined {
  return parseGraphiteLineAt(line, 0, line.length, nowSeconds);
}

/**
 * The line text[start, end) (without its newline): parseGraphiteLine without cutting the line out
 * of the chunk it came in first. Only the path is copied, and only for a line of the common shape.
 */
export function parseGraphiteLineAt(
  text: string,
  start: number,
  end: number,
  nowSeconds: number,
): GraphitePoint | undefined {
  let point: GraphitePoint | undefined;
  readGraphiteLineAt(text, start, end, nowSeconds, (path, timestamp, value) => {
    point = { path, value, timestamp };
  });
  return point;
}

/**
 * parseGraphiteLineAt for the listener: the point handed to `onPoint` instead of built as an
 * object (one less allocation a line at a million lines a second). False for a refused line.
 */
export function readGraphiteLineAt(
  text: string,
  start: number,
  end: number,
  nowSeconds: number,
  onPoint: (path: string, timestamp: number, value: number) => void,
): boolean {
  if (readCommonLine(text, start, end, nowSeconds)) {
    onPoint(commonPath, commonTimestamp, commonValue);
    return true;
  }
  const point = parseAnyLine(start === 0 && end === text.length ? text : text.slice(start, end), nowSeconds);
  if (point === undefined) return false;
  onPoint(point.path, point.timestamp, point.value);
  return true;
}

const SPACE = 0x20;
const SEMICOLON = 0x3b;

/** readCommonLine's point, when it returns true (module-level: no object per line). */
let commonPath = '';
let commonValue = 0;
let commonTimestamp = 0;

/**
 * The shape nearly every client writes, `path value timestamp` with single spaces, plain ASCII
 * path, no tags and plain decimals, read without regular expressions or splitting (a million lines
 * a second go through here) into commonPath/Value/Timestamp. False for anything else: the general
 * parser decides those.
 */
function readCommonLine(text: string, start: number, end: number, nowSeconds: number): boolean {
  let firstSpace = text.indexOf(' ', start);
  if (firstSpace < 0 || firstSpace >= end) firstSpace = -1;
  if (firstSpace <= start || firstSpace - start > MAX_GRAPHITE_PATH_BYTES) return false;
  for (let i = start; i < firstSpace; i++) {
    const code = text.charCodeAt(i);
    if (code <= SPACE || code > 0x7e || code === SEMICOLON) return false;
  }
  const value = readPlainDecimal(text, firstSpace + 1, end, SPACE);
  const valueEnd = plainDecimal.end;
  if (valueEnd < 0) return false;
  let timestamp = Math.floor(nowSeconds);
  if (valueEnd < end) {
    const parsed = readPlainDecimal(text, valueEnd + 1, end, SPACE);
    // A fraction of a second, a second space, a trailing one: the general parser's business.
    if (plainDecimal.end !== end || !Number.isInteger(parsed)) return false;
    if (parsed !== -1) {
      if (parsed < 0) return false;
      timestamp = parsed;
    }
  }
  commonPath = text.slice(start, firstSpace);
  commonValue = value;
  commonTimestamp = timestamp;
  return true;
}

/**
 * Any line carbon takes: whitespace runs, tabs, tags, exponents and the rest. Exported as the
 * reference the common-shape reader must agree with (a test feeds both random lines).
 */
export function parseAnyLine(line: string, nowSeconds: number): GraphitePoint | undefined {
  const fields = line.trim().split(FIELD_SEPARATORS);
  if (fields.length < 2 || fields.length > 3) return undefined;
  const [path, valueText, timestampText] = fields as [string, string, string | undefined];

  if (path.length === 0 || path.length > MAX_GRAPHITE_PATH_BYTES || !PATH_CHARS.test(path)) return undefined;
  if (path.includes(';') && !validTaggedPath(path)) return undefined;

  const value = parseDecimal(valueText);
  if (value === undefined) return undefined;

  let timestamp = Math.floor(nowSeconds);
  if (timestampText !== undefined) {
    const parsed = parseDecimal(timestampText);
    if (parsed === undefined) return undefined;
    // -1 is carbon's "now" (clients that do not know the time send it); other negatives are junk.
    if (parsed !== -1) {
      if (parsed < 0) return undefined;
      timestamp = Math.floor(parsed);
    }
  }
  return { path, value, timestamp };
}

/** A line as text[start, end). */
export type LineVisitor = (text: string, start: number, end: number) => void;

const LF = 0x0a;
const CR = 0x0d;

/**
 * Cuts a TCP stream into lines ('\n' or '\r\n' ended). Holds at most maxLineBytes of an unfinished
 * line: a line growing past it is counted in `oversizedLines` and skipped up to its newline, so a
 * client that never sends one cannot make us buffer without bound. Empty lines are skipped.
 */
export class GraphiteLineSplitter {
  private readonly maxLineBytes: number;
  private readonly decoder = new TextDecoder('utf-8');
  private buffer: Uint8Array | undefined;
  private length = 0;
  // A '\r' that ended the last chunk: a terminator if '\n' follows, else a byte of the line. Kept
  // as a flag rather than in the buffer so that a line of exactly maxLineBytes fits with its '\r'.
  private pendingCR = false;
  private discarding = false;
  private oversized = 0;

  /** `maxLineBytes`: the longest line kept, in bytes, its '\n' and a '\r' before it not counted. */
  constructor(maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new RangeError(`maxLineBytes ${maxLineBytes}: must be a positive integer`);
    }
    this.maxLineBytes = maxLineBytes;
  }

  /** Lines refused for being longer than maxLineBytes, since construction. */
  get oversizedLines(): number {
    return this.oversized;
  }

  /** Bytes of the unfinished line held now (never more than maxLineBytes). */
  get pendingBytes(): number {
    return this.length;
  }

  /** Takes the next chunk of the stream; returns the lines it completed, in order. */
  push(chunk: Uint8Array): string[] {
    const lines: string[] = [];
    this.pushEach(chunk, (text, start, end) => lines.push(text.slice(start, end)));
    return lines;
  }

  /**
   * push(), each completed line given as text[start, end) rather than as its own string: the TCP
   * listener's path, which parses a line where it lies (a million lines a second).
   */
  pushEach(chunk: Uint8Array, onLine: LineVisitor): void {
    let position = 0;
    // Fast path, nothing held: the chunk's whole lines are decoded at once and split, rather than
    // copied and decoded one by one (most of the cost at a million lines a second).
    if (this.length === 0 && !this.discarding && !this.pendingCR) position = this.wholeLines(chunk, onLine);
    while (position < chunk.length) {
      const newline = chunk.indexOf(LF, position);
      const end = newline < 0 ? chunk.length : newline;

      if (this.discarding) {
        if (newline < 0) return;
        this.discarding = false;
        position = newline + 1;
        continue;
      }
      if (this.pendingCR) {
        this.pendingCR = false;
        // "\r" then "\n": the line ends here. Otherwise the '\r' was one of its bytes.
        if (end === position && newline >= 0) {
          this.emit(onLine);
          position = newline + 1;
          continue;
        }
        this.append(new Uint8Array([CR]));
        if (this.discarding) continue;
      }

      let contentEnd = end;
      const endsWithCR = end > position && chunk[end - 1] === CR;
      if (endsWithCR) contentEnd--;
      this.append(chunk.subarray(position, contentEnd));
      if (newline < 0) {
        if (endsWithCR && !this.discarding) this.pendingCR = true;
        return;
      }
      if (this.discarding) {
        // The line overflowed and its newline is in this very chunk: nothing more to skip.
        this.discarding = false;
      } else {
        this.emit(onLine);
      }
      position = newline + 1;
    }
  }

  /**
   * The stream ended: its last line if it had no newline (none or one line). Carbon drops such a
   * line; `printf 'a.b 1 1700000000' | nc` is common enough to keep it.
   */
  end(): string[] {
    const lines: string[] = [];
    if (!this.discarding) this.emit((text, start, end) => lines.push(text.slice(start, end)));
    this.discarding = false;
    this.pendingCR = false;
    this.length = 0;
    return lines;
  }

  /**
   * Appends the lines that end in `chunk` (up to its last '\n'), with the slow path's rules: a '\r'
   * before the '\n' dropped, empty lines skipped, a line over maxLineBytes counted and skipped.
   * Returns where the rest (an unfinished line) starts.
   */
  private wholeLines(chunk: Uint8Array, onLine: LineVisitor): number {
    const last = chunk.lastIndexOf(LF);
    if (last < 0) return 0;
    const whole = chunk.subarray(0, last);
    // ASCII (what graphite clients send): a character is a byte, so the lines' lengths are their
    // byte counts and a one-byte string is all V8 has to make.
    if (isAscii(whole)) {
      const text = Buffer.from(whole.buffer, whole.byteOffset, whole.length).toString('latin1');
      for (let start = 0; start <= text.length;) {
        let end = text.indexOf('\n', start);
        if (end < 0) end = text.length;
        const next = end + 1;
        if (end > start && text.charCodeAt(end - 1) === CR) end--;
        if (end - start > this.maxLineBytes) this.oversized++;
        else if (end > start) onLine(text, start, end);
        start = next;
      }
      return last + 1;
    }
    const texts = this.decoder.decode(chunk.subarray(0, last)).split('\n');
    // A '\n' byte never belongs to a multi-byte character: the pieces are the byte segments.
    let start = 0;
    for (const text of texts) {
      const newline = chunk.indexOf(LF, start);
      const end = newline < 0 ? last : newline;
      let bytes = end - start;
      let line = text;
      if (bytes > 0 && chunk[end - 1] === CR) {
        bytes--;
        line = line.slice(0, -1);
      }
      start = end + 1;
      if (bytes === 0) continue;
      if (bytes > this.maxLineBytes) {
        this.oversized++;
        continue;
      }
      onLine(line, 0, line.length);
    }
    return last + 1;
  }

  private append(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.length + bytes.length > this.maxLineBytes) {
      this.oversized++;
      this.discarding = true;
      this.length = 0;
      return;
    }
    this.buffer ??= new Uint8Array(this.maxLineBytes);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  private emit(onLine: LineVisitor): void {
    if (this.length > 0 && this.buffer !== undefined) {
      const line = this.decoder.decode(this.buffer.subarray(0, this.length));
      onLine(line, 0, line.length);
    }
    this.length = 0;
  }
}
