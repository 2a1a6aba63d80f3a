// The HTTP API's answers, as the agent sends them and the CLI (or any client) reads them: one module
// that imports nothing, so the CLI never reaches into a subsystem to learn a shape. A subsystem
// types its routes' answers with these; changing one here changes both sides at once.

/** Reported per subsystem in /agent/info and /agent/state. */
export type SubsystemStatus = 'initializing' | 'ok' | 'degraded' | 'error' | 'stopped';

export interface SubsystemState {
  status: SubsystemStatus;
  /** One line for an operator when status is not ok. */
  message?: string;
}

/** The agent's overall state: `left` once it left the cluster (it keeps running alone). */
export type AgentStatus = 'initializing' | 'ok' | 'degraded' | 'left' | 'stopping';

/** Where the cluster listens, as /agent/info shows it. */
export interface ClusterView {
  bind: string;
  advertise: string;
  gossip_port: number;
  rpc_port: number;
  /** Why the cluster ports are on loopback only (no key). */
  loopback_only?: string;
  /** The cluster listens beyond loopback without encryption (allow_unencrypted_cluster). */
  unencrypted?: string;
}

/** GET /agent/info. */
export interface AgentInfo {
  name: string;
  id: string;
  version: string;
  datacenter: string;
  groups: string[];
  addresses: Array<{ interface: string; address: string; family: 'IPv4' | 'IPv6' }>;
  ports: Record<string, number>;
  api: {
    tcp: string;
    socket?: string;
    /** Whether every TCP request needs a token (auth.tokens configured). */
    auth: boolean;
    /** The local admin token's file: readable by the agent's user only. */
    local_token: string;
  };
  encryption: { enabled: boolean; warning?: string; primary_fingerprint?: string };
  /** Where gossip and RPC listen and what they advertise; warnings when loopback-only or unencrypted. */
  cluster: ClusterView;
  /** Members by state, this node included (alive, suspect, dead, left). */
  members: Record<string, number>;
  pid: number;
  node_version: string;
  started_at: string;
  uptime_seconds: number;
  memory: { rss_bytes: number; heap_used_bytes: number; heap_total_bytes: number };
  state: AgentStatus;
  subsystems: Record<string, SubsystemState>;
  config: { dir: string; files: string[]; definitions: number; warnings: string[] };
  data_dir: string;
}

/** POST /agent/reload. */
export interface ReloadOutcome {
  reloaded: boolean;
  warnings: string[];
  /** Settings that changed but only take effect after a restart. */
  restart_required: string[];
}

/** A member of GET /agent/members. */
export interface MemberView {
  name: string;
  id: string;
  address: string;
  port: number;
  state: string;
  incarnation: number;
  groups: string[];
  datacenter: string;
  version: string;
  rtt_ms: number | null;
  rpc_port: number;
  peer_id: string;
  checks: Record<string, string>;
  /** This node. */
  self: boolean;
  /** When the member took its current state (ISO 8601), as this node saw it. */
  since: string;
}

/** POST /agent/detect. */
export interface DetectResult {
  nodes: Array<{
    name: string;
    id: string;
    address: string;
    port: number;
    datacenter: string;
    groups: string[];
    /** Already a live member of this node's cluster. */
    member: boolean;
  }>;
  joined: { name: string; id: string; address: string } | null;
}

/** The keyring's version and whether this node can follow the newest one (see docs/gossip.md). */
export interface KeyringStatus {
  generation: number;
  primary: string;
  /** A newer version was announced that this node cannot take yet: it lacks `missing`. */
  behind?: { generation: number; primary: string; announced_by: string; missing: string[] };
  /** A newer version holds keys removed here, and its node lacks this node's primary. */
  conflict?: { generation: number; primary: string; announced_by: string; removed: string[] };
}

/** GET /gossip/keys. */
export interface KeysAnswer extends KeyringStatus {
  keys: Array<{ fingerprint: string; primary: boolean; installed: boolean; nodes: number }>;
  members: number;
}

/** Why a gossip packet was dropped. */
export type DropReason =
  | 'decrypt'
  | 'plaintext-refused'
  | 'encrypted-without-key'
  | 'malformed'
  | 'replay'
  | 'wrong-target'
  | 'overload';

/** GET /gossip/stats. */
export interface GossipStats {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  dropped: Record<DropReason, number>;
  /** Errors of the UDP socket by code (EMSGSIZE, ENETUNREACH, ...): a failed send is a lost packet. */
  socketErrors: Record<string, number>;
}

export type CollectorState = 'PENDING' | 'OK' | 'ERROR' | 'NOT-ELIGIBLE';

/** A collector of GET /agent/collectors. */
export interface CollectorStatus {
  name: string;
  type: string;
  pack?: string;
  source: string;
  interval_s: number;
  timeout_s: number;
  if_group?: string;
  state: CollectorState;
  /** Why ERROR or NOT-ELIGIBLE. */
  message?: string;
  last_run_at?: string;
  /** Wall time of the last run. */
  last_duration_ms?: number;
  runs: number;
  errors: number;
}

/** GET /agent/collectors/:name: the status, and the last good data. */
export interface CollectorAnswer extends CollectorStatus {
  data?: Record<string, unknown>;
}

/** A detector of GET /agent/detectors. */
export interface DetectorStatus {
  name: string;
  pack?: string;
  source: string;
  rule: string;
  interval_s: number;
  /** true/false: the rule's last answer; null: not run yet. */
  last_result: boolean | null;
  state: 'PENDING' | 'OK' | 'ERROR';
  message?: string;
  /** Groups this detector gives the node now. */
  groups_added: string[];
  last_run_at?: string;
}

/** GET /agent/detectors. */
export interface DetectorsAnswer {
  groups: string[];
  static_groups: string[];
  detectors: DetectorStatus[];
}

/** A function of GET /agent/evaluator/functions. */
export interface FunctionDoc {
  name: string;
  signature: string;
  doc: string;
}

/** POST /agent/evaluator/eval. */
export interface EvalAnswer {
  expression: string;
  value: unknown;
  references: unknown[];
}

/** A pack of GET /agent/packs: its manifest, parameters in effect, and what it ships by kind. */
export interface PackAnswer {
  name: string;
  description: string;
  version: string;
  enabled: boolean;
  dir: string;
  /** Parameters in effect; values named like secrets are `<hidden>`. */
  parameters: Record<string, unknown>;
  defaults: Record<string, unknown>;
  overridden: string[];
  detectors: string[];
  collectors: string[];
  checks: string[];
  handlers: string[];
}

/** The body of every error answer. */
export interface ErrorAnswer {
  error: string;
  /** 401/403 to a local caller: the agent's data dir, where its local token is. */
  token_required?: boolean;
  data_dir?: string;
}
