// DNS: the cluster's groups and nodes as names (docs/dns.md). What the rest of the agent uses of it.
export { DnsSubsystem, type DnsSubsystemOptions } from './subsystem.js';
export type { DnsMember } from './directory.js';
