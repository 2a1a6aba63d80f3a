// Answers written by hand, for one reason measured: dns-packet writes every owner name in full
// (no compression), so the answer of 40 A records for `big.group.dc1.opsbro` takes 1,478 bytes
// where one that points back at the question takes 678, and a 1232-byte EDNS0 buffer would not
// hold it.
// Every name written here is the question's name or a suffix of it (the zone), so every one is a
// pointer into the question (RFC 1035 4.1.4). Queries are still parsed by dns-packet.
import { isIPv4 } from 'node:net';

/** What an answer holds; every owner name is the question's, or the zone's (a suffix of it). */
export interface AnswerSpec {
  id: number;
  /** The header's flags, rcode included. */
  flags: number;
  /** The question's name in wire form, as the client sent it (its case and bytes kept). */
  questionWire: Buffer;
  questionType: number;
  questionClass: number;
  ttl: number;
  addresses: readonly string[];
  /** The zone's SOA, in the answer (a SOA query) or the authority section (a negative answer). */
  soa?: { section: 'answer' | 'authority'; serial: number; minimum: number };
  /** The zone's NS, in the answer. */
  ns?: boolean;
  /** An OPT record offering this UDP size (the query had one). */
  ednsUdpSize?: number;
  /** How many labels at the end of the question's name are the zone (`opsbro`: 1). */
  zoneLabels: number;
}

const TYPE = { A: 1, NS: 2, SOA: 6, AAAA: 28, OPT: 41 } as const;
const CLASS_IN = 1;
const POINTER = 0xc000;

export function encodeAnswer(spec: AnswerSpec): Buffer {
  const wire = spec.questionWire;
  const out = Buffer.allocUnsafe(12 + wire.length + 4 + spec.addresses.length * 28 + 160);
  // The question, its name in full: the pointers below point into it.
  wire.copy(out, 12);
  const labelOffsets: number[] = [];
  for (let offset = 0; wire[offset]! > 0; offset += 1 + wire[offset]!) labelOffsets.push(12 + offset);
  let at = 12 + wire.length;
  at = out.writeUInt16BE(spec.questionType, at);
  at = out.writeUInt16BE(spec.questionClass, at);
  const questionPointer = POINTER | 12;
  const zoneOffset = labelOffsets[labelOffsets.length - spec.zoneLabels] ?? 12;
  const zonePointer = POINTER | zoneOffset;

  let answers = 0;
  let authorities = 0;
  const record = (owner: number, type: number, ttl: number): number => {
    at = out.writeUInt16BE(owner, at);
    at = out.writeUInt16BE(type, at);
    at = out.writeUInt16BE(CLASS_IN, at);
    at = out.writeUInt32BE(ttl, at);
    return at; // where the rdata length goes
  };
  /** A record whose rdata `write` puts at `at`: its length is set after. */
  const withRdata = (owner: number, type: number, write: () => void): void => {
    const lengthAt = record(owner, type, spec.ttl);
    at = lengthAt + 2;
    write();
    out.writeUInt16BE(at - lengthAt - 2, lengthAt);
  };
  for (const address of spec.addresses) {
    const v4 = isIPv4(address);
    const bytes = v4 ? ipv4Bytes(address) : ipv6Bytes(address);
    withRdata(questionPointer, v4 ? TYPE.A : TYPE.AAAA, () => {
      for (const byte of bytes) out[at++] = byte;
    });
    answers++;
  }
  if (spec.ns) {
    withRdata(zonePointer, TYPE.NS, () => (at = writeLabelThenPointer(out, at, 'ns', zonePointer)));
    answers++;
  }
  if (spec.soa) {
    const { serial, minimum } = spec.soa;
    withRdata(zonePointer, TYPE.SOA, () => {
      at = writeLabelThenPointer(out, at, 'ns', zonePointer);
      at = writeLabelThenPointer(out, at, 'hostmaster', zonePointer);
      at = out.writeUInt32BE(serial, at);
      at = out.writeUInt32BE(3600, at); // refresh
      at = out.writeUInt32BE(600, at); // retry
      at = out.writeUInt32BE(86_400, at); // expire
      at = out.writeUInt32BE(minimum, at);
    });
    if (spec.soa.section === 'answer') answers++;
    else authorities++;
  }
  let additionals = 0;
  if (spec.ednsUdpSize !== undefined) {
    out[at++] = 0; // the root
    at = out.writeUInt16BE(TYPE.OPT, at);
    at = out.writeUInt16BE(spec.ednsUdpSize, at);
    at = out.writeUInt32BE(0, at); // extended rcode, version 0, no flags
    at = out.writeUInt16BE(0, at); // no options
    additionals++;
  }
  out.writeUInt16BE(spec.id, 0);
  out.writeUInt16BE(spec.flags, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(answers, 6);
  out.writeUInt16BE(authorities, 8);
  out.writeUInt16BE(additionals, 10);
  return out.subarray(0, at);
}

/** The same answer, cut to its question (and OPT) with TC set: the client asks again over TCP. */
export function truncatedAnswer(spec: AnswerSpec, tcFlag: number): Buffer {
  return encodeAnswer({ ...spec, flags: spec.flags | tcFlag, addresses: [], soa: undefined, ns: false });
}

function writeLabelThenPointer(out: Buffer, at: number, label: string, pointer: number): number {
  out[at++] = label.length;
  at += out.write(label, at, 'ascii');
  return out.writeUInt16BE(pointer, at);
}

function ipv4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

/** 16 bytes of an IPv6 literal (`::` expanded, a trailing dotted IPv4 taken as the last 4). */
export function ipv6Bytes(address: string): number[] {
  let text = address.split('%')[0]!;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    tail.push(...ipv4Bytes(dotted[1]!));
    text = text.slice(0, -dotted[1]!.length) + '0:0';
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const groups =
    rest === undefined
      ? left
      : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = groups.flatMap((group) => {
    const value = parseInt(group || '0', 16);
    return [value >> 8, value & 0xff];
  });
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** A name in wire form, uncompressed: each label behind its length, then the root (0). */
export function nameWire(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([
    ...labels.map((label) => {
      const bytes = Buffer.from(label, 'utf8').subarray(0, 63);
      return Buffer.concat([Buffer.from([bytes.length]), bytes]);
    }),
    Buffer.from([0]),
  ]);
}
