// Push-pull, digest first (protocol 2). Most syncs of a settled cluster find both sides knowing the
// same thing, so the first request carries only a hash of what the initiator knows (every member's
// id, incarnation, state and check-summary stamp): a match ends the sync with a few dozen bytes each
// way. A mismatch brings back the responder's digest (those same few fields per member), and the
// second request trades full records only for the members whose entries differ. A joining node,
// knowing nobody, sends its full state in the first request and gets the responder's in the answer,
// as protocol 1 did, in one round trip.
//
// Protocol 1 (the full state both ways, every time) is still served, and used towards a member that
// does not serve protocol 2 (an agent not yet upgraded).
import { createHash } from 'node:crypto';
import { DecodeError, stateEntryFromWire, stateEntryToWire, type StateEntry } from './codec.js';
import { bounded, count, encode, id, list, safeDecode } from './wire-fields.js';

export const PUSH_PULL_PROTOCOL_V1 = '/opsbro/push-pull/1.0.0';
export const PUSH_PULL_PROTOCOL = '/opsbro/push-pull/2.0.0';

const VERSION = 2;
/** Members in one push-pull; beyond, the message would not decode (wire-fields' array bound). */
const MAX_ENTRIES = 4096;
const STATES = ['alive', 'suspect', 'dead', 'left'] as const;

/** What a digest says of one member: enough to tell whether two views of it differ. */
export interface DigestEntry {
  id: string;
  incarnation: number;
  state: StateEntry['state'];
  checksEpoch: number;
  checksVersion: number;
}

export type PushPullRequest =
  | { kind: 'offer'; fromId: string; hash: Uint8Array; entries?: StateEntry[] }
  | { kind: 'exchange'; fromId: string; entries: StateEntry[]; wanted: string[] };

export type PushPullReply =
  | { kind: 'same'; fromId: string }
  | { kind: 'digest'; fromId: string; digest: DigestEntry[] }
  | { kind: 'state'; fromId: string; entries: StateEntry[] };

export function digestOf(entries: StateEntry[]): DigestEntry[] {
  return entries.map(({ record, incarnation, state }) => ({
    id: record.id,
    incarnation,
    state,
    checksEpoch: record.checks.epoch,
    checksVersion: record.checks.version,
  }));
}

const digestKey = (entry: DigestEntry): string =>
  `${entry.id}\u0000${entry.incarnation}\u0000${entry.state}\u0000${entry.checksEpoch}\u0000${entry.checksVersion}`;

/** A hash of a digest, the same whatever the order of its members. 16 bytes are plenty to compare. */
export function digestHash(digest: DigestEntry[]): Uint8Array {
  const hash = createHash('sha256');
  for (const key of digest.map(digestKey).sort()) hash.update(key).update('\n');
  return new Uint8Array(hash.digest().subarray(0, 16));
}

/** Whether `hash` (an offer's) is the hash of `digest`: both sides know the same. */
export function hashMatches(digest: DigestEntry[], hash: Uint8Array): boolean {
  return Buffer.from(digestHash(digest)).equals(hash);
}

/** Ids whose entries differ between the two digests, or that only one of them has. */
export function differingIds(local: DigestEntry[], remote: DigestEntry[]): Set<string> {
  const remoteKeys = new Map(remote.map((entry) => [entry.id, digestKey(entry)]));
  const differing = new Set<string>();
  for (const entry of local) {
    if (remoteKeys.get(entry.id) !== digestKey(entry)) differing.add(entry.id);
    remoteKeys.delete(entry.id);
  }
  for (const remoteOnly of remoteKeys.keys()) differing.add(remoteOnly);
  return differing;
}

/**
 * What the initiator sends after a digest: its entries the responder lacks or holds otherwise, and
 * the ids of the responder's entries it wants back.
 */
export function exchangeFor(
  fromId: string,
  local: StateEntry[],
  remote: DigestEntry[],
): Extract<PushPullRequest, { kind: 'exchange' }> | undefined {
  const differing = differingIds(digestOf(local), remote);
  if (!differing.size) return undefined;
  return {
    kind: 'exchange',
    fromId,
    entries: local.filter((entry) => differing.has(entry.record.id)),
    wanted: remote.filter((entry) => differing.has(entry.id)).map((entry) => entry.id),
  };
}

export function encodeRequest(request: PushPullRequest): Uint8Array {
  if (request.kind === 'offer') {
    return encode([
      VERSION,
      'offer',
      request.fromId,
      request.hash,
      request.entries?.map(stateEntryToWire) ?? null,
    ]);
  }
  return encode([VERSION, 'exchange', request.fromId, request.entries.map(stateEntryToWire), request.wanted]);
}

export function encodeReply(reply: PushPullReply): Uint8Array {
  switch (reply.kind) {
    case 'same':
      return encode([VERSION, 'same', reply.fromId]);
    case 'digest':
      return encode([VERSION, 'digest', reply.fromId, reply.digest.map(digestToWire)]);
    case 'state':
      return encode([VERSION, 'state', reply.fromId, reply.entries.map(stateEntryToWire)]);
  }
}

export function decodeRequest(bytes: Uint8Array): PushPullRequest {
  const [kind, fromId, ...rest] = framed(bytes, 'push-pull request');
  if (kind === 'offer' && rest.length === 2) {
    const [hash, entries] = rest;
    if (!(hash instanceof Uint8Array) || hash.length !== 16)
      throw new DecodeError('push-pull offer: bad hash');
    return entries === null
      ? { kind, fromId, hash }
      : {
          kind,
          fromId,
          hash,
          entries: list(entries, 'push-pull entries', MAX_ENTRIES).map(stateEntryFromWire),
        };
  }
  if (kind === 'exchange' && rest.length === 2) {
    return {
      kind,
      fromId,
      entries: list(rest[0], 'push-pull entries', MAX_ENTRIES).map(stateEntryFromWire),
      wanted: list(rest[1], 'push-pull wanted ids', MAX_ENTRIES).map((wanted) => id(wanted, 'wanted id')),
    };
  }
  throw new DecodeError(`push-pull request: unknown kind ${JSON.stringify(kind)} or bad length`);
}

export function decodeReply(bytes: Uint8Array): PushPullReply {
  const [kind, fromId, ...rest] = framed(bytes, 'push-pull reply');
  if (kind === 'same' && rest.length === 0) return { kind, fromId };
  if (kind === 'digest' && rest.length === 1) {
    return { kind, fromId, digest: list(rest[0], 'push-pull digest', MAX_ENTRIES).map(digestFromWire) };
  }
  if (kind === 'state' && rest.length === 1) {
    return { kind, fromId, entries: list(rest[0], 'push-pull entries', MAX_ENTRIES).map(stateEntryFromWire) };
  }
  throw new DecodeError(`push-pull reply: unknown kind ${JSON.stringify(kind)} or bad length`);
}

/** [version, kind, fromId, ...rest], the version checked and the sender's id read. */
function framed(bytes: Uint8Array, what: string): [unknown, string, ...unknown[]] {
  const raw = safeDecode(bytes);
  if (!Array.isArray(raw) || raw.length < 3 || raw[0] !== VERSION)
    throw new DecodeError(`${what}: expected [${VERSION}, kind, from, ...]`);
  const [, kind, fromId, ...rest] = raw as unknown[];
  return [kind, id(fromId, `${what} sender`), ...rest];
}

function digestToWire(entry: DigestEntry): unknown[] {
  return [entry.id, entry.incarnation, STATES.indexOf(entry.state), entry.checksEpoch, entry.checksVersion];
}

function digestFromWire(raw: unknown): DigestEntry {
  if (!Array.isArray(raw) || raw.length !== 5)
    throw new DecodeError('digest entry: expected [id, incarnation, state, epoch, version]');
  const [nodeId, incarnation, state, epoch, version] = raw as unknown[];
  return {
    id: id(nodeId, 'digest id'),
    incarnation: count(incarnation, 'digest incarnation'),
    state: STATES[bounded(state, 'digest state', STATES.length - 1)]!,
    checksEpoch: count(epoch, 'digest checks epoch'),
    checksVersion: count(version, 'digest checks version'),
  };
}
