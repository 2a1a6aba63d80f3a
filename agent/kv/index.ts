// The KV store (docs/kv.md): placement, versions and what one node holds. In progress: the
// replication, the compare-and-set rounds and the HTTP API come next (issue 14).
export { compareVersions, HybridClock, indexOf, type Version } from './hlc.js';
export { HashRing, kvHolders, type KvMember } from './ring.js';
export { KvReplicaStore, type KvRecord, type ApplyOutcome } from './replica-store.js';
