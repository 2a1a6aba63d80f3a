// The gossip wire format: a packet is a msgpack array [version, senderId, sequence, messages],
// each message a msgpack array whose first element is its type. Everything received is checked
// here, at the edge: the rest of the gossip code only ever sees well-formed, typed messages.
import type { CheckSummary } from '../shared/api-types.js';
import {
  type CheckDelta,
  deltaFromWire,
  deltaToWire,
  summaryFromWire,
  summaryToWire,
} from './check-codec.js';
import {
  bounded,
  count,
  DecodeError,
  encode,
  id,
  isCount,
  port,
  safeDecode,
  stringList,
  text,
} from './wire-fields.js';

export { DecodeError } from './wire-fields.js';

export const WIRE_VERSION = 1;

/** What gossip carries about a node, cluster-wide. */
export interface NodeRecord {
  id: string;
  name: string;
  /** Address and UDP port other nodes send gossip to. */
  address: string;
  port: number;
  /** Cluster RPC (libp2p) port and peer id, for push-pull. */
  rpcPort: number;
  peerId: string;
  datacenter: string;
  groups: string[];
  /**
   * The node's checks in short: its table's version, counts per state, whether an override is set
   * (check-codec.ts). The table itself spreads as check deltas and is fetched over the RPC.
   */
  checks: CheckSummary;
  version: string;
  /** Fingerprints of the cluster keys this node holds, and of its primary (for `gossip keys list`). */
  keys: string[];
  primaryKey: string;
  /**
   * The generation of this node's keyring (key-generation.ts): with `primaryKey` and `keys`, the
   * keyring version every node reconciles to after a crash mid-rotation. 0 before any key change.
   */
  keyGeneration: number;
  /**
   * The KV index of the cluster's disabled-checks set this node holds (checks/switches.ts): a node
   * seeing a higher one reads the set. Absent: 0, and the record keeps its 13 fields, so agents
   * from before it read the records of a cluster where no check was ever switched off.
   */
  checkSwitches?: number;
}

/**
 * The highest keyring generation (2^31 - 1): far beyond any real count of key changes, and with
 * room above it for every number a node computes from one. Records, key ops and offers announcing
 * more are refused here: one bad announcement (a bug, a hostile key holder) could otherwise push
 * the next change past the integers this codec reads, and that node's records would be undecodable
 * everywhere.
 */
export const MAX_KEY_GENERATION = 2 ** 31 - 1;

/** A keyring as gossiped: its generation, its primary and installed keys (fingerprints only). */
export interface KeyringVersion {
  generation: number;
  primary: string;
  keys: string[];
}

/** The keyring version a node's record announces. */
export function versionOf(record: NodeRecord): KeyringVersion {
  return { generation: record.keyGeneration, primary: record.primaryKey, keys: record.keys };
}

export const enum MessageType {
  Ping = 1,
  Ack = 2,
  PingReq = 3,
  Nack = 4,
  Alive = 5,
  Suspect = 6,
  Dead = 7,
  DetectProbe = 8,
  DetectReply = 9,
  KeyOp = 10,
  KeyOffer = 11,
  CheckDelta = 12,
}

/**
 * Direct probe. `targetId` guards against a packet reaching another node on a reused address;
 * `*` (ANY_NODE) when joining, before the seed's id is known.
 */
export interface PingMessage {
  type: MessageType.Ping;
  seq: number;
  targetId: string;
  /** The sender's count of members alive or suspect, itself included; absent from older agents. */
  live?: number;
}
export const ANY_NODE = '*';
export interface AckMessage {
  type: MessageType.Ack;
  seq: number;
  /** The responder's live member count, as in a ping. */
  live?: number;
}
/** Indirect probe: "ping `targetId` at address:port for me and forward the ack". */
export interface PingReqMessage {
  type: MessageType.PingReq;
  seq: number;
  targetId: string;
  address: string;
  port: number;
}
/** The indirect prober could not reach the target: tells the requester its own network works. */
export interface NackMessage {
  type: MessageType.Nack;
  seq: number;
}
export interface AliveMessage {
  type: MessageType.Alive;
  incarnation: number;
  record: NodeRecord;
}
export interface SuspectMessage {
  type: MessageType.Suspect;
  incarnation: number;
  nodeId: string;
  fromId: string;
}
/** Dead, or left when `fromId` is the node itself (a graceful leave). */
export interface DeadMessage {
  type: MessageType.Dead;
  incarnation: number;
  nodeId: string;
  fromId: string;
}
export interface DetectProbeMessage {
  type: MessageType.DetectProbe;
  nonce: string;
}
export interface DetectReplyMessage {
  type: MessageType.DetectReply;
  nonce: string;
  record: NodeRecord;
}
/**
 * An operator's keyring change, gossiped cluster-wide. `key` is the base64 key for install, a
 * fingerprint otherwise; `version` is the keyring the change made on its node, which receivers
 * adopt (key-generation.ts).
 */
export interface KeyOpMessage {
  type: MessageType.KeyOp;
  opId: string;
  op: 'install' | 'use' | 'remove';
  key: string;
  version: KeyringVersion;
}
/**
 * Sent to one member whose record shows an older keyring: the sender's version, and the keys
 * (base64) the member lacks to adopt it. Sealed with a key the member holds.
 */
export interface KeyOfferMessage {
  type: MessageType.KeyOffer;
  version: KeyringVersion;
  material: string[];
}

/** A change of one node's check table (check-codec.ts, check-sync.ts). */
export interface CheckDeltaMessage extends CheckDelta {
  type: MessageType.CheckDelta;
}

export type Message =
  | PingMessage
  | AckMessage
  | PingReqMessage
  | NackMessage
  | AliveMessage
  | SuspectMessage
  | DeadMessage
  | DetectProbeMessage
  | DetectReplyMessage
  | KeyOpMessage
  | KeyOfferMessage
  | CheckDeltaMessage;

export interface Packet {
  senderId: string;
  /** Strictly increasing per sender (across restarts): the replay guard keys on it. */
  sequence: number;
  /** Each message already msgpack-encoded, so broadcasts are encoded once and sized exactly. */
  messages: Uint8Array[];
}

export function encodeMessage(message: Message): Uint8Array {
  return encode(toWire(message));
}

export function encodePacket(packet: Packet): Uint8Array {
  return encode([WIRE_VERSION, packet.senderId, packet.sequence, packet.messages]);
}

/** Bytes a packet adds around its messages (version, sender id, sequence, array headers). */
export const PACKET_OVERHEAD_BYTES = 64;
/** Bytes each message adds inside a packet (its bin header). */
export const MESSAGE_OVERHEAD_BYTES = 3;

export function decodePacket(bytes: Uint8Array): { senderId: string; sequence: number; messages: Message[] } {
  const raw = safeDecode(bytes);
  if (!Array.isArray(raw) || raw.length !== 4)
    throw new DecodeError('packet: expected [version, sender, seq, messages]');
  const [version, senderId, sequence, messages] = raw as unknown[];
  if (version !== WIRE_VERSION) throw new DecodeError(`packet: unsupported version ${String(version)}`);
  if (typeof senderId !== 'string' || senderId.length > 64) throw new DecodeError('packet: bad sender');
  if (!isCount(sequence)) throw new DecodeError('packet: bad sequence');
  if (!Array.isArray(messages) || messages.length > 256) throw new DecodeError('packet: bad message list');
  return {
    senderId,
    sequence,
    messages: messages.map((message) => {
      if (!(message instanceof Uint8Array)) throw new DecodeError('packet: message is not bytes');
      return fromWire(safeDecode(message));
    }),
  };
}

function toWire(message: Message): unknown[] {
  switch (message.type) {
    // The live count rides last: a node that does not know it reads the fields before and ignores it.
    case MessageType.Ping:
      return withLive([message.type, message.seq, message.targetId], message.live);
    case MessageType.Ack:
      return withLive([message.type, message.seq], message.live);
    case MessageType.PingReq:
      return [message.type, message.seq, message.targetId, message.address, message.port];
    case MessageType.Nack:
      return [message.type, message.seq];
    case MessageType.Alive:
      return [message.type, message.incarnation, recordToWire(message.record)];
    case MessageType.Suspect:
    case MessageType.Dead:
      return [message.type, message.incarnation, message.nodeId, message.fromId];
    case MessageType.DetectProbe:
      return [message.type, message.nonce];
    case MessageType.DetectReply:
      return [message.type, message.nonce, recordToWire(message.record)];
    case MessageType.KeyOp:
      return [message.type, message.opId, message.op, message.key, ...versionToWire(message.version)];
    case MessageType.KeyOffer:
      return [message.type, ...versionToWire(message.version), message.material];
    case MessageType.CheckDelta:
      return [message.type, ...deltaToWire(message)];
  }
}

function fromWire(raw: unknown): Message {
  if (!Array.isArray(raw) || raw.length < 2) throw new DecodeError('message: expected [type, ...]');
  const fields = raw as unknown[];
  const type = fields[0];
  switch (type) {
    case MessageType.Ping:
      return {
        type,
        seq: count(fields[1], 'ping seq'),
        targetId: id(fields[2], 'ping target'),
        ...liveOf(fields[3], 'ping'),
      };
    case MessageType.Ack:
      return { type, seq: count(fields[1], 'ack seq'), ...liveOf(fields[2], 'ack') };
    case MessageType.PingReq:
      return {
        type,
        seq: count(fields[1], 'ping-req seq'),
        targetId: id(fields[2], 'ping-req target'),
        address: text(fields[3], 'ping-req address', 64),
        port: port(fields[4], 'ping-req port'),
      };
    case MessageType.Nack:
      return { type, seq: count(fields[1], 'nack seq') };
    case MessageType.Alive:
      return { type, incarnation: count(fields[1], 'alive incarnation'), record: recordFromWire(fields[2]) };
    case MessageType.Suspect:
    case MessageType.Dead:
      return {
        type,
        incarnation: count(fields[1], 'incarnation'),
        nodeId: id(fields[2], 'node id'),
        fromId: id(fields[3], 'from id'),
      };
    case MessageType.DetectProbe:
      return { type, nonce: text(fields[1], 'detect nonce', 64) };
    case MessageType.DetectReply:
      return { type, nonce: text(fields[1], 'detect nonce', 64), record: recordFromWire(fields[2]) };
    case MessageType.KeyOp: {
      const op = fields[2];
      if (op !== 'install' && op !== 'use' && op !== 'remove')
        throw new DecodeError('key op: unknown operation');
      return {
        type,
        opId: text(fields[1], 'key op id', 64),
        op,
        key: text(fields[3], 'key op key', 64),
        version: versionFromWire(fields.slice(4, 7), 'key op'),
      };
    }
    case MessageType.KeyOffer: {
      const material = fields[4];
      if (!Array.isArray(material) || material.length > MAX_OFFERED_KEYS)
        throw new DecodeError(`key offer: expected at most ${MAX_OFFERED_KEYS} keys`);
      return {
        type,
        version: versionFromWire(fields.slice(1, 4), 'key offer'),
        material: material.map((key) => text(key, 'key offer key', 64)),
      };
    }
    case MessageType.CheckDelta:
      return { type, ...deltaFromWire(fields.slice(1)) };
    default:
      throw new DecodeError(`message: unknown type ${String(type)}`);
  }
}

function withLive(fields: unknown[], live: number | undefined): unknown[] {
  if (live !== undefined) fields.push(live);
  return fields;
}

function liveOf(raw: unknown, what: string): { live?: number } {
  return raw === undefined ? {} : { live: count(raw, `${what} live count`) };
}

function recordToWire(record: NodeRecord): unknown[] {
  return [
    record.id,
    record.name,
    record.address,
    record.port,
    record.rpcPort,
    record.peerId,
    record.datacenter,
    record.groups,
    summaryToWire(record.checks),
    record.version,
    record.keys,
    record.primaryKey,
    record.keyGeneration,
    ...(record.checkSwitches ? [record.checkSwitches] : []),
  ];
}

/** Fields a record may have: this agent's 14, and room for a later agent's. */
const MAX_RECORD_FIELDS = 32;

/** Keys one offer may carry (a keyring holds at most MAX_KEYS, keyring.ts). */
const MAX_OFFERED_KEYS = 32;

function versionToWire(version: KeyringVersion): unknown[] {
  return [version.generation, version.primary, version.keys];
}

function versionFromWire(fields: unknown[], what: string): KeyringVersion {
  if (fields.length !== 3) throw new DecodeError(`${what}: expected [generation, primary, keys]`);
  return {
    generation: bounded(fields[0], `${what} generation`, MAX_KEY_GENERATION),
    primary: text(fields[1], `${what} primary`, 64, true),
    keys: stringList(fields[2], `${what} keys`),
  };
}

function recordFromWire(raw: unknown): NodeRecord {
  // 12 fields: an agent from before keyring generations (it announces generation 0); 14: a node
  // holding a disabled-checks set; more: fields of a later agent, not read here (an agent that
  // knows only its own fields still reads its newer peers' records).
  if (!Array.isArray(raw) || raw.length < 12 || raw.length > MAX_RECORD_FIELDS)
    throw new DecodeError(`node record: expected 12 to ${MAX_RECORD_FIELDS} fields`);
  const fields = raw as unknown[];
  return {
    id: id(fields[0], 'record id'),
    name: text(fields[1], 'record name', 255),
    address: text(fields[2], 'record address', 64),
    port: port(fields[3], 'record port'),
    rpcPort: port(fields[4], 'record rpc port'),
    peerId: text(fields[5], 'record peer id', 128, true),
    datacenter: text(fields[6], 'record datacenter', 63),
    groups: stringList(fields[7], 'record groups'),
    checks: summaryFromWire(fields[8], 'record checks'),
    version: text(fields[9], 'record version', 32),
    keys: stringList(fields[10], 'record keys'),
    primaryKey: text(fields[11], 'record primary key', 64, true),
    keyGeneration: fields.length >= 13 ? bounded(fields[12], 'record key generation', MAX_KEY_GENERATION) : 0,
    ...(fields.length >= 14 && fields[13] !== 0
      ? { checkSwitches: count(fields[13], 'record check switches') }
      : {}),
  };
}

/** One member's entry in a push-pull exchange. */
export interface StateEntry {
  record: NodeRecord;
  incarnation: number;
  state: 'alive' | 'suspect' | 'dead' | 'left';
}

const STATES = ['alive', 'suspect', 'dead', 'left'] as const;

/** One entry of a push-pull on the wire: [record, incarnation, state]. */
export function stateEntryToWire(entry: StateEntry): unknown[] {
  return [recordToWire(entry.record), entry.incarnation, entry.state];
}

export function stateEntryFromWire(entry: unknown): StateEntry {
  if (!Array.isArray(entry) || entry.length !== 3)
    throw new DecodeError('state entry: expected [record, incarnation, state]');
  const [record, incarnation, state] = entry as unknown[];
  if (!STATES.includes(state as StateEntry['state'])) throw new DecodeError('state entry: unknown state');
  return {
    record: recordFromWire(record),
    incarnation: count(incarnation, 'state incarnation'),
    state: state as StateEntry['state'],
  };
}

/** A protocol 1 push-pull payload (push-pull.ts): [version, fromId, [[record, incarnation, state], ...]]. */
export function encodeStateExchange(fromId: string, entries: StateEntry[]): Uint8Array {
  return encode([WIRE_VERSION, fromId, entries.map(stateEntryToWire)]);
}

export function decodeStateExchange(bytes: Uint8Array): { fromId: string; entries: StateEntry[] } {
  const raw = safeDecode(bytes);
  if (!Array.isArray(raw) || raw.length !== 3 || raw[0] !== WIRE_VERSION)
    throw new DecodeError('state: expected [version, from, entries]');
  const [, fromId, entries] = raw as unknown[];
  if (!Array.isArray(entries) || entries.length > 100_000) throw new DecodeError('state: bad entry list');
  return { fromId: id(fromId, 'state sender'), entries: entries.map(stateEntryFromWire) };
}
