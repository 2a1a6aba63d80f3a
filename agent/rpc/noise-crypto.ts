// The crypto the Noise handshake runs on: libp2p-noise's own default, with its two costly JavaScript
// parts moved to node:crypto. Its default derives keys with @noble/hashes' HKDF (pure JavaScript,
// five to six derivations per handshake) and parses both X25519 keys from DER at every
// Diffie-Hellman; a CPU profile of a joining agent put ~5% of its join under the HKDF and ~3%
// under the key parsing (docs/benchmarks.md, issue 17). An agent dials cold, so code that runs a
// few times per process is interpreted: native calls are what is cheap there.
import { createPrivateKey, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from 'node:crypto';
import type { ICryptoInterface } from '@chainsafe/libp2p-noise';
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto';

/** A key as libp2p-noise passes it: an array, or a list of chunks. */
type KeyBytes = Parameters<ICryptoInterface['generateX25519SharedKey']>[0];

/** DER prefixes of a raw X25519 private key (PKCS#8) and public key (SPKI), as libp2p-noise writes them. */
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const NO_INFO = new Uint8Array(0);

/**
 * Private keys parsed lately, by their bytes: the static key serves every handshake of the process,
 * an ephemeral key two Diffie-Hellmans. Compared by content, not by array: nothing promises that
 * libp2p-noise never refills an array with another key. An ephemeral key outlives its handshake
 * here until eight newer keys push it out: memory that also holds the cluster key and the
 * sessions' own keys.
 */
const RECENT_PRIVATE_KEYS = 8;
const recentPrivateKeys: { bytes: Buffer; key: KeyObject }[] = [];

/** Noise's HKDF (its spec, section 4.3) is RFC 5869's with the chaining key as salt and no info. */
function getHKDF(ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const okm = new Uint8Array(hkdfSync('sha256', ikm, ck, NO_INFO, 96));
  return [okm.subarray(0, 32), okm.subarray(32, 64), okm.subarray(64, 96)];
}

function privateKeyObject(raw: KeyBytes): KeyObject {
  const bytes = Buffer.from(raw.subarray());
  const known = recentPrivateKeys.find((entry) => entry.bytes.equals(bytes));
  if (known) return known.key;
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_X25519_PREFIX, bytes]),
    format: 'der',
    type: 'pkcs8',
  });
  recentPrivateKeys.unshift({ bytes, key });
  recentPrivateKeys.length = Math.min(recentPrivateKeys.length, RECENT_PRIVATE_KEYS);
  return key;
}

function generateX25519SharedKey(privateKey: KeyBytes, publicKey: KeyBytes): Uint8Array {
  const remote = createPublicKey({
    key: Buffer.concat([SPKI_X25519_PREFIX, publicKey.subarray()]),
    format: 'der',
    type: 'spki',
  });
  return diffieHellman({ privateKey: privateKeyObject(privateKey), publicKey: remote });
}

export const noiseCrypto: ICryptoInterface = { ...defaultCrypto, getHKDF, generateX25519SharedKey };
