// The private network: the libp2p connection protector (pnet, XSalsa20 under a pre-shared key)
// keyed from the cluster key, so a node without the key cannot even complete the handshake. Its
// nonce exchange runs under the handshake deadline, with failures explained (handshake.ts).
// The pre-shared key is derived with HKDF-SHA256 under opsbro-specific salt and info, so it is
// independent of the gossip encryption key taken from the same cluster key.
import { hkdfSync } from 'node:crypto';
import type { ConnectionProtector } from '@libp2p/interface';
import { preSharedKey } from '@libp2p/pnet';
import { guardedProtector } from './handshake.js';
import { NONCE_WAIT_GRACE_MS } from './limits.js';

export const CLUSTER_KEY_BYTES = 32;
const PRE_SHARED_KEY_BYTES = 32;
const HKDF_SALT = 'opsbro cluster-rpc private-network v1';
const HKDF_INFO = 'opsbro libp2p pnet pre-shared key';

/** Derives the 32-byte pre-shared key from the cluster key. */
export function derivePreSharedKey(clusterKey: Uint8Array): Uint8Array {
  if (clusterKey.byteLength !== CLUSTER_KEY_BYTES) {
    throw new RangeError(
      `the cluster key must be ${CLUSTER_KEY_BYTES} bytes, got ${clusterKey.byteLength}; generate one with 'opsbro agent keygen'`,
    );
  }
  return new Uint8Array(hkdfSync('sha256', clusterKey, HKDF_SALT, HKDF_INFO, PRE_SHARED_KEY_BYTES));
}

/** The key in the swarm.key format @libp2p/pnet reads (the one go-ipfs and kubo use). */
export function swarmKeyFile(preSharedKey: Uint8Array): Uint8Array {
  const hex = Buffer.from(preSharedKey).toString('hex');
  return new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${hex}`);
}

/** The connectionProtector option of createLibp2p for this cluster key. */
export function privateNetworkProtector(
  clusterKey: Uint8Array,
  handshakeTimeoutMs: number,
): () => ConnectionProtector {
  const pnet = preSharedKey({
    psk: swarmKeyFile(derivePreSharedKey(clusterKey)),
    timeout: handshakeTimeoutMs,
  });
  return () => guardedProtector(pnet(), handshakeTimeoutMs + NONCE_WAIT_GRACE_MS);
}
