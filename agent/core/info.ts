// GET /agent/info: who this agent is, where it listens, how each subsystem is doing. Built from the
// running agent's parts, given here as plain values and functions (InfoSources).
import { networkInterfaces } from 'node:os';
import { isLoopback } from '../shared/addresses.js';
import type { AgentInfo, AgentStatus, ClusterView, SubsystemState } from '../shared/api-types.js';
import { packageVersion } from '../shared/paths.js';

export interface InfoSources {
  name: string;
  id: string;
  datacenter: string;
  groups: string[];
  startedAt: Date;
  api: AgentInfo['api'];
  apiPort: number;
  gossip: {
    ports: Record<string, number>;
    cluster: ClusterView;
    members: Record<string, number>;
    encrypted: boolean;
    primaryFingerprint: string;
  };
  subsystems: Record<string, SubsystemState>;
  state: (subsystems: Record<string, SubsystemState>) => AgentStatus;
  config: AgentInfo['config'];
  dataDir: string;
}

export function agentInfo(sources: InfoSources): AgentInfo {
  const memory = process.memoryUsage();
  const { gossip } = sources;
  return {
    name: sources.name,
    id: sources.id,
    version: packageVersion(),
    datacenter: sources.datacenter,
    groups: sources.groups,
    addresses: interfaceAddresses(),
    ports: { api: sources.apiPort, ...gossip.ports },
    api: sources.api,
    encryption: gossip.encrypted
      ? { enabled: true, primary_fingerprint: gossip.primaryFingerprint }
      : { enabled: false, warning: encryptionWarning(gossip.cluster) },
    cluster: gossip.cluster,
    members: gossip.members,
    pid: process.pid,
    node_version: process.version,
    started_at: sources.startedAt.toISOString(),
    uptime_seconds: Math.round((Date.now() - sources.startedAt.getTime()) / 1000),
    memory: { rss_bytes: memory.rss, heap_used_bytes: memory.heapUsed, heap_total_bytes: memory.heapTotal },
    state: sources.state(sources.subsystems),
    subsystems: sources.subsystems,
    config: sources.config,
    data_dir: sources.dataDir,
  };
}

function encryptionWarning(cluster: ClusterView): string {
  return isLoopback(cluster.bind)
    ? 'no encryption_key: the cluster ports stay on this machine (run `opsbro agent keygen` to cluster across machines)'
    : 'no encryption_key: the cluster is open to anyone who can reach it (run `opsbro agent keygen`)';
}

function interfaceAddresses(): AgentInfo['addresses'] {
  const addresses: AgentInfo['addresses'] = [];
  for (const [name, entries] of Object.entries(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (!entry.internal) addresses.push({ interface: name, address: entry.address, family: entry.family });
    }
  }
  return addresses;
}
