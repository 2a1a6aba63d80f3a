// The Noise crypto on node:crypto (agent/rpc/noise-crypto.ts) must give libp2p-noise's own
// results bit for bit, or an agent could not complete a handshake with one on the default.
import { randomBytes } from 'node:crypto';
import { pureJsCrypto } from '@chainsafe/libp2p-noise';
import { describe, expect, it } from 'vitest';
import { noiseCrypto } from '../agent/rpc/noise-crypto.js';

const hex = (parts: Uint8Array[]): string[] => parts.map((part) => Buffer.from(part).toString('hex'));

describe('noise crypto on node:crypto', () => {
  it("derives libp2p-noise's HKDF outputs, empty input key material included", () => {
    for (const ikmBytes of [0, 1, 32, 33, 100]) {
      const ck = randomBytes(32);
      const ikm = randomBytes(ikmBytes);
      expect(hex(noiseCrypto.getHKDF(ck, ikm))).toEqual(hex(pureJsCrypto.getHKDF(ck, ikm)));
    }
  });

  it('agrees with the reference X25519, with each private key reused as the handshake reuses it', () => {
    const local = pureJsCrypto.generateX25519KeyPair();
    for (let round = 0; round < 3; round++) {
      const remote = pureJsCrypto.generateX25519KeyPair();
      const expected = Buffer.from(pureJsCrypto.generateX25519SharedKey(local.privateKey, remote.publicKey));
      expect(Buffer.from(noiseCrypto.generateX25519SharedKey(local.privateKey, remote.publicKey))).toEqual(
        expected,
      );
      // The other side's view of the same exchange: same secret.
      expect(Buffer.from(noiseCrypto.generateX25519SharedKey(remote.privateKey, local.publicKey))).toEqual(
        expected,
      );
    }
  });

  it('parses a private key anew when the same array is refilled with another key', () => {
    const held = new Uint8Array(32);
    const remote = pureJsCrypto.generateX25519KeyPair();
    for (let round = 0; round < 2; round++) {
      const local = pureJsCrypto.generateX25519KeyPair();
      held.set(local.privateKey);
      const expected = Buffer.from(pureJsCrypto.generateX25519SharedKey(local.privateKey, remote.publicKey));
      expect(Buffer.from(noiseCrypto.generateX25519SharedKey(held, remote.publicKey))).toEqual(expected);
    }
  });
});
