// Gossip: SWIM membership over encrypted UDP, push-pull over the cluster RPC, the keyring and its
// rotation, LAN detection. What the rest of the agent uses of it.
export { GossipSubsystem, type GossipSubsystemOptions, PUSH_PULL_PROTOCOL } from './subsystem.js';
export { CHECK_TABLE_PROTOCOL } from './check-sync.js';
export { KeyringStore } from './keyring-store.js';
