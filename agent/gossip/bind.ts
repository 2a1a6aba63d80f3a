// Where gossip (UDP) and the cluster RPC (TCP) listen. Safe by default: without a cluster key the
// cluster ports stay on loopback (a cluster of one machine), because an open cluster port lets
// anyone on the network join, read every node's state and push forged membership. Binding beyond
// loopback without a key takes an explicit `allow_unencrypted_cluster: true`.
import { isLoopback } from '../shared/addresses.js';

export interface ClusterBind {
  /** The address gossip and RPC bind. */
  address: string;
  /** Set when the agent chose loopback for want of a key: for the log and `agent info`. */
  loopbackOnly?: string;
  /** Set when the cluster listens beyond loopback without encryption (the operator allowed it). */
  unencrypted?: string;
}

export class ClusterBindError extends Error {}

const DEFAULT_WITH_KEY = '0.0.0.0';
const DEFAULT_WITHOUT_KEY = '127.0.0.1';

/**
 * The bind address for `bind_addr` as configured ('' = the default), whether the keyring holds a
 * key, and whether the operator allowed an unencrypted cluster beyond loopback.
 */
export function clusterBind(configured: string, encrypted: boolean, allowUnencrypted: boolean): ClusterBind {
  if (encrypted) return { address: configured || DEFAULT_WITH_KEY };
  if (!configured) {
    return {
      address: DEFAULT_WITHOUT_KEY,
      loopbackOnly:
        'no encryption_key: gossip and RPC listen on 127.0.0.1 only (a cluster of this machine); ' +
        'give every node the same key (`opsbro agent keygen`) to cluster across machines',
    };
  }
  if (isLoopback(configured)) return { address: configured };
  if (!allowUnencrypted) {
    throw new ClusterBindError(
      `bind_addr ${configured} would open the gossip and RPC ports beyond this machine without encryption: ` +
        'set encryption_key to a key from `opsbro agent keygen` (the same on every node), ' +
        'or set allow_unencrypted_cluster: true to accept an open cluster',
    );
  }
  return {
    address: configured,
    unencrypted: `the cluster listens on ${configured} WITHOUT encryption (allow_unencrypted_cluster: true): anyone on the network can join it and read its state`,
  };
}
