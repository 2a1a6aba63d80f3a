// The cluster keyring: every gossip packet is sealed with AES-256-GCM under the primary key, and
// opened with whichever installed key fits, so keys can rotate without downtime (install a new key
// everywhere, make it primary everywhere, remove the old one). Without keys, packets travel in the
// clear and the agent says the cluster is open.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const PLAINTEXT = 0;
const AES_256_GCM = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes encryption adds to a packet: the header byte, the nonce and the tag. */
export const ENCRYPTION_OVERHEAD_BYTES = 1 + NONCE_BYTES + TAG_BYTES;

export type OpenFailure = 'decrypt' | 'plaintext-refused' | 'encrypted-without-key' | 'malformed';
export type OpenResult = { ok: true; payload: Buffer } | { ok: false; reason: OpenFailure };

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

export interface KeyringState {
  keys: string[];
  primary: string;
}

export class Keyring {
  private keys: Buffer[];
  private primaryKey: Buffer | undefined;

  constructor(keys: Buffer[] = [], primary?: Buffer) {
    this.keys = [...keys];
    this.primaryKey = primary ?? keys[0];
    if (this.primaryKey && !this.keys.some((key) => key.equals(this.primaryKey!)))
      this.keys.unshift(this.primaryKey);
  }

  static fromState(state: KeyringState): Keyring {
    return new Keyring(state.keys.map(parseKey), state.primary ? parseKey(state.primary) : undefined);
  }

  toState(): KeyringState {
    return {
      keys: this.keys.map((key) => key.toString('base64')),
      primary: this.primaryKey?.toString('base64') ?? '',
    };
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

  /** Returns false when the key was already installed. */
  install(key: Buffer): boolean {
    if (this.keys.some((known) => known.equals(key))) return false;
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

  remove(keyFingerprint: string): void {
    const key = this.find(keyFingerprint);
    if (!key) throw new KeyringError(`no installed key has fingerprint ${keyFingerprint}`);
    if (this.primaryKey?.equals(key))
      throw new KeyringError('cannot remove the primary key; `use` another key first');
    this.keys = this.keys.filter((known) => !known.equals(key));
  }

  seal(payload: Uint8Array): Buffer {
    if (!this.primaryKey) return Buffer.concat([Buffer.of(PLAINTEXT), payload]);
    const nonce = randomBytes(NONCE_BYTES);
    const header = Buffer.of(AES_256_GCM);
    const cipher = createCipheriv('aes-256-gcm', this.primaryKey, nonce);
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
