// The cluster keyring: every gossip packet is sealed with AES-256-GCM under the primary key, and
// opened with whichever installed key fits, so keys can rotate without downtime (install a new key
// everywhere, make it primary everywhere, remove the old one). Without keys, packets travel in the
// clear and the agent says the cluster is open. The keyring also carries its generation and the
// keys it removed (key-generation.ts): what lets a node that crashed mid-rotation catch up.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { KeyringVersion } from './codec.js';

const PLAINTEXT = 0;
const AES_256_GCM = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes encryption adds to a packet: the header byte, the nonce and the tag. */
export const ENCRYPTION_OVERHEAD_BYTES = 1 + NONCE_BYTES + TAG_BYTES;

export type OpenFailure = 'decrypt' | 'plaintext-refused' | 'encrypted-without-key' | 'malformed';
export type OpenResult = { ok: true; payload: Buffer } | { ok: false; reason: OpenFailure };

/** Keys a keyring holds at most: every packet may be tried against each, and records list them all. */
export const MAX_KEYS = 32;
/** Removed keys remembered (the most recently removed): enough to refuse a stale version's keys. */
export const MAX_REMOVED = 64;

export class KeyringError extends Error {}

/** A short, stable name for a key that reveals nothing about it. */
export function fingerprint(key: Buffer): string {
  return createHash('sha256').update('opsbro-key-fingerprint').update(key).digest('hex').slice(0, 16);
}

export function parseKey(base64: string): Buffer {
  const key = Buffer.from(base64, 'base64');
  if (key.length !== 32 || key.toString('base64') !== base64) {
    throw new KeyringError('expected the base64 of 32 bytes, as printed by `opsbro agent keygen`');
  }
  return key;
}

/** The keyring on disk (keyring-store.ts). */
export interface KeyringState {
  keys: string[];
  primary: string;
  /** Absent in files written before generations: 0. */
  generation?: number;
  /** Fingerprint -> the generation it was removed at. */
  removed?: Record<string, number>;
}

export class Keyring {
  private keys: Buffer[];
  private primaryKey: Buffer | undefined;
  /** Bumped by every keyring change made in the cluster; see key-generation.ts. */
  generation = 0;
  /**
   * Keys removed here, by fingerprint, with the generation of the removal: a version that still
   * holds one of them at that generation or before lost to the removal, and is never adopted.
   */
  readonly removed = new Map<string, number>();

  constructor(keys: Buffer[] = [], primary?: Buffer) {
    this.keys = [...keys];
    this.primaryKey = primary ?? keys[0];
    if (this.primaryKey && !this.keys.some((key) => key.equals(this.primaryKey!)))
      this.keys.unshift(this.primaryKey);
  }

  static fromState(state: KeyringState): Keyring {
    const keyring = new Keyring(
      state.keys.map(parseKey),
      state.primary ? parseKey(state.primary) : undefined,
    );
    keyring.generation = state.generation ?? 0;
    for (const [keyFingerprint, generation] of Object.entries(state.removed ?? {}))
      keyring.removed.set(keyFingerprint, generation);
    return keyring;
  }

  toState(): KeyringState {
    return {
      keys: this.keys.map((key) => key.toString('base64')),
      primary: this.primaryKey?.toString('base64') ?? '',
      generation: this.generation,
      removed: Object.fromEntries(this.removed),
    };
  }

  /** A copy to prepare a change on: it is saved, then replaces this one (replaceWith). */
  clone(): Keyring {
    return Keyring.fromState(this.toState());
  }

  /** Takes `other`'s keys, primary, generation and removals (the engine keeps sealing with this object). */
  replaceWith(other: Keyring): void {
    this.keys = [...other.keys];
    this.primaryKey = other.primaryKey;
    this.generation = other.generation;
    this.removed.clear();
    for (const [keyFingerprint, generation] of other.removed) this.removed.set(keyFingerprint, generation);
  }

  /** What this keyring announces: generation, primary and installed keys, by fingerprint. */
  version(): KeyringVersion {
    return { generation: this.generation, primary: this.primaryFingerprint(), keys: this.fingerprints() };
  }

  /** The base64 of an installed key, to offer it to a member that lacks it. */
  material(keyFingerprint: string): string | undefined {
    return this.find(keyFingerprint)?.toString('base64');
  }

  get enabled(): boolean {
    return this.primaryKey !== undefined;
  }

  get primary(): Buffer | undefined {
    return this.primaryKey;
  }

  fingerprints(): string[] {
    return this.keys.map(fingerprint);
  }

  primaryFingerprint(): string {
    return this.primaryKey ? fingerprint(this.primaryKey) : '';
  }

  /** Returns false when the key was already installed. Installing forgets an earlier removal. */
  install(key: Buffer): boolean {
    this.removed.delete(fingerprint(key));
    if (this.keys.some((known) => known.equals(key))) return false;
    if (this.keys.length >= MAX_KEYS)
      throw new KeyringError(`the keyring is full (${MAX_KEYS} keys); remove unused keys first`);
    this.keys.push(key);
    if (!this.primaryKey) this.primaryKey = key;
    return true;
  }

  /** Makes the installed key with this fingerprint the one used to send. */
  use(keyFingerprint: string): void {
    const key = this.find(keyFingerprint);
    if (!key) throw new KeyringError(`no installed key has fingerprint ${keyFingerprint}; install it first`);
    this.primaryKey = key;
  }

  /** Removes a key and remembers the removal at `generation` (default: this keyring's). */
  remove(keyFingerprint: string, generation = this.generation): void {
    const key = this.find(keyFingerprint);
    if (!key) throw new KeyringError(`no installed key has fingerprint ${keyFingerprint}`);
    if (this.primaryKey?.equals(key))
      throw new KeyringError('cannot remove the primary key; `use` another key first');
    this.keys = this.keys.filter((known) => !known.equals(key));
    this.removed.set(keyFingerprint, Math.max(generation, this.removed.get(keyFingerprint) ?? 0));
    if (this.removed.size > MAX_REMOVED) {
      // Forget the oldest removal: a version that old has long lost to newer generations anyway.
      const [oldest] = [...this.removed].sort((a, b) => a[1] - b[1])[0]!;
      this.removed.delete(oldest);
    }
  }

  seal(payload: Uint8Array): Buffer {
    return this.sealUnder(this.primaryKey, payload);
  }

  /** Seals with the installed key `keyFingerprint` (to reach a member whose primary differs). */
  sealWith(keyFingerprint: string, payload: Uint8Array): Buffer | undefined {
    const key = this.find(keyFingerprint);
    return key ? this.sealUnder(key, payload) : undefined;
  }

  private sealUnder(key: Buffer | undefined, payload: Uint8Array): Buffer {
    if (!key) return Buffer.concat([Buffer.of(PLAINTEXT), payload]);
    const nonce = randomBytes(NONCE_BYTES);
    const header = Buffer.of(AES_256_GCM);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(header);
    // One copy: the tag is read after final(), which the array's order guarantees.
    return Buffer.concat([header, nonce, cipher.update(payload), cipher.final(), cipher.getAuthTag()]);
  }

  open(packet: Buffer): OpenResult {
    if (packet.length < 2) return { ok: false, reason: 'malformed' };
    const header = packet[0];
    if (header === PLAINTEXT) {
      return this.enabled
        ? { ok: false, reason: 'plaintext-refused' }
        : { ok: true, payload: packet.subarray(1) };
    }
    if (header !== AES_256_GCM || packet.length < ENCRYPTION_OVERHEAD_BYTES + 1)
      return { ok: false, reason: 'malformed' };
    if (!this.enabled) return { ok: false, reason: 'encrypted-without-key' };
    // The primary first: almost every packet is sealed with it, so the others are tried only then.
    const primary = this.primaryKey!;
    let payload = decrypt(primary, packet);
    for (let index = 0; !payload && index < this.keys.length; index++) {
      const key = this.keys[index]!;
      if (!key.equals(primary)) payload = decrypt(key, packet);
    }
    return payload ? { ok: true, payload } : { ok: false, reason: 'decrypt' };
  }

  private find(keyFingerprint: string): Buffer | undefined {
    return this.keys.find((key) => fingerprint(key) === keyFingerprint);
  }
}

/** The payload of a sealed packet (header, nonce, ciphertext, tag); undefined if `key` does not open it. */
function decrypt(key: Buffer, packet: Buffer): Buffer | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, packet.subarray(1, 1 + NONCE_BYTES));
    decipher.setAAD(packet.subarray(0, 1));
    decipher.setAuthTag(packet.subarray(packet.length - TAG_BYTES));
    const sealed = packet.subarray(1 + NONCE_BYTES, packet.length - TAG_BYTES);
    return Buffer.concat([decipher.update(sealed), decipher.final()]);
  } catch {
    return undefined; // not this key
  }
}
