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
  /** The member's checks as gossip knows them: its table's version and counts per state. */
  checks: CheckSummary;
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
  /** Push-pulls started because a member knew more live members than this node (engine.ts, REPAIR_*). */
  repairs: number;
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

/** Nagios' four states, lowercase on the wire and in the API (the CLI shows them uppercase). */
export type CheckState = 'ok' | 'warning' | 'critical' | 'unknown';

export const CHECK_STATES: readonly CheckState[] = ['ok', 'warning', 'critical', 'unknown'];

/** Soft while a problem has not been confirmed by `max_attempts` results in a row (Nagios). */
export type CheckStateType = 'soft' | 'hard';

/**
 * One performance datum, as the Nagios plugin guidelines write it:
 * `'label'=value[UOM];[warn];[crit];[min];[max]`. warn and crit are ranges (`10`, `10:`, `~:10`,
 * `@10:20`) kept as written; min and max are numbers.
 */
export interface PerfDatum {
  label: string;
  value: number;
  /** '', s, ms, us, %, B, KB, MB, TB, c (a counter). */
  uom: string;
  warn?: string;
  crit?: string;
  min?: number;
  max?: number;
}

/**
 * One of the things a check watches, as its last run found it: an EC2 instance (aws_ec2), a
 * replica-set member (mongodb), a Celery worker (celery). Platus reports one service per item.
 */
export interface CheckItem {
  /** What it is called: an instance's Name tag (else its id), a member's host:port, a worker's node name. */
  name: string;
  /** What identifies it when its name is another (an EC2 instance's id when it has a Name tag). */
  id?: string;
  state: CheckState;
  /** One line: what the run found of it. */
  output: string;
}

/** Where a check stands: its last result, soft/hard state and flapping (GET /monitoring/state). */
export interface CheckStatus {
  name: string;
  display_name?: string;
  /** The check's type: evaluated, script, http, ... */
  type: string;
  /** 'pending' before the first result. */
  state: CheckState | 'pending';
  state_type: CheckStateType;
  /** 1 when OK or hard; counts the non-OK results in a row while soft. */
  attempt: number;
  max_attempts: number;
  /** The last hard state ('ok' before any problem was confirmed). */
  last_hard_state: CheckState;
  output: string;
  long_output?: string;
  perfdata: PerfDatum[];
  /** One per thing the check watches, from its last result, for the types that say (aws_ec2, mongodb, celery). */
  items?: CheckItem[];
  /** ISO times: the last run, the last change of state (soft or hard), the last hard change. */
  last_run_at?: string;
  last_change_at?: string;
  last_hard_change_at?: string;
  duration_ms?: number;
  flapping: boolean;
  /** Nagios' weighted percent of state change over the last 21 results. */
  percent_state_change: number;
  /** The last results' states, oldest first (at most 21): what flap detection weighs. */
  recent_states: CheckState[];
  interval_s: number;
  retry_interval_s: number;
  next_run_at?: string;
  notes?: string;
  handlers: string[];
  source?: string;
  pack?: string;
  /** A placed check (`run_on`): its runners and their combined state (what /status counts). */
  placement?: CheckPlacement;
  /** Counted over the check's life on this node (kept across restarts), as skypunch counts a target's. */
  counters?: CheckCounters;
}

/** A check as `opsbro targets` lists it: its status and counters, and whether it is switched on. */
export interface TargetStatus extends CheckStatus {
  /** false: switched off cluster-wide (`opsbro targets NAME disable`). */
  enabled: boolean;
}

/** `POST /monitoring/targets/NAME/enable|disable`. */
export interface TargetSwitchAnswer {
  name: string;
  enabled: boolean;
}

/** A check's results counted (skypunch's target counters). */
export interface CheckCounters {
  /** OK results. */
  pass: number;
  /** Every other result (WARNING, CRITICAL, UNKNOWN). */
  fail: number;
  /** Non-OK results in a row now (0 after an OK). */
  repeated_fails: number;
  /** Results where the service did not answer at all (refused, unreachable, timed out). */
  network_fails: number;
  /** Answers by HTTP status class, for the checks that speak HTTP. */
  http_2xx: number;
  http_3xx: number;
  http_4xx: number;
  http_5xx: number;
}

/** One runner of a placed check (`run_on`), as this node sees it through gossip. */
export interface PlacedRunner {
  node: string;
  node_id: string;
  /** 'pending' until its first result reached this node (or when its table lacks the check). */
  state: CheckState | 'pending';
  state_type: CheckStateType;
  output: string;
  /** ms since the epoch of its last change of state (0: unknown). */
  since: number;
}

/** A placed check (`run_on: {group, replicas, quorum}`): its runners and their combined state. */
export interface CheckPlacement {
  name: string;
  group: string;
  replicas: number;
  /** Results that must agree (default a majority of replicas; all runners when fewer exist). */
  quorum: number;
  /** Best rendezvous score first: the first one notifies the combined changes. */
  runners: PlacedRunner[];
  /** Whether this node is one of the runners. */
  runs_here: boolean;
  /** The combined state: the worst that at least `quorum` runners report. */
  state: CheckState | 'pending';
  state_type: CheckStateType;
  output: string;
}

/** One state change, kept in history (soft and hard); hard ones are also `check-state-change` events. */
export interface CheckStateChange {
  check: string;
  /** ISO time. */
  at: string;
  from: CheckState | 'pending';
  to: CheckState;
  state_type: CheckStateType;
  attempt: number;
  output: string;
}

/** One result, kept in a bounded ring per check (history). */
export interface CheckResultRecord {
  /** ISO time the run started. */
  at: string;
  state: CheckState;
  state_type: CheckStateType;
  attempt: number;
  output: string;
  long_output?: string;
  perfdata: PerfDatum[];
  duration_ms: number;
}

/**
 * A check as the cluster knows it (gossip deltas, the tables fetched over RPC, `checks list --all`):
 * small, so a state change fits in a gossip packet.
 */
export interface CheckBrief {
  name: string;
  state: CheckState | 'pending';
  state_type: CheckStateType;
  /** The first line of the output, cut to CHECK_BRIEF_OUTPUT_BYTES. */
  output: string;
  /** ms since the epoch of the last change of state. */
  since: number;
}

/** What a check's brief keeps of its output. */
export const CHECK_BRIEF_OUTPUT_BYTES = 256;

/** The worst-of override (`opsbro status override critical --reason R`), spread in the node's state. */
export interface StatusOverride {
  state: 'critical';
  reason: string;
  /** ISO time it was set. */
  since: string;
}

/** A node's check table: every node keeps every node's (answered locally). */
export interface NodeCheckTable {
  node: string;
  node_id: string;
  /** Bumped by every change of the table; a node that sees a higher one than it holds fetches the table. */
  version: number;
  checks: CheckBrief[];
  override?: StatusOverride;
  /**
   * The node's member state as this node sees it (alive, suspect, dead), in the tables gossip
   * keeps: a dead node's table is kept, and says so. Unset in the table a checks subsystem builds.
   */
  node_state?: string;
}

/**
 * A node's checks in its gossip record (and `gossip members --json`): the version of its table,
 * how many checks are in each state, and whether a status override is set. The table itself
 * travels as deltas and is fetched whole only by a node that lacks a version (docs/gossip.md).
 */
export interface CheckSummary {
  /**
   * When the node's gossip started (s since the Unix epoch): versions compare within one epoch,
   * and a later epoch is newer whatever its version (the node restarted its numbering).
   */
  epoch: number;
  version: number;
  ok: number;
  warning: number;
  critical: number;
  unknown: number;
  pending: number;
  override: boolean;
}

/** GET /monitoring/state: this node's table (briefs, version, override) and every check's status. */
export interface NodeMonitoringState extends NodeCheckTable {
  statuses: CheckStatus[];
}

/** GET /monitoring/checks/:name: where the check stands, its recent results and its changes. */
export interface CheckDetail {
  status: CheckStatus;
  /** Newest first. */
  results: CheckResultRecord[];
  /** Newest first, soft and hard. */
  changes: CheckStateChange[];
}

/**
 * GET /monitoring/scheduler: how the checks' scheduler keeps up. Lag is how late a run starts
 * after it fell due (waiting for a slot, or for the event loop), over the latest 1024 runs.
 */
export interface CheckSchedulerAnswer {
  /** This node's checks (enabled, in their if_group). */
  checks: number;
  /** checks.max_concurrent: runs under way at once, at most. */
  max_concurrent: number;
  running: number;
  /** Due, waiting for a slot. */
  queued: number;
  /** Runs started since the agent started. */
  started: number;
  /** Runs that fell due while the check's previous run was still under way: skipped, not queued. */
  skipped: number;
  lag_p50_ms: number;
  lag_p99_ms: number;
}

/** POST /monitoring/checks/:name/run: the result of the run it asked for, as history keeps it. */
export interface CheckRunAnswer extends CheckResultRecord {
  name: string;
}

/** Megaphone's words for the states, worst last: OK < UNKNOWN < WARNING < CRITICAL. */
export type MegaphoneStatus = 'OK' | 'UNKNOWN' | 'WARNING' | 'CRITICAL';

/** A check in GET /status, megaphone style. */
export interface StatusCheck {
  name: string;
  /** Its current state; PENDING before its first result. */
  status: MegaphoneStatus | 'PENDING';
  /** soft: a problem not confirmed yet, which the node's status does not count. */
  state_type: CheckStateType;
  /** Its output. */
  message: string;
  /** ISO time of its last change of state (absent while pending). */
  date?: string;
}

/** GET /status: megaphone's `{status, date, message}` for this node, plus its checks. */
export interface StatusAnswer {
  /** The worst hard state among the checks, or CRITICAL while overridden. */
  status: MegaphoneStatus;
  /** ISO time of this answer. */
  date: string;
  /** The override's reason and the non-OK checks with their outputs, worst first. */
  message: string;
  override?: StatusOverride;
  checks: StatusCheck[];
}

/** POST /status/override (the override set) and DELETE /status/override (`cleared`: there was one). */
export interface OverrideAnswer {
  override?: StatusOverride;
  cleared?: boolean;
}

/** Platus' words for a service's state: OK, WARNING, CRITICAL and UNKNOWN (or pending) in turn. */
export type PlatusState = 'operational' | 'unhealthy' | 'down' | 'unknown';

/**
 * A check in GET /api/v1.0/status, as Platus reports a service (docs/platus.md): its keys in
 * Platus' order (Flask sorts them), times as Python's str() writes a datetime and a timedelta.
 */
export interface PlatusStatusItem {
  /** When its last run ended, local time: `2017-04-30 16:58:04.687229` (absent while pending). */
  checked?: string;
  /** How long its last run took: `0:00:00.729046` (absent while pending). */
  elapsed?: string;
  /** Before the non-operational results in a row that led to `state`: operational, or the first known. */
  last_state: PlatusState;
  /** Platus' data.name, else the check's name. */
  name: string;
  /** Platus' host checked, else this node's name. */
  node: string;
  /** Non-operational results in a row (0 when operational), at most the 21 results kept. */
  retries: number;
  state: PlatusState;
  /** Platus' data.type (App, Database, ...), else the check's type. */
  type: string;
}

/** GET /api/v1.0/status: `["No data"]` when this node has no check, as Platus answers. */
export interface PlatusStatusAnswer {
  result: PlatusStatusItem[] | ['No data'];
}

/** GET /dns/stats: what the DNS interface answered since the agent started (docs/dns.md). */
export interface DnsStatsAnswer {
  enabled: boolean;
  /** Where it listens (UDP and TCP), once started. */
  port?: number;
  queries: { udp: number; tcp: number; total: number };
  /** Answers by rcode: NOERROR, NXDOMAIN, REFUSED, FORMERR, NOTIMP, SERVFAIL. */
  answers: Record<string, number>;
  /** UDP answers cut to the question with TC set (the client asks again over TCP). */
  truncated: number;
  /** Queries outside the domain answered by a recursor. */
  forwarded: number;
  /** Packets that got no answer: responses, runts, a TCP client gone. */
  dropped: number;
  /** How long answers took, over the latest 1024, in microseconds. */
  latency_us: { p50: number; p99: number };
}

// ---- megaphone's runtime check registry (`/checks`, docs/checks-services.md) -----------------

/** megaphone's `url` of a registered check: the status URL, or its object form. */
export type MegaphoneCheckUrl =
  | string
  | {
      addr: string;
      /** megaphone's `megaphone/status` (slashes, pointing at the status itself), or `$.checks.db`. */
      jsonpath?: string;
      /** OK, Warning, Critical or Unknown; false or null: none (megaphone's post.py sends false). */
      statusoverride?: string | false | null;
    };

/** A registered check as kept in `<data-dir>/registered-checks.json`: megaphone's {id, url} and opsbro's timing. */
export interface MegaphoneRegistration {
  id: string;
  url: MegaphoneCheckUrl;
  /** opsbro's: how often it runs (default 60s), its timeout, its max_attempts. */
  interval?: string | number;
  timeout?: string | number;
  max_attempts?: number;
  /** ISO time of the POST that made it as it is. */
  registered_at: string;
}

/** GET /checks: every registered check's url by id, as megaphone lists them (`--global`: the override's reason). */
export type MegaphoneCheckList = Record<string, MegaphoneCheckUrl>;

/** megaphone's words for a status, as its status endpoints answer them. */
export type MegaphoneCheckStatus = 'OK' | 'Warning' | 'Critical' | 'Unknown';

/** GET /checks/:id: the registered check's last result, in megaphone's shape (status, message, date, id). */
export interface MegaphoneCheckAnswer {
  id: string;
  status: MegaphoneCheckStatus;
  message: string;
  /** ISO time of the last result (of the registration while none). */
  date: string;
  url: MegaphoneCheckUrl;
  /** soft or hard (opsbro's); absent while the check has no result, or does not run. */
  state_type?: CheckStateType;
  registered_at?: string;
}

/** POST /checks: what was registered; created false when it replaced a registration of that id. */
export interface MegaphoneRegisterAnswer {
  id: string;
  url: MegaphoneCheckUrl;
  created: boolean;
}

/** DELETE /checks/:id. */
export interface MegaphoneDeleteAnswer {
  id: string;
  deleted: true;
}
