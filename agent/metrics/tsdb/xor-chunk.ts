// A compressed run of (timestamp, value) points of one series, as Gorilla (Facebook, VLDB 2015)
// and Prometheus' tsdb/chunkenc/xor.go encode them: timestamps as delta-of-deltas (a point every
// step costs one bit), values as the XOR with the previous value (an unchanged value costs one
// bit; a slowly changing one a dozen or so). Whisper spends 12 bytes a point; a regular series
// costs here between 1 and 3 bytes. Timestamps are whole seconds, points in increasing time order.
//
// Layout: a 2-byte point count, then the bit stream: the first timestamp (32 bits) and value
// (64 bits) raw, the second timestamp's delta (14 bits... up to 32), then per point a
// delta-of-delta class and a value XOR class.

/**
 * The most bits one point takes: the first is 128 (timestamp 32, value 64, with room); any other
 * at most 36 for its time (4 + 32) and 77 for its value (2 + 5 + 6 + 64).
 */
const MAX_POINT_BITS = 128;

/** Grows as points are appended; reads back with `points()`. */
export class XorChunk {
  private bytes: Uint8Array;
  /** Bits written so far. */
  private bitLength = 16;
  private count = 0;
  private lastTimestamp = 0;
  private lastDelta = 0;
  /** The previous value's bits (high and low 32). */
  private lastHigh = 0;
  private lastLow = 0;
  /** Leading and trailing zero counts of the last XOR written with its own window (65: none yet). */
  private windowLeading = 65;
  private windowTrailing = 0;

  constructor(initialBytes = 32) {
    this.bytes = new Uint8Array(Math.max(initialBytes, 4));
  }

  /** Points in the chunk. */
  get length(): number {
    return this.count;
  }

  get firstTimestamp(): number | undefined {
    return this.count === 0 ? undefined : readBits(this.bytes, 16, 32);
  }

  get lastTimestampSeconds(): number | undefined {
    return this.count === 0 ? undefined : this.lastTimestamp;
  }

  /** Encoded size so far. */
  get byteLength(): number {
    return Math.ceil(this.bitLength / 8);
  }

  /**
   * Appends a point; `timestamp` (whole seconds, 0..2^32-1) must be after the last one. A chunk
   * holds at most 65,535 points.
   */
  append(timestamp: number, value: number): void {
    if (!Number.isInteger(timestamp) || timestamp < 0 || timestamp > 0xffff_ffff)
      throw new RangeError(`timestamp ${timestamp} is not whole seconds in 0..2^32-1`);
    if (this.count > 0 && timestamp <= this.lastTimestamp)
      throw new RangeError(`timestamp ${timestamp} is not after the chunk's last (${this.lastTimestamp})`);
    if (this.count >= 0xffff) throw new RangeError('a chunk holds at most 65,535 points');
    // Room for the largest point once, rather than a check in each of its few writes.
    this.ensure(this.bitLength + MAX_POINT_BITS);
    FLOAT[0] = value;
    const high = WORDS[HIGH]!;
    const low = WORDS[LOW]!;
    if (this.count === 0) {
      this.write(timestamp, 32);
      this.write(high, 32);
      this.write(low, 32);
    } else {
      const delta = timestamp - this.lastTimestamp;
      if (this.count === 1) this.writeDelta(delta);
      else this.writeDeltaOfDelta(delta - this.lastDelta);
      this.lastDelta = delta;
      this.writeValue(high ^ this.lastHigh, low ^ this.lastLow);
    }
    this.lastTimestamp = timestamp;
    this.lastHigh = high;
    this.lastLow = low;
    this.count++;
    this.bytes[0] = this.count >>> 8;
    this.bytes[1] = this.count & 0xff;
  }

  /** The encoded chunk (a copy, exactly byteLength long). */
  encode(): Uint8Array {
    return this.bytes.slice(0, this.byteLength);
  }

  /** The encoded chunk without a copy: valid until the next append. */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.byteLength);
  }

  /** The chunk's points, in time order. */
  points(): Array<[timestamp: number, value: number]> {
    return decodeXorChunk(this.view());
  }

  /** Calls `visit` with each point, in time order (see forEachXorPoint). */
  forEachPoint(visit: (timestamp: number, value: number) => boolean | void): void {
    forEachXorPoint(this.view(), visit);
  }

  /** Rebuilds an appendable chunk from encode()'s bytes (a head chunk read back after a restart). */
  static decode(encoded: Uint8Array): XorChunk {
    const chunk = new XorChunk(encoded.byteLength + 16);
    forEachXorPoint(encoded, (timestamp, value) => chunk.append(timestamp, value));
    return chunk;
  }

  private writeDelta(delta: number): void {
    // The first delta: up to 2^32; 14 bits cover up to 4.5 hours, the common case.
    if (delta < 1 << 14) {
      this.write(0, 1);
      this.write(delta, 14);
    } else {
      this.write(1, 1);
      this.write(delta, 32);
    }
  }

  private writeDeltaOfDelta(dod: number): void {
    if (dod === 0) this.write(0, 1);
    else if (dod >= -63 && dod <= 64) {
      this.write(0b10, 2);
      this.write(dod + 63, 7);
    } else if (dod >= -255 && dod <= 256) {
      this.write(0b110, 3);
      this.write(dod + 255, 9);
    } else if (dod >= -2047 && dod <= 2048) {
      this.write(0b1110, 4);
      this.write(dod + 2047, 12);
    } else {
      // Any delta fits 33 bits signed; as the delta itself is positive, write it whole instead.
      this.write(0b1111, 4);
      this.write(dod + this.lastDelta, 32);
    }
  }

  private writeValue(xorHigh: number, xorLow: number): void {
    if (xorHigh === 0 && xorLow === 0) {
      this.write(0, 1);
      return;
    }
    const leading = Math.min(leadingZeros(xorHigh, xorLow), 31);
    const trailing = trailingZeros(xorHigh, xorLow);
    if (this.windowLeading !== 65 && leading >= this.windowLeading && trailing >= this.windowTrailing) {
      // Fits the previous window: '10' and the meaningful bits in it.
      this.write(0b10, 2);
      this.writeMeaningful(xorHigh, xorLow, this.windowLeading, this.windowTrailing);
      return;
    }
    this.windowLeading = leading;
    this.windowTrailing = trailing;
    const significant = 64 - leading - trailing;
    this.write(0b11, 2);
    this.write(leading, 5);
    // 64 significant bits are written as 0 (6 bits cannot hold 64, and 0 never occurs otherwise).
    this.write(significant & 63, 6);
    this.writeMeaningful(xorHigh, xorLow, leading, trailing);
  }

  /** Bits [leading, 64 - trailing) of the 64-bit word high:low, most significant first. */
  private writeMeaningful(high: number, low: number, leading: number, trailing: number): void {
    const first = leading;
    const end = 64 - trailing;
    if (first < 32) {
      const upTo = Math.min(end, 32);
      this.write(bitsOf(high, first, upTo), upTo - first);
    }
    if (end > 32) {
      const from = Math.max(first, 32);
      this.write(bitsOf(low, from - 32, end - 32), end - from);
    }
  }

  /** Writes the low `width` bits of `value` (width <= 32), most significant first. */
  private write(value: number, width: number): void {
    if (width === 0) return;
    for (let remaining = width; remaining > 0;) {
      const byteIndex = this.bitLength >>> 3;
      const bitOffset = this.bitLength & 7;
      const room = 8 - bitOffset;
      const take = Math.min(room, remaining);
      const shift = remaining - take;
      const bits = (value >>> shift) & ((1 << take) - 1);
      this.bytes[byteIndex]! |= bits << (room - take);
      this.bitLength += take;
      remaining -= take;
    }
  }

  private ensure(bits: number): void {
    const needed = Math.ceil(bits / 8);
    if (needed <= this.bytes.byteLength) return;
    const grown = new Uint8Array(Math.max(needed, this.bytes.byteLength * 2));
    grown.set(this.bytes);
    this.bytes = grown;
  }
}

/** The points of an encoded chunk; throws on bytes that are not one. */
export function decodeXorChunk(encoded: Uint8Array): Array<[number, number]> {
  const points: Array<[number, number]> = [];
  forEachXorPoint(encoded, (timestamp, value) => {
    points.push([timestamp, value]);
  });
  return points;
}

/**
 * Calls `visit` with each point of an encoded chunk, in time order, until it returns false; throws
 * on bytes that are not a chunk. What a render reads: no array or generator step per point (a
 * render of 100 series over a day goes through 864,000 of them).
 */
export function forEachXorPoint(
  encoded: Uint8Array,
  visit: (timestamp: number, value: number) => boolean | void,
): void {
  if (encoded.byteLength < 2) throw new Error('a chunk is at least 2 bytes');
  const count = (encoded[0]! << 8) | encoded[1]!;
  const reader = new BitReader(encoded, 16);
  let timestamp = 0;
  let delta = 0;
  let high = 0;
  let low = 0;
  let leading = 0;
  let trailing = 0;
  for (let index = 0; index < count; index++) {
    if (index === 0) {
      timestamp = reader.read(32);
      high = reader.read(32);
      low = reader.read(32);
    } else {
      if (index === 1) delta = reader.read(1) === 0 ? reader.read(14) : reader.read(32);
      else delta += readDeltaOfDelta(reader, delta);
      timestamp += delta;
      if (reader.read(1) === 1) {
        if (reader.read(1) === 1) {
          leading = reader.read(5);
          const significant = reader.read(6) || 64;
          trailing = 64 - leading - significant;
          if (trailing < 0) throw new Error('a chunk with an impossible value window');
        }
        readMeaningful(reader, leading, trailing);
        high ^= meaningfulHigh;
        low ^= meaningfulLow;
      }
    }
    WORDS[HIGH] = high;
    WORDS[LOW] = low;
    if (visit(timestamp, FLOAT[0]!) === false) return;
  }
}

function readDeltaOfDelta(reader: BitReader, delta: number): number {
  if (reader.read(1) === 0) return 0;
  if (reader.read(1) === 0) return reader.read(7) - 63;
  if (reader.read(1) === 0) return reader.read(9) - 255;
  if (reader.read(1) === 0) return reader.read(12) - 2047;
  return reader.read(32) - delta;
}

/** readMeaningful's result: two module-level words rather than a pair allocated per point. */
let meaningfulHigh = 0;
let meaningfulLow = 0;

function readMeaningful(reader: BitReader, leading: number, trailing: number): void {
  const end = 64 - trailing;
  let high = 0;
  let low = 0;
  if (leading < 32) {
    const upTo = Math.min(end, 32);
    high = (reader.read(upTo - leading) << (32 - upTo)) >>> 0;
    if (upTo - leading === 32) high = high >>> 0;
  }
  if (end > 32) {
    const from = Math.max(leading, 32);
    const width = end - from;
    low = width === 32 ? reader.read(32) : (reader.read(width) << (64 - end)) >>> 0;
  }
  meaningfulHigh = high >>> 0;
  meaningfulLow = low >>> 0;
}

class BitReader {
  constructor(
    private readonly bytes: Uint8Array,
    private position: number,
  ) {}

  /** The next `width` bits (<= 32) as an unsigned number. */
  read(width: number): number {
    if (this.position + width > this.bytes.byteLength * 8) throw new Error('a chunk ends mid-point');
    const value = readBits(this.bytes, this.position, width);
    this.position += width;
    return value;
  }
}

function readBits(bytes: Uint8Array, position: number, width: number): number {
  let value = 0;
  for (let remaining = width; remaining > 0;) {
    const byte = bytes[position >>> 3]!;
    const bitOffset = position & 7;
    const room = 8 - bitOffset;
    const take = Math.min(room, remaining);
    const bits = (byte >>> (room - take)) & ((1 << take) - 1);
    // Multiplication, not <<: a 32-bit result must stay unsigned.
    value = value * (1 << take) + bits;
    position += take;
    remaining -= take;
  }
  return value;
}

/** Bits [from, to) of a 32-bit word, most significant first, as an unsigned number. */
function bitsOf(word: number, from: number, to: number): number {
  const width = to - from;
  if (width === 32) return word >>> 0;
  return (word >>> (32 - to)) & ((1 << width) - 1);
}

function leadingZeros(high: number, low: number): number {
  return high !== 0 ? Math.clz32(high) : 32 + Math.clz32(low);
}

function trailingZeros(high: number, low: number): number {
  if (low !== 0) return 31 - Math.clz32(low & -low);
  return 32 + 31 - Math.clz32(high & -high);
}

// A float's bits as two 32-bit words, in the machine's byte order.
const FLOAT = new Float64Array(1);
const WORDS = new Uint32Array(FLOAT.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HIGH = LITTLE_ENDIAN ? 1 : 0;
const LOW = LITTLE_ENDIAN ? 0 : 1;
