// The KV store (docs/kv.md): placement, versions, what one node holds and the quorum logic of a
// key's coordinator. In progress: the RPC transport, the compare-and-set rounds and the HTTP API
// come next (issue 14).
export { compareVersions, HybridClock, indexOf, type Version } from './hlc.js';
export { HashRing, kvHolders, type KvMember } from './ring.js';
export { KvReplicaStore, type KvRecord, type ApplyOutcome } from './replica-store.js';
export { KvCoordinator, QuorumError, type ReplicaTransport, type WriteResult } from './coordinator.js';
export {
  KV_PROTOCOL,
  kvRpcHandler,
  rpcReplicaTransport,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
} from './rpc-protocol.js';
