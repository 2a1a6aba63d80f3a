// The KV store (docs/kv.md): placement, versions, replicas, quorums and compare-and-set, the
// protocol between nodes, the background sync and the HTTP dialects, as one subsystem.
export { compareVersions, HybridClock, indexOf, type Version } from './hlc.js';
export { HashRing, kvHolders, type KvMember } from './ring.js';
export { KvReplicaStore, type KvRecord, type ApplyOutcome } from './replica-store.js';
export { KvCoordinator, QuorumError, type ReplicaTransport, type WriteResult } from './coordinator.js';
export {
  KV_PROTOCOL,
  type KvAction,
  type KvActionResult,
  kvRpcHandler,
  rpcReplicaTransport,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
} from './rpc-protocol.js';
export { KvSubsystem, type KvCluster } from './subsystem.js';
