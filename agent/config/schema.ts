// The schema of agent settings (agent.yml and the settings part of conf.d/*.yml).
// One TypeBox schema gives both the static type and the JSON schema Ajv validates against.
// Every key has a default, so an empty agent.yml is a valid configuration.
import { Type, type Static } from '@sinclair/typebox';

/** A group name, as `groups:` accepts it and as a detector may render it: letters, digits, _ . - */
export const GROUP_NAME = /^[A-Za-z0-9_.-]+$/;

const Port = Type.Integer({ minimum: 0, maximum: 65535, description: 'a port number 0-65535' });

const LogSettings = Type.Object(
  {
    level: Type.Union(
      [Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')],
      { default: 'info' },
    ),
    /** text: one human-readable line per event with key=value fields; json: one JSON object per line. */
    format: Type.Union([Type.Literal('text'), Type.Literal('json')], { default: 'text' }),
    /** Daemon mode only: the log file in the data dir rotates past this size. */
    max_size_mb: Type.Number({ exclusiveMinimum: 0, default: 10 }),
    /** Daemon mode only: rotated files kept (opsbro.log.1 .. opsbro.log.N). */
    keep_files: Type.Integer({ minimum: 0, maximum: 100, default: 5 }),
  },
  { additionalProperties: false, default: {} },
);

const ApiSettings = Type.Object(
  {
    bind: Type.String({ minLength: 1, default: '127.0.0.1', description: 'an IP address to listen on' }),
    port: Type.Integer({ ...Port, default: 6768 }),
    /** Also serve the API on <data-dir>/api.sock (mode 0600: only the agent's user can use it). */
    socket: Type.Boolean({ default: true }),
    max_body_bytes: Type.Integer({ minimum: 1024, default: 1024 * 1024 }),
  },
  { additionalProperties: false, default: {} },
);

const ApiToken = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'a name for this token (shown in logs)' }),
    token: Type.String({ minLength: 16, description: 'a secret of at least 16 characters' }),
    /** admin: every route; read: the read-only routes (info, members, collectors...). */
    role: Type.Union([Type.Literal('admin'), Type.Literal('read')], { default: 'admin' }),
  },
  { additionalProperties: false },
);

const AuthSettings = Type.Object(
  {
    /** Bearer tokens accepted by the HTTP API over TCP. Required to bind the API beyond loopback. */
    tokens: Type.Array(ApiToken, { default: [] }),
  },
  { additionalProperties: false, default: {} },
);

const GossipSettings = Type.Object(
  {
    port: Type.Integer({ ...Port, default: 6768 }),
    /** Packets stay under this size (piggybacked news is cut to fit). */
    mtu_bytes: Type.Integer({ minimum: 512, maximum: 65000, default: 1400 }),
    probe_interval_ms: Type.Integer({ minimum: 50, default: 1000 }),
    probe_timeout_ms: Type.Integer({ minimum: 10, default: 500 }),
    indirect_checks: Type.Integer({ minimum: 0, maximum: 10, default: 3 }),
    suspicion_multiplier: Type.Integer({ minimum: 1, maximum: 20, default: 3 }),
    suspicion_max_multiplier: Type.Integer({ minimum: 1, maximum: 100, default: 6 }),
    gossip_interval_ms: Type.Integer({ minimum: 10, default: 100 }),
    gossip_nodes: Type.Integer({ minimum: 1, maximum: 20, default: 3 }),
    retransmit_multiplier: Type.Integer({ minimum: 1, maximum: 20, default: 4 }),
    push_pull_interval_s: Type.Number({ exclusiveMinimum: 0, default: 30 }),
    /** Dead and left members are forgotten after this. */
    reap_after_s: Type.Number({ exclusiveMinimum: 0, default: 3600 }),
    /**
     * Offers to a member announcing an older keyring carry the keys it lacks (sealed with a key it
     * holds). false: they carry the version only, so that a holder of a compromised key being
     * rotated away is not handed the new one (docs/gossip.md, "A compromised key").
     */
    key_offers: Type.Boolean({ default: true }),
  },
  { additionalProperties: false, default: {} },
);

const RpcSettings = Type.Object(
  {
    port: Type.Integer({ ...Port, default: 6767 }),
    /**
     * An inbound connection must finish its handshake (private-network nonces, Noise, yamux)
     * within this long, or it is closed; a dialer waits this long (plus 500 ms) for the remote's
     * first bytes. A few round trips between nodes with the key; raise it for links slower than
     * about 200 ms a round trip.
     */
    handshake_timeout_ms: Type.Integer({ minimum: 100, maximum: 60_000, default: 1000 }),
    /**
     * Inbound connections one remote address may have in their handshake at a time (64 in all).
     * Agents sharing a host, or behind one NAT, share an address.
     */
    max_pending_per_address: Type.Integer({ minimum: 1, maximum: 64, default: 16 }),
  },
  { additionalProperties: false, default: {} },
);

/**
 * Where the host's files are, for collectors and the evaluator's file functions. A container that
 * mounts the host at /host sets root: /host; tests point them at a fixture tree.
 */
const PathsSettings = Type.Object(
  {
    root: Type.String({ minLength: 1, default: '/' }),
    /** Empty: <root>/proc. */
    proc: Type.String({ default: '' }),
    /** Empty: <root>/sys. */
    sys: Type.String({ default: '' }),
  },
  { additionalProperties: false, default: {} },
);

/**
 * The expression evaluator's limits (docs/evaluator.md, Safety). env_allow: the environment
 * variables get_env may read (names that look like secrets stay refused even when listed).
 * regexp: grep_file's worker-thread pool, whose bounds need a restart to change.
 */
const EvaluatorSettings = Type.Object(
  {
    env_allow: Type.Array(
      Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'an environment variable name' }),
      {
        default: ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'HOSTNAME', 'USER', 'SHELL'],
        uniqueItems: true,
      },
    ),
    /** Evaluations one API caller (token, local token, unix socket) may have in flight; more get 429. */
    max_evaluations_per_caller: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
    regexp: Type.Object(
      {
        /** Worker threads at most; made on demand, terminated after idle_s without work. */
        workers: Type.Integer({ minimum: 1, maximum: 16, default: 2 }),
        /** Regular expressions waiting for a worker at most; more are "busy" (503 over the API). */
        queue_jobs: Type.Integer({ minimum: 0, maximum: 1000, default: 32 }),
        /** Text held by waiting and running regular expressions at most. */
        queue_mb: Type.Number({ exclusiveMinimum: 0, maximum: 1024, default: 64 }),
        /** How long one regular expression may run; then its worker is terminated. */
        timeout_ms: Type.Integer({ minimum: 10, maximum: 60_000, default: 2000 }),
        idle_s: Type.Number({ minimum: 0, maximum: 3600, default: 30 }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);

/** The DNS interface (docs/dns.md). */
const DnsSettings = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    /** Beyond loopback only with auth.tokens configured (DESIGN.md: every listener alike). */
    bind: Type.String({ default: '127.0.0.1' }),
    port: Type.Integer({ ...Port, default: 6766 }),
    /** The zone answered: `<group>.group.<dc>.opsbro`. */
    domain: Type.String({
      default: '.opsbro',
      pattern:
        '^\\.?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\\.?$',
      description: 'a domain name such as .opsbro or .cluster.example',
    }),
    /** Seconds resolvers may keep an answer, and a NXDOMAIN (the SOA's minimum). 0: ask each time. */
    ttl: Type.Integer({ minimum: 0, maximum: 86_400, default: 0 }),
    /** Leave members with a CRITICAL check out of every group answer (else only `.passing.` names do). */
    only_passing: Type.Boolean({ default: false }),
    /** Where names outside the domain go (HOST or HOST:PORT); none: they are REFUSED. */
    recursors: Type.Array(Type.String({ minLength: 1, description: 'HOST or HOST:PORT' }), { default: [] }),
  },
  { additionalProperties: false, default: {} },
);

/** The KV store (docs/kv.md). */
const KvSettings = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    /** N: the copies of each key (on the members of group kv, else on every member). */
    replicas: Type.Integer({ minimum: 1, maximum: 7, default: 3 }),
    /** W: durable copies before a write is acknowledged (at most replicas). */
    write_quorum: Type.Integer({ minimum: 1, maximum: 7, default: 2 }),
    /** R: replicas a plain read asks (?consistent asks a majority). */
    read_quorum: Type.Integer({ minimum: 1, maximum: 7, default: 1 }),
    /** The largest value, in bytes (a larger PUT is answered 413). */
    max_value_bytes: Type.Integer({ minimum: 1, maximum: 512 * 1024, default: 512 * 1024 }),
    /** How long a delete's tombstone is kept (far longer than anti_entropy_s), in seconds. */
    tombstone_ttl_s: Type.Integer({ minimum: 60, default: 86_400 }),
    /** Seconds between anti-entropy rounds with each other replica (and rebalancing passes). */
    anti_entropy_s: Type.Integer({ minimum: 1, default: 30 }),
    /** Bytes per second that rebalancing, hinted handoff and anti-entropy may send, together. */
    sync_bytes_per_s: Type.Integer({ minimum: 1024, default: 4 * 1024 * 1024 }),
    /** Hints (writes a down replica missed) kept for it at most; the oldest go first. */
    max_hints: Type.Integer({ minimum: 0, default: 100_000 }),
  },
  { additionalProperties: false, default: {} },
);

/** The statsd listener (docs/metrics.md): Etsy statsd's protocol over UDP. */
const StatsdSettings = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    /** Beyond loopback only with auth.tokens configured (DESIGN.md: every listener alike). */
    bind: Type.String({ default: '127.0.0.1' }),
    port: Type.Integer({ ...Port, default: 8125 }),
    /** Seconds between flushes of the aggregated values into the metrics store. */
    interval: Type.Integer({ minimum: 1, maximum: 3600, default: 10 }),
    /** Timer percentiles flushed (statsd's percentThreshold); negative: the lowest values. */
    percent_thresholds: Type.Array(Type.Number({ minimum: -100, maximum: 100 }), { default: [90] }),
    /**
     * Helper processes that read the statsd socket beside the agent under load (from 10k packets
     * a second; stopped 10 minutes after it falls); 0 keeps every packet in the agent.
     */
    readers: Type.Integer({ minimum: 0, maximum: 16, default: 1 }),
  },
  { additionalProperties: false, default: {} },
);

/** The graphite plaintext listener (docs/metrics.md). */
const GraphiteSettings = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    /** Beyond loopback only with auth.tokens configured (DESIGN.md: every listener alike). */
    bind: Type.String({ default: '127.0.0.1' }),
    port: Type.Integer({ ...Port, default: 2003 }),
    udp: Type.Boolean({ default: true }),
    tcp: Type.Boolean({ default: true }),
    /** Carbon servers (HOST or HOST:PORT, plaintext) that every stored point is also sent to. */
    forward: Type.Array(Type.String({ minLength: 1, description: 'HOST or HOST:PORT' }), { default: [] }),
    /** Points waiting for each carbon server at most (while it is down); the oldest go first. */
    forward_queue: Type.Integer({ minimum: 1, default: 100_000 }),
  },
  { additionalProperties: false, default: {} },
);

/** The time-series store (docs/metrics.md). */
const MetricsSettings = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    /** graphite's retention syntax: a point every STEP kept for KEEP, finest first. */
    retention: Type.String({ default: '10s:6h,1m:7d,10m:1y', minLength: 1 }),
    /** Per-name retention and aggregation, the first matching rule wins (carbon's storage-schemas). */
    rules: Type.Array(
      Type.Object(
        {
          /** A regular expression on the series name. */
          pattern: Type.String({ minLength: 1 }),
          retention: Type.Optional(Type.String({ minLength: 1 })),
          aggregation: Type.Optional(
            Type.Union([
              Type.Literal('average'),
              Type.Literal('sum'),
              Type.Literal('min'),
              Type.Literal('max'),
              Type.Literal('last'),
            ]),
          ),
        },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
    /** Series kept at most; the points of new ones beyond are dropped, with a warning. */
    max_series: Type.Integer({ minimum: 1, default: 20_000 }),
    /** Seconds between writes of the in-memory points to disk (what a crash may lose). */
    flush_interval_s: Type.Integer({ minimum: 1, maximum: 300, default: 10 }),
    /** A render or find on this node includes the other members' series (asked over the cluster RPC). */
    cluster_queries: Type.Boolean({ default: true }),
  },
  { additionalProperties: false, default: {} },
);

/**
 * HashiCorp Vault, where a check's `vault_<name>: <key>` reads `<name>` (docs/checks-vault.md).
 * The token is a secret (secrets.ts hides `token` keys); token_file is read at load.
 */
const VaultSettings = Type.Object(
  {
    address: Type.String({
      default: 'http://127.0.0.1:8200',
      pattern: '^https?://[^\\s]+$',
      description: 'an http:// or https:// URL such as https://vault.example.com:8200',
    }),
    token: Type.String({ default: '' }),
    /** A file holding the token (relative to the config dir), read at load, instead of token. */
    token_file: Type.String({ default: '' }),
    /** The KV secrets engine's mount. */
    mount: Type.String({
      minLength: 1,
      default: 'secret',
      pattern: '^[^/\\s]+(/[^/\\s]+)*$',
      description: 'a mount such as secret or kv/team, without a leading or trailing /',
    }),
    /** The secret's path under the mount (a check's vault_path: reads another). */
    path: Type.String({
      default: '',
      pattern: '^$|^[^/\\s]+(/[^/\\s]+)*$',
      description: 'a path such as opsbro/checks, without a leading or trailing /',
    }),
    kv_version: Type.Union([Type.Literal(1), Type.Literal(2)], { default: 2 }),
    /** How long a secret read is used before it is read again; 0: at every run. */
    cache_ttl_s: Type.Number({ minimum: 0, maximum: 86_400, default: 300 }),
    /** PEM: the CA bundle to trust for an https address, instead of the system's. */
    ca: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

/** The checks engine (docs/checks.md). */
const ChecksSettings = Type.Object(
  {
    /** `$nagiosplugins$` in script checks. */
    nagios_plugins_dir: Type.String({ minLength: 1, default: '/usr/lib/nagios/plugins' }),
    /** Check runs at once, at most: the others queue, none is dropped. */
    max_concurrent: Type.Integer({ minimum: 1, maximum: 1024, default: 32 }),
    /**
     * Runs due within this window start together, up to this much early (at most 5% of a check's
     * interval): one wake-up of the agent per window, not per run. 0: each run at its due time.
     */
    start_window_ms: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 }),
    /**
     * Plugins started by the plugin launcher (a small process; the agent never forks), or by the
     * agent itself when false: several times the CPU per run (docs/checks-script.md).
     */
    plugin_launcher: Type.Boolean({ default: true }),
    /** Results kept per check in history (the oldest go). */
    history_results: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
    /** State changes kept per check in history. */
    history_changes: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000 }),
    /**
     * Results gather this long before they are written to history in one batch (0: each at once).
     * A SIGKILL loses at most this much of results; a state change is written (fsync'd) at once.
     */
    history_group_ms: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 }),
    /**
     * A check's status is written with a result at most this often (and with every change of
     * state); a SIGKILL loses at most this much of its counters and flap window (0: with each).
     */
    history_status_s: Type.Integer({ minimum: 0, maximum: 3600, default: 60 }),
    /** Where checks' vault_<name>: keys are read (docs/checks-vault.md); none: such checks are refused. */
    vault: Type.Optional(VaultSettings),
  },
  { additionalProperties: false, default: {} },
);

/**
 * Per pack: parameters overriding the pack.yml defaults (`packs: {redis: {parameters: {port: 6380}}}`),
 * or `enabled: false` to load none of its definitions.
 */
const PackOverrides = Type.Record(
  Type.String(),
  Type.Object(
    {
      enabled: Type.Boolean({ default: true }),
      parameters: Type.Record(Type.String(), Type.Unknown(), { default: {} }),
    },
    { additionalProperties: false },
  ),
  { default: {} },
);

export const AgentSettingsSchema = Type.Object(
  {
    node_name: Type.String({ default: '', description: 'the node name (empty: the hostname)' }),
    datacenter: Type.String({
      default: 'dc1',
      pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
      description: 'a DNS label of lowercase letters, digits and dashes',
    }),
    groups: Type.Array(
      Type.String({
        pattern: GROUP_NAME.source,
        description: 'a group name of letters, digits, _ . -',
      }),
      { default: [], uniqueItems: true },
    ),
    data_dir: Type.String({ default: '', description: 'a directory path (empty: the default data dir)' }),
    /**
     * Gossip UDP and cluster RPC listen here. Empty: 0.0.0.0 with a cluster key, 127.0.0.1 without
     * one; an address beyond loopback without a key needs allow_unencrypted_cluster.
     */
    bind_addr: Type.String({ default: '' }),
    /** Let gossip and RPC listen beyond loopback without an encryption key (an open cluster). */
    allow_unencrypted_cluster: Type.Boolean({ default: false }),
    /** What other nodes dial; empty: bind_addr when specific, else the first non-loopback IPv4. */
    advertise_addr: Type.String({ default: '' }),
    /** Nodes to join at boot (HOST or HOST:PORT), retried with backoff until one answers. */
    seeds: Type.Array(Type.String({ minLength: 1, description: 'HOST or HOST:PORT' }), { default: [] }),
    encryption_key: Type.String({
      default: '',
      pattern: '^$|^[A-Za-z0-9+/]{43}=$',
      description: 'the base64 of 32 bytes, as printed by `opsbro agent keygen`',
    }),
    encryption_key_file: Type.String({ default: '' }),
    log: LogSettings,
    gossip: GossipSettings,
    rpc: RpcSettings,
    api: ApiSettings,
    auth: AuthSettings,
    paths: PathsSettings,
    packs: PackOverrides,
    evaluator: EvaluatorSettings,
    checks: ChecksSettings,
    dns: DnsSettings,
    kv: KvSettings,
    statsd: StatsdSettings,
    graphite: GraphiteSettings,
    metrics: MetricsSettings,
  },
  { additionalProperties: false },
);

export type AgentSettings = Static<typeof AgentSettingsSchema>;

/** Settings that a reload cannot change in a running agent: they need a restart. */
export const RESTART_ONLY_SETTINGS: ReadonlyArray<string> = [
  'node_name',
  'datacenter',
  'data_dir',
  'encryption_key',
  'encryption_key_file',
  'bind_addr',
  'allow_unencrypted_cluster',
  'advertise_addr',
  'gossip',
  'rpc',
  'api',
  'auth',
  'paths',
  'log.format',
  'log.max_size_mb',
  'log.keep_files',
  'evaluator.regexp',
  'checks.nagios_plugins_dir',
  'checks.max_concurrent',
  'checks.start_window_ms',
  'checks.plugin_launcher',
  'checks.history_results',
  'checks.history_changes',
  'checks.history_group_ms',
  'checks.history_status_s',
  'checks.vault',
  'dns',
  'kv',
  'statsd',
  'graphite',
  'metrics',
];
