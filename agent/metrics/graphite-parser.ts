// Graphite's plaintext protocol (`path value [timestamp]`, one metric a line) for the agent's
// graphite listener: a line parser, and a splitter that cuts a TCP byte stream into lines. Pure: no
// socket, no clock (the caller passes "now"). Refusal is `undefined`, never an exception, because a
// client's bad line must only cost that line.
//
// The rules follow carbon (its plaintext receiver and graphite's TaggedSeries): fields split on
// whitespace, a timestamp of -1 or none means now, tags `path;name=value`. Stricter than carbon
// where carbon would store nonsense: NaN and infinite values, negative timestamps, non-ASCII paths.
import { isAscii } from 'node:buffer';

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
  return parseCommonLine(line, nowSeconds) ?? parseAnyLine(line, nowSeconds);
}

const ZERO = 0x30;
const NINE = 0x39;
const SPACE = 0x20;
const MINUS = 0x2d;
const DOT = 0x2e;
const SEMICOLON = 0x3b;
/** Powers of ten a double holds exactly: a mantissa under 2^53 divided by one is correctly rounded. */
const EXACT_POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i);
/** Where parseCommonDecimal leaves the index after the number it read (-1: not a common number). */
let decimalEnd = -1;

/**
 * `-?digits[.digits]` from `start` up to a space or the end, as Number() reads it; NaN (and
 * decimalEnd -1) for anything else, which the general parser then judges. At most 15 significant
 * digits, so the integer mantissa and its power of ten are both exact and their quotient is the
 * correctly rounded value (Clinger's fast path, the one strtod takes first).
 */
function parseCommonDecimal(line: string, start: number): number {
  decimalEnd = -1;
  let i = start;
  const negative = line.charCodeAt(i) === MINUS;
  if (negative) i++;
  let mantissa = 0;
  let digits = 0;
  let fraction = -1;
  for (; i < line.length; i++) {
    const code = line.charCodeAt(i);
    if (code >= ZERO && code <= NINE) {
      mantissa = mantissa * 10 + (code - ZERO);
      digits++;
      if (fraction >= 0) fraction++;
    } else if (code === DOT && fraction < 0) {
      fraction = 0;
    } else if (code === SPACE) {
      break;
    } else {
      return NaN;
    }
  }
  if (digits === 0 || digits > 15) return NaN;
  decimalEnd = i;
  const magnitude = fraction > 0 ? mantissa / EXACT_POWERS_OF_TEN[fraction]! : mantissa;
  return negative ? -magnitude : magnitude;
}

/**
 * The shape nearly every client writes, `path value timestamp` with single spaces, plain ASCII
 * path, no tags and plain decimals, read without regular expressions or splitting (a million lines
 * a second go through here). Undefined for anything else: the general parser decides those.
 */
function parseCommonLine(line: string, nowSeconds: number): GraphitePoint | undefined {
  const firstSpace = line.indexOf(' ');
  if (firstSpace <= 0 || firstSpace > MAX_GRAPHITE_PATH_BYTES) return undefined;
  for (let i = 0; i < firstSpace; i++) {
    const code = line.charCodeAt(i);
    if (code <= SPACE || code > 0x7e || code === SEMICOLON) return undefined;
  }
  const value = parseCommonDecimal(line, firstSpace + 1);
  if (decimalEnd < 0) return undefined;
  let timestamp = Math.floor(nowSeconds);
  if (decimalEnd < line.length) {
    const parsed = parseCommonDecimal(line, decimalEnd + 1);
    // A fraction of a second, a second space, a trailing one: the general parser's business.
    if (decimalEnd !== line.length || !Number.isInteger(parsed)) return undefined;
    if (parsed !== -1) {
      if (parsed < 0) return undefined;
      timestamp = parsed;
    }
  }
  return { path: line.slice(0, firstSpace), value, timestamp };
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
    let position = 0;
    // Fast path, nothing held: the chunk's whole lines are decoded at once and split, rather than
    // copied and decoded one by one (most of the cost at a million lines a second).
    if (this.length === 0 && !this.discarding && !this.pendingCR) position = this.wholeLines(chunk, lines);
    while (position < chunk.length) {
      const newline = chunk.indexOf(LF, position);
      const end = newline < 0 ? chunk.length : newline;

      if (this.discarding) {
        if (newline < 0) return lines;
        this.discarding = false;
        position = newline + 1;
        continue;
      }
      if (this.pendingCR) {
        this.pendingCR = false;
        // "\r" then "\n": the line ends here. Otherwise the '\r' was one of its bytes.
        if (end === position && newline >= 0) {
          this.emit(lines);
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
        return lines;
      }
      if (this.discarding) {
        // The line overflowed and its newline is in this very chunk: nothing more to skip.
        this.discarding = false;
      } else {
        this.emit(lines);
      }
      position = newline + 1;
    }
    return lines;
  }

  /**
   * The stream ended: its last line if it had no newline (none or one line). Carbon drops such a
   * line; `printf 'a.b 1 1700000000' | nc` is common enough to keep it.
   */
  end(): string[] {
    const lines: string[] = [];
    if (!this.discarding) this.emit(lines);
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
  private wholeLines(chunk: Uint8Array, lines: string[]): number {
    const last = chunk.lastIndexOf(LF);
    if (last < 0) return 0;
    const whole = chunk.subarray(0, last);
    // ASCII (what graphite clients send): a character is a byte, so the lines' lengths are their
    // byte counts and a one-byte string is all V8 has to make.
    if (isAscii(whole)) {
      for (const text of Buffer.from(whole.buffer, whole.byteOffset, whole.length)
        .toString('latin1')
        .split('\n')) {
        const line = text.endsWith('\r') ? text.slice(0, -1) : text;
        if (line.length === 0) continue;
        if (line.length > this.maxLineBytes) {
          this.oversized++;
          continue;
        }
        lines.push(line);
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
      lines.push(line);
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

  private emit(lines: string[]): void {
    if (this.length > 0 && this.buffer !== undefined) {
      lines.push(this.decoder.decode(this.buffer.subarray(0, this.length)));
    }
    this.length = 0;
  }
}
