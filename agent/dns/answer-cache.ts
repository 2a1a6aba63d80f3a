// The answers of the common queries, kept as bytes until the member list is rebuilt. Measured
// (bench:dns): building each answer (dns-packet's parse, the directory, the encoder, a promise)
// cost ~40 µs a query; a hit here reads the question by hand, copies the kept answer, puts the
// client's id and spelling of the name in it and shuffles its records: a few µs.
//
// Only a plain query is read here: QR 0, opcode QUERY, one question of class IN, no other record
// but one EDNS0 OPT, a name without compression. Anything else goes the full way (responder.ts).
// What a stranger can make it hold is bounded: MAX_ENTRIES answers (random names fill it with
// NXDOMAINs; it is emptied when full).

import { asciiLowerCase } from './names.js';

export const MAX_ENTRIES = 4096;
const HEADER = 12;
const TYPE_OPT = 41;
const CLASS_IN = 1;
const DOT = 0x2e;

/** A plain query as read here. */
export interface PlainQuery {
  /** Lower-cased name, type, UDP limit (0 for TCP), RD: what the answer depends on. */
  key: string;
  /** End of the question's name (its root label included). */
  nameEnd: number;
}

/** A kept answer: its bytes, and where its address records lie (rotated per answer). */
export interface KeptAnswer {
  bytes: Buffer;
  /** Runs of same-size address records: offset of the first, record size, count. */
  runs: Array<{ at: number; size: number; count: number }>;
  rcode: string;
  truncated: boolean;
}

/** Reads `query` if it is plain, else undefined. `udpLimit(size)`: the answer size its EDNS allows. */
export function readPlainQuery(
  query: Buffer,
  transport: 'udp' | 'tcp',
  udpLimit: (ednsSize: number | undefined) => number,
): PlainQuery | undefined {
  if (query.length < HEADER + 5) return undefined;
  const flags = query.readUInt16BE(2);
  // QR 0, opcode 0 (bits 11-14); one question, no answer or authority, at most one additional.
  if ((flags & 0xf800) !== 0 || query.readUInt16BE(4) !== 1) return undefined;
  if (query.readUInt16BE(6) !== 0 || query.readUInt16BE(8) !== 0) return undefined;
  const additionals = query.readUInt16BE(10);
  if (additionals > 1) return undefined;
  let at = HEADER;
  for (;;) {
    const length = query[at];
    if (length === undefined || length > 63) return undefined; // a pointer, or cut short
    // A dot inside a label (legal, never one of ours): the full way decides.
    const dot = length > 0 ? query.indexOf(DOT, at + 1) : -1;
    if (dot !== -1 && dot <= at + length) return undefined;
    at += 1 + length;
    if (length === 0) break;
    if (at - HEADER > 255) return undefined;
  }
  const nameEnd = at;
  if (at + 4 > query.length) return undefined;
  const type = query.readUInt16BE(at);
  if (query.readUInt16BE(at + 2) !== CLASS_IN) return undefined;
  at += 4;
  let ednsSize: number | undefined;
  if (additionals === 1) {
    // The OPT record: root name, type 41, class = UDP size, TTL = version and flags, rdata.
    if (at + 11 > query.length || query[at] !== 0 || query.readUInt16BE(at + 1) !== TYPE_OPT)
      return undefined;
    ednsSize = query.readUInt16BE(at + 3);
    // Version 0 and no option only: anything else goes the full way, which parses it all.
    if (query[at + 6] !== 0 || query.readUInt16BE(at + 9) !== 0) return undefined;
    at += 11;
  }
  if (at !== query.length) return undefined;
  const limit = transport === 'tcp' ? 0 : udpLimit(ednsSize);
  const name = asciiLowerCase(query.toString('latin1', HEADER, nameEnd));
  const rd = (flags >> 8) & 1;
  return { key: `${name}|${type}|${limit}|${rd}|${ednsSize === undefined ? 0 : 1}`, nameEnd };
}

export class AnswerCache {
  private readonly entries = new Map<string, KeptAnswer>();
  private generation = -1;

  /** The kept answer for `key` if the member list has not been rebuilt since (`generation`). */
  get(key: string, generation: number): KeptAnswer | undefined {
    if (generation !== this.generation) {
      this.entries.clear();
      this.generation = generation;
      return undefined;
    }
    return this.entries.get(key);
  }

  set(key: string, generation: number, answer: KeptAnswer): void {
    if (generation !== this.generation) {
      this.entries.clear();
      this.generation = generation;
    }
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(key, answer);
  }
}

/**
 * The kept answer for this query: a copy with the query's id and name bytes (its case), and each
 * run of address records rotated by a random offset. The records were shuffled when the answer
 * was built (at least once a second, as the member list is rebuilt); rotating them makes every
 * member as likely to come first in each answer, for two memory copies. Shuffling 50 records
 * anew byte by byte took ~25% of the agent's time under dnsperf (bench:dns).
 */
export function answerFrom(kept: KeptAnswer, query: Buffer, nameEnd: number): Buffer {
  const source = kept.bytes;
  const bytes = Buffer.allocUnsafe(source.length);
  source.copy(bytes);
  bytes[0] = query[0]!;
  bytes[1] = query[1]!;
  query.copy(bytes, HEADER, HEADER, nameEnd);
  for (const { at, size, count } of kept.runs) {
    const first = Math.floor(Math.random() * count);
    if (first === 0) continue;
    const end = at + count * size;
    const split = at + first * size;
    source.copy(bytes, at, split, end);
    source.copy(bytes, at + (end - split), at, split);
  }
  return bytes;
}
