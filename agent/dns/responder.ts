// One query in, one answer out (or none): the DNS interface's decisions, apart from sockets.
// Parsing and encoding are dns-packet's; what is answered is decided here:
//   - a runt (under 12 bytes) or a response gets no answer; a packet that does not parse gets
//     FORMERR (its id and opcode read by hand), as does one with other than one question;
//   - an opcode other than QUERY: NOTIMP; a class other than IN (or ANY): REFUSED;
//   - a name outside the domain: forwarded to the recursors when there are any, else REFUSED;
//   - a name of the domain: its members' A or AAAA records (shuffled per answer), or NXDOMAIN
//     with the zone's SOA in the authority section (its minimum is the negative TTL); a name
//     that exists without records of the asked type: NOERROR, no answer, the SOA (NODATA);
//   - over UDP, an answer larger than the client's buffer (512 bytes, or its EDNS0 size) goes out
//     without its records and with TC set: the client asks again over TCP.
// Answers are written by encode.ts (names compressed), queries parsed by dns-packet.
import { isIPv4 } from 'node:net';
import dnsPacket, { type Packet, type Question } from 'dns-packet';
import type { Addresses, MemberDirectory } from './directory.js';
import { AnswerCache, answerFrom, readPlainQuery, type KeptAnswer } from './answer-cache.js';
import { encodeAnswer, nameWire, truncatedAnswer, type AnswerSpec } from './encode.js';
import { parseName } from './names.js';
import type { DnsTransport } from './stats.js';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type RcodeName = keyof typeof RCODE;

/** Without EDNS0, a UDP answer fits 512 bytes (RFC 1035). */
export const PLAIN_UDP_LIMIT = 512;
/** The largest UDP answer this server sends whatever the client offers, and what it offers back. */
export const EDNS_UDP_LIMIT = 1232;
const HEADER_BYTES = 12;
const QR = 0x8000;

export interface ResponderOptions {
  /** Normalised: `opsbro`. */
  domain: string;
  datacenter: string;
  /** Seconds: of every record, and the SOA's minimum (how long a NXDOMAIN may be cached). */
  ttl: number;
  /** Leave out members with a CRITICAL check in every group answer. */
  onlyPassing: boolean;
  directory: MemberDirectory;
  /** Sends a query outside the domain to the recursors; undefined when none is configured. */
  forward?: (query: Buffer, transport: DnsTransport) => Promise<Buffer | undefined>;
}

export interface DnsReply {
  bytes: Buffer;
  rcode: RcodeName;
  truncated: boolean;
  forwarded: boolean;
}

export class DnsResponder {
  private readonly apex: string;
  private readonly zoneLabels: number;
  private readonly cache = new AnswerCache();

  constructor(private readonly options: ResponderOptions) {
    this.apex = options.domain;
    this.zoneLabels = options.domain.split('.').length;
  }

  /**
   * The answer to a plain query whose answer is kept (answer-cache.ts), at once; undefined when
   * it must go the full way (respond()).
   */
  respondFromCache(query: Buffer, transport: DnsTransport): DnsReply | undefined {
    const plain = readPlainQuery(query, transport, ednsLimit);
    if (!plain) return undefined;
    const kept = this.cache.get(plain.key, this.options.directory.generation);
    if (!kept) return undefined;
    return {
      bytes: answerFrom(kept, query, plain.nameEnd),
      rcode: kept.rcode as RcodeName,
      truncated: kept.truncated,
      forwarded: false,
    };
  }

  /**
   * The answer to `query` the full way (the caller tried respondFromCache first), or undefined
   * when none is due (a response, a runt).
   */
  async respond(query: Buffer, transport: DnsTransport): Promise<DnsReply | undefined> {
    if (query.length < HEADER_BYTES || (query.readUInt16BE(2) & QR) !== 0) return undefined;
    let packet: Packet;
    try {
      packet = dnsPacket.decode(query);
    } catch {
      return bare(query, 'FORMERR');
    }
    // The opcode from the header itself (bits 11-14): 0 is QUERY.
    if (((query.readUInt16BE(2) >> 11) & 0x0f) !== 0) return bare(query, 'NOTIMP');
    const questions = packet.questions ?? [];
    if (questions.length !== 1) return bare(query, 'FORMERR');
    const question = questions[0]!;
    const udpLimit = udpLimitOf(packet);
    const raw = rawQuestionOf(query, transport, question.name);
    if (!raw) return bare(query, 'FORMERR');
    const answerWith = (rcode: RcodeName, parts: Partial<AnswerSpec> = {}): DnsReply =>
      this.encode(packet, question, raw, rcode, parts, transport === 'udp' ? udpLimit : 65_535);

    if (question.class !== 'IN' && question.class !== 'ANY') return answerWith('REFUSED');
    // A dot inside one of the name's labels: no name of ours (dns-packet joins labels with dots).
    const name = raw.dottedLabel ? ({ kind: 'outside' } as const) : parseName(question.name, this.apex);
    if (name.kind === 'outside') {
      if (!this.options.forward) return answerWith('REFUSED');
      const forwarded = await this.options.forward(query, transport);
      if (!forwarded) return answerWith('SERVFAIL');
      return { bytes: forwarded, rcode: rcodeOf(forwarded), truncated: false, forwarded: true };
    }
    const negative = { soa: this.soa('authority') };
    // dns-packet's types leave ANY out of the question's type; it decodes it all the same.
    const type = question.type as string;
    if (name.kind === 'apex') {
      if (type === 'SOA' || type === 'ANY') return answerWith('NOERROR', { soa: this.soa('answer') });
      if (type === 'NS') return answerWith('NOERROR', { ns: true });
      return answerWith('NOERROR', negative);
    }
    if (name.kind === 'unknown' || name.datacenter !== this.options.datacenter) {
      return answerWith('NXDOMAIN', negative);
    }
    const { directory } = this.options;
    const addresses =
      name.kind === 'group'
        ? directory.group(name.group, name.passingOnly || this.options.onlyPassing)
        : directory.node(name.node);
    if (!addresses) return answerWith('NXDOMAIN', negative);
    const records = this.records(type, addresses);
    return records.length ? answerWith('NOERROR', { addresses: records }) : answerWith('NOERROR', negative);
  }

  /** The addresses of the asked type; ANY gets the A and AAAA records, nothing more (RFC 8482). */
  private records(type: string, addresses: Addresses): string[] {
    const records: string[] = [];
    if (type === 'A' || type === 'ANY') records.push(...shuffled(addresses.v4));
    if (type === 'AAAA' || type === 'ANY') records.push(...shuffled(addresses.v6));
    return records;
  }

  private soa(section: 'answer' | 'authority'): AnswerSpec['soa'] {
    return { section, serial: this.options.directory.generation, minimum: this.options.ttl };
  }

  private encode(
    query: Packet,
    question: Question,
    raw: RawQuestion,
    rcode: RcodeName,
    parts: Partial<AnswerSpec>,
    limit: number,
  ): DnsReply {
    const edns = (query.additionals ?? []).some((record) => record.type === 'OPT');
    const recursionDesired = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
    const spec: AnswerSpec = {
      id: query.id ?? 0,
      flags:
        QR |
        dnsPacket.AUTHORITATIVE_ANSWER |
        recursionDesired |
        (this.options.forward ? dnsPacket.RECURSION_AVAILABLE : 0) |
        RCODE[rcode],
      questionWire: raw.wire ?? nameWire(question.name),
      questionType: raw.type,
      questionClass: raw.class,
      ttl: this.options.ttl,
      addresses: [],
      zoneLabels: this.zoneLabels,
      ...(edns ? { ednsUdpSize: EDNS_UDP_LIMIT } : {}),
      ...parts,
    };
    const whole = encodeAnswer(spec);
    const reply: DnsReply =
      whole.length <= limit
        ? { bytes: whole, rcode, truncated: false, forwarded: false }
        : {
            bytes: truncatedAnswer(spec, dnsPacket.TRUNCATED_RESPONSE),
            rcode,
            truncated: true,
            forwarded: false,
          };
    this.keep(raw, spec, reply);
    return reply;
  }

  /**
   * Keeps the answer of a plain query of the domain for the next ones (answer-cache.ts). Not the
   * others: a name outside the domain may be forwarded next time, where a recursor failed now.
   */
  private keep(raw: RawQuestion, spec: AnswerSpec, reply: DnsReply): void {
    if (raw.dottedLabel || parseName(raw.name, this.apex).kind === 'outside') return;
    const plain = readPlainQuery(raw.query, raw.transport, ednsLimit);
    if (!plain) return;
    const runs: KeptAnswer['runs'] = [];
    if (!reply.truncated) {
      // The address records come first in the answer section, the IPv4 ones then the IPv6 ones.
      const first = plain.nameEnd + 4;
      const v4 = spec.addresses.filter((address) => isIPv4(address)).length;
      const v6 = spec.addresses.length - v4;
      if (v4 > 1) runs.push({ at: first, size: 16, count: v4 });
      if (v6 > 1) runs.push({ at: first + v4 * 16, size: 28, count: v6 });
    }
    const { generation } = this.options.directory;
    this.cache.set(plain.key, generation, {
      bytes: reply.bytes,
      runs,
      rcode: reply.rcode,
      truncated: reply.truncated,
    });
  }
}

/** The client's UDP buffer: its EDNS0 size within [512, EDNS_UDP_LIMIT], or 512 without EDNS0. */
function udpLimitOf(packet: Packet): number {
  const opt = (packet.additionals ?? []).find((record) => record.type === 'OPT') as
    { udpPayloadSize?: number } | undefined;
  return ednsLimit(opt ? (opt.udpPayloadSize ?? PLAIN_UDP_LIMIT) : undefined);
}

/** The UDP answer size an EDNS0 buffer allows: within [512, EDNS_UDP_LIMIT]; 512 without EDNS0. */
function ednsLimit(ednsSize: number | undefined): number {
  if (ednsSize === undefined) return PLAIN_UDP_LIMIT;
  return Math.min(EDNS_UDP_LIMIT, Math.max(PLAIN_UDP_LIMIT, ednsSize));
}

/**
 * An answer of a header only, for a query that could not be parsed or is not served: its id and
 * opcode and RD echoed, QR and the rcode set (RFC 1035: a FORMERR carries what could be read).
 */
function bare(query: Buffer, rcode: RcodeName): DnsReply {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  const flags = query.readUInt16BE(2);
  // QR, the opcode (bits 11-14) and RD kept; the rest clear but the rcode.
  header.writeUInt16BE(QR | (flags & 0x7800) | (flags & 0x0100) | RCODE[rcode], 2);
  return { bytes: header, rcode, truncated: false, forwarded: false };
}

interface RawQuestion {
  query: Buffer;
  transport: DnsTransport;
  /** As dns-packet read it. */
  name: string;
  /** A label of the name holds a dot. */
  dottedLabel: boolean;
  /** The name's bytes as sent, when uncompressed (a pointer in a question is legal, and rare). */
  wire?: Buffer;
  type: number;
  class: number;
}

/**
 * The question as the client sent it, read from the query itself: the name's bytes (echoed
 * as they are, case and all) and its type and class as numbers (dns-packet names only the types
 * it knows). dns-packet has parsed the query already: the walk stays within it.
 */
function rawQuestionOf(query: Buffer, transport: DnsTransport, name: string): RawQuestion | undefined {
  let at = 12;
  let compressed = false;
  let dottedLabel = false;
  while (at < query.length) {
    const length = query[at]!;
    if (length === 0) {
      at += 1;
      break;
    }
    if ((length & 0xc0) === 0xc0) {
      compressed = true;
      at += 2;
      break;
    }
    if (query.subarray(at + 1, at + 1 + length).includes(0x2e)) dottedLabel = true;
    at += 1 + length;
  }
  if (at + 4 > query.length) return undefined;
  return {
    query,
    transport,
    name,
    dottedLabel,
    ...(compressed ? {} : { wire: query.subarray(12, at) }),
    type: query.readUInt16BE(at),
    class: query.readUInt16BE(at + 2),
  };
}

function rcodeOf(reply: Buffer): RcodeName {
  const code = reply.length >= 4 ? reply.readUInt16BE(2) & 0x0f : RCODE.SERVFAIL;
  const name = (Object.keys(RCODE) as RcodeName[]).find((key) => RCODE[key] === code);
  return name ?? 'SERVFAIL';
}

/** A new order per answer (Fisher-Yates), so clients spread over the members. */
function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}
