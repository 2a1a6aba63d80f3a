// The agent: loads configuration, takes the data dir, wires the subsystems together and hands
// them to the lifecycle (agent/core). This is the only file that knows every subsystem; nothing
// imports it statically (the CLI loads it on demand for `opsbro agent start`).
import { hostname } from 'node:os';
import type { TSchema } from '@sinclair/typebox';
import { join, resolve } from 'node:path';
import { HttpApi } from './api/index.js';
import {
  COLLECTOR_TYPES,
  CollectorsSubsystem,
  collectorDefinitionSchema,
  hostPaths,
} from './collectors/index.js';
import {
  type AgentSettings,
  AgentSettingsSchema,
  ConfigErrors,
  type LoadedConfig,
  loadConfig,
  PackManifestSchema,
  packRoutes,
} from './config/index.js';
import {
  CHECK_TYPES,
  CheckDefinitionSchema,
  type CheckDependencies,
  checkRuleErrors,
  ChecksSubsystem,
  LevelCheckHistory,
  IN_AGENT_SPAWNER,
  CHECK_SWITCHES_FILE,
  DISABLED_CHECKS_KEY,
  OVERRIDE_FILE,
  REGISTRY_FILE,
  type SwitchNews,
  type SwitchStore,
  pluginSpawner,
  type PluginSpawner,
} from './checks/index.js';
import { type VaultClient, vaultClientOf } from './checks/vault/index.js';
import { launchDaemon, isDaemonChild, reportToLauncher, StderrFileCap, stderrFileOf } from './core/daemon.js';
import { agentInfo } from './core/info.js';
import { Lifecycle } from './core/lifecycle.js';
import { evaluatorProtectedPaths } from './core/protected-paths.js';
import { planReload } from './core/reload.js';
import { agentRoutes, type AgentControl } from './core/routes.js';
import { installSignalHandlers } from './core/signals.js';
import { type DataDir, LOCAL_TOKEN_FILE, openDataDir } from './datadir/index.js';
import { DnsSubsystem } from './dns/index.js';
import { indexOf, type KvAction, type KvActionResult, KvSubsystem } from './kv/index.js';
import { MetricsSubsystem } from './metrics/index.js';
import { prometheusRoute } from './core/prometheus.js';
import { openStore, type Store } from './store/index.js';
import { DetectorDefinitionSchema, DetectorsSubsystem, detectorRuleErrors } from './detectors/index.js';
import { Evaluator, type EvaluatorProviders, evaluatorRoutes } from './evaluator/index.js';
import { EventBus } from './events/index.js';
import { GossipSubsystem, KeyringStore } from './gossip/index.js';
import { Logger, RateLimitedLog, RotatingFile } from './log/index.js';
import { createClusterRpc } from './rpc/index.js';
import type { AgentInfo, ReloadOutcome, SubsystemState } from './shared/api-types.js';
import { REQUEST_BODY_SCHEMAS } from './shared/body.js';
import { messageOf } from './shared/errors.js';
import { type AjvProfile, validatorLookups } from './shared/precompiled-validators.js';
import { defaultConfigDir, defaultDataDir, packageVersion } from './shared/paths.js';
import type { Subsystem } from './subsystem.js';

export { STOP_BUDGET_MS } from './core/lifecycle.js';

export interface StartOptions {
  /** Default: /etc/opsbro when it exists, else the package's embedded defaults. */
  configDir?: string;
  dataDir?: string;
  daemon?: boolean;
  /** Detect a cluster on the LAN at boot and join it (when no seeds are configured). */
  autoDetect?: boolean;
  /** Shows that something is being waited for (the CLI passes its spinner). */
  showWaiting?: (text: string) => { stop(): void };
  /** Replaces log.format in the foreground (`agent start --json`: JSON lines on stdout). */
  logFormat?: 'text' | 'json';
  /** How the outcome reaches the operator; default: a line on stdout, errors as `opsbro: ...` on stderr. */
  report?: StartReport;
}

/** The outcome of a start, for the operator (the CLI prints it as text or JSON). */
export interface StartReport {
  /** --daemon: the agent runs in the background. */
  daemonStarted(pid: number, logFile: string): void;
  /** The agent could not start: one line per reason. */
  failed(lines: string[]): void;
}

/**
 * Definition kinds handled by the subsystems of this build, with their schemas. The loader refuses
 * a definition of any other kind (config/definition-kinds.ts): add a kind here with its subsystem.
 */
export const DEFINITION_SCHEMAS = {
  detector: DetectorDefinitionSchema,
  collector: collectorDefinitionSchema([...COLLECTOR_TYPES.keys()]),
  check: CheckDefinitionSchema,
};

/**
 * The schemas an agent's start checks, by how they are compiled: settings are checked then filled
 * (config/validate.ts); definitions' bodies and check types' settings are checked, a check's
 * definition filled (shared/schema-check.ts). With them, the API's request bodies, checked and
 * filled at each route's first request (shared/body.ts). build/validators.mjs generates their
 * validators.
 */
export const START_SCHEMAS: Record<AjvProfile, TSchema[]> = {
  check: [AgentSettingsSchema, PackManifestSchema, ...Object.values(DEFINITION_SCHEMAS)],
  fill: [AgentSettingsSchema, PackManifestSchema, ...Object.values(DEFINITION_SCHEMAS)],
  plain: [...Object.values(DEFINITION_SCHEMAS), ...[...CHECK_TYPES.values()].map((type) => type.schema)],
  filling: [CheckDefinitionSchema, ...REQUEST_BODY_SCHEMAS],
};

/**
 * The whole configuration, with every expression compiled: a rule that cannot parse is a config
 * error at its line, before anything starts (or instead of a reload).
 */
function loadAgentConfig(configDir: string): LoadedConfig {
  const config = loadConfig({ configDir, definitionSchemas: DEFINITION_SCHEMAS });
  const compiler = new Evaluator(NO_PROVIDERS);
  const compile = (expression: string) => compiler.compile(expression);
  // checks.vault: a bad address or an unreadable token_file is a config error; no request is made.
  const vault = vaultClientOf(config);
  const errors = [
    ...vault.errors,
    ...detectorRuleErrors(config.definitions, compile),
    ...checkRuleErrors(config.definitions, {
      types: CHECK_TYPES,
      compile,
      // create() only: no check runs at load.
      dependencies: {
        evaluator: compiler,
        nagiosPluginsDir: config.settings.checks.nagios_plugins_dir,
        pluginSpawner: IN_AGENT_SPAWNER,
        vault: vault.client,
      },
      packs: config.packs,
    }),
  ];
  if (errors.length) throw new ConfigErrors(errors, config.warnings);
  return config;
}

/** Compiling needs no data (and reads no file: nothing to protect). */
const NO_PROVIDERS: EvaluatorProviders = {
  collectorData: () => undefined,
  groups: () => [],
  staticGroups: () => [],
  countNodes: () => 0,
  paths: { root: '/', protectedPaths: [] },
  envAllowList: () => [],
};

/** The subsystems of this build, built with what each needs, and the routes the API serves. */
class Agent implements AgentControl {
  private readonly events: EventBus;
  private readonly startedAt = new Date();
  private readonly api: HttpApi;
  private readonly gossip: GossipSubsystem;
  private readonly collectors: CollectorsSubsystem;
  private readonly detectors: DetectorsSubsystem;
  private readonly checks: ChecksSubsystem;
  private readonly dns: DnsSubsystem;
  private readonly kv: KvSubsystem;
  private readonly metrics: MetricsSubsystem;
  private readonly pluginSpawner: PluginSpawner;
  private readonly vault?: VaultClient;
  private readonly evaluator: Evaluator;
  private readonly lifecycle: Lifecycle;
  /** In start order. */
  private readonly subsystems: Subsystem[];

  constructor(
    private config: LoadedConfig,
    private readonly dataDir: DataDir,
    private readonly logger: Logger,
    private readonly store: Store,
    options: { autoDetect?: boolean } = {},
  ) {
    // A subscriber's bug is logged with its stack (a bug, not bad input) and never reaches the
    // publisher; one that fails on every event must not flood the log: once a minute per event.
    const subscriberErrors = new RateLimitedLog((message, fields) => logger.error(message, fields));
    this.events = new EventBus({
      onSubscriberError: (error, event) =>
        subscriberErrors.warn(event, 'an event subscriber failed (the other subscribers ran)', {
          event,
          error,
          ...(error instanceof Error && error.stack ? { stack: error.stack } : {}),
        }),
    });
    const { settings } = config;
    this.api = new HttpApi({
      bind: settings.api.bind,
      port: settings.api.port,
      socketPath: settings.api.socket ? dataDir.apiSocket : undefined,
      maxBodyBytes: settings.api.max_body_bytes,
      tokens: settings.auth.tokens,
      localToken: dataDir.localToken,
      dataDir: dataDir.path,
      logger: logger.child({ subsystem: 'api' }),
    });
    this.gossip = new GossipSubsystem({
      settings,
      nodeId: dataDir.nodeId,
      nodeName: settings.node_name || hostname(),
      version: packageVersion(),
      keyringStore: new KeyringStore(dataDir.path),
      createRpc: (clusterKey, host) =>
        createClusterRpc({
          host,
          port: settings.rpc.port,
          dataDir: dataDir.path,
          clusterKey,
          handshakeTimeoutMs: settings.rpc.handshake_timeout_ms,
          maxPendingPerAddress: settings.rpc.max_pending_per_address,
        }),
      events: this.events,
      // A closure: gossip starts before the checks, whose table is empty until their first results.
      localCheckTable: () => this.checks.localTable(),
      logger: logger.child({ subsystem: 'gossip' }),
      autoDetect: options.autoDetect,
    });
    this.collectors = new CollectorsSubsystem({
      settings,
      definitions: config.definitions,
      packs: config.packs,
      types: COLLECTOR_TYPES,
      events: this.events,
      logger: logger.child({ subsystem: 'collectors' }),
    });
    const { regexp } = settings.evaluator;
    this.evaluator = new Evaluator(
      {
        collectorData: (name) => this.collectors.data(name),
        groups: () => this.detectors.nodeGroups(),
        staticGroups: () => this.detectors.staticNodeGroups(),
        countNodes: (group, state) =>
          this.gossip.members().filter((member) => member.state === state && member.groups.includes(group))
            .length,
        paths: {
          root: hostPaths(settings).root,
          // Read at each check from the running config: a reload's new conf.d files are protected.
          protectedPaths: () => evaluatorProtectedPaths(this.config, dataDir.path),
        },
        // Read at each call: env_allow applies on reload.
        envAllowList: () => this.settings.evaluator.env_allow,
      },
      {
        regexp: {
          workers: regexp.workers,
          queueJobs: regexp.queue_jobs,
          queueBytes: Math.round(regexp.queue_mb * 1024 * 1024),
          timeoutMs: regexp.timeout_ms,
          idleMs: regexp.idle_s * 1000,
        },
      },
    );
    this.detectors = new DetectorsSubsystem({
      settings,
      definitions: config.definitions,
      packs: config.packs,
      evaluator: this.evaluator,
      events: this.events,
      logger: logger.child({ subsystem: 'detectors' }),
      collectorsReady: () => this.collectors.ready(),
    });
    // Started at the first plugin run; closed once the checks are stopped.
    this.pluginSpawner = pluginSpawner(
      settings.checks.plugin_launcher,
      logger.child({ subsystem: 'checks' }),
    );
    // checks.vault (restart only): validated at load; no request is made before a check runs.
    this.vault = vaultClientOf(config).client;
    const checkDependencies: CheckDependencies = {
      evaluator: this.evaluator,
      nagiosPluginsDir: settings.checks.nagios_plugins_dir,
      pluginSpawner: this.pluginSpawner,
      vault: this.vault,
    };
    this.checks = new ChecksSubsystem({
      definitions: config.definitions,
      packs: config.packs,
      types: CHECK_TYPES,
      dependencies: checkDependencies,
      history: LevelCheckHistory.on(store, {
        resultsPerCheck: settings.checks.history_results,
        changesPerCheck: settings.checks.history_changes,
        groupMs: settings.checks.history_group_ms,
        statusEveryMs: settings.checks.history_status_s * 1000,
      }),
      events: this.events,
      logger: logger.child({ subsystem: 'checks' }),
      node: {
        name: settings.node_name || hostname(),
        id: dataDir.nodeId,
        hostname: hostname(),
        address: () => this.gossip.advertisedAddress(),
      },
      groups: () => this.detectors.nodeGroups(),
      overrideFile: join(dataDir.path, OVERRIDE_FILE),
      registryFile: join(dataDir.path, REGISTRY_FILE),
      collectorsReady: () => this.collectors.ready(),
      maxConcurrent: settings.checks.max_concurrent,
      startWindowMs: settings.checks.start_window_ms,
      clusterTables: () => this.gossip.checkTables(),
      switches: {
        store: kvSwitchStore(() => this.kv),
        news: gossipSwitchNews(() => this.gossip, this.events),
        file: join(dataDir.path, CHECK_SWITCHES_FILE),
      },
      members: () =>
        this.gossip.members().map((member) => ({
          id: member.id,
          name: member.name,
          state: member.state,
          groups: member.groups,
        })),
    });
    this.dns = new DnsSubsystem({
      settings,
      // Gossip's members as DNS answers them: alive or suspect, in this datacenter, by group.
      members: () =>
        this.gossip.members().map((member) => ({
          name: member.name,
          address: member.address,
          state: member.state,
          groups: member.groups,
          datacenter: member.datacenter,
          critical: member.checks.critical,
        })),
      events: this.events,
      logger: logger.child({ subsystem: 'dns' }),
    });
    this.kv = new KvSubsystem({
      settings,
      nodeId: dataDir.nodeId,
      store,
      cluster: {
        members: () =>
          this.gossip
            .members()
            .map((member) => ({ id: member.id, state: member.state, groups: member.groups })),
        serveProtocol: (protocol, handler, options) => this.gossip.serveProtocol(protocol, handler, options),
        requestMember: (id, protocol, payload, timeoutMs) =>
          this.gossip.requestMember(id, protocol, payload, timeoutMs),
      },
      events: this.events,
      logger: logger.child({ subsystem: 'kv' }),
    });
    this.metrics = new MetricsSubsystem({
      settings,
      store,
      events: this.events,
      logger: logger.child({ subsystem: 'metrics' }),
      cluster: {
        peers: () =>
          this.gossip
            .members()
            .filter(
              (member) =>
                member.id !== dataDir.nodeId && (member.state === 'alive' || member.state === 'suspect'),
            )
            .map((member) => member.id),
        serveProtocol: (protocol, handler) =>
          this.gossip.serveProtocol(protocol, handler, { pipelined: true }),
        requestMember: (id, protocol, payload, timeoutMs) =>
          this.gossip.requestMember(id, protocol, payload, timeoutMs),
      },
    });
    // Start order; stop runs in reverse (gossip leaves the cluster before the API closes; DNS
    // stops answering first; KV serves until the checks are stopped).
    this.subsystems = [
      this.api,
      this.gossip,
      this.kv,
      // Before the collectors and checks, so their first numbers are kept.
      this.metrics,
      this.collectors,
      this.detectors,
      this.checks,
      this.dns,
    ];
    this.lifecycle = new Lifecycle({
      subsystems: this.subsystems,
      events: this.events,
      logger,
      afterStop: async () => {
        // Checks, detectors and the API are stopped: no evaluation needs the regexp workers any
        // more, and no check runs: the plugin launcher can go too. Both at once, 500 ms at most.
        await Promise.race([
          Promise.all([
            this.evaluator.close().catch(() => undefined),
            this.pluginSpawner.close?.().catch(() => undefined),
            this.vault?.close(),
          ]),
          sleep(500),
        ]);
        // The checks are stopped: nothing writes history any more.
        await this.store
          .close()
          .catch((error: unknown) =>
            logger.error('the store did not close cleanly', { error: messageOf(error) }),
          );
        this.dataDir.lock.release();
        logger.info('agent stopped', {
          uptime_seconds: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
        });
      },
    });
    this.api.addRoutes(agentRoutes(this));
    this.api.addRoutes(
      evaluatorRoutes(this.evaluator, {
        maxEvaluationsPerCaller: () => this.settings.evaluator.max_evaluations_per_caller,
      }),
    );
    this.api.addRoutes(packRoutes(() => this.config));
    for (const subsystem of this.subsystems) if (subsystem.routes) this.api.addRoutes(subsystem.routes());
    this.api.addRoutes([
      prometheusRoute(this.subsystems.flatMap((subsystem) => subsystem.exposition?.() ?? [])),
    ]);
  }

  private get settings(): AgentSettings {
    return this.config.settings;
  }

  async start(): Promise<void> {
    await this.lifecycle.start();
    if (!this.lifecycle.running) return;
    this.logger.info('agent started', {
      name: this.settings.node_name || hostname(),
      id: this.dataDir.nodeId,
      version: packageVersion(),
      datacenter: this.settings.datacenter,
      data_dir: this.dataDir.path,
      config_dir: this.config.configDir,
      pid: process.pid,
    });
    // Every schema a start checks has a validator generated at build time (START_SCHEMAS):
    // compiling the ~24 of a start cost ~0.5 s of its CPU.
    const validators = validatorLookups();
    this.logger.debug('validators of the start', {
      generated_file: validators.generated,
      generated_used: validators.found,
      compiled_at_run_time: validators.compiledAtRunTime,
    });
  }

  stop(reason: string): Promise<void> {
    return this.lifecycle.stop(reason);
  }

  requestStop(reason: string): void {
    void this.stop(reason).then(() => process.exit(0));
  }

  /** Re-reads the configuration. A bad one is refused (logged, thrown) and the running one kept. */
  reload(): ReloadOutcome {
    let next: LoadedConfig;
    try {
      next = loadAgentConfig(this.config.configDir);
    } catch (error) {
      const message =
        error instanceof ConfigErrors ? error.errors.map((e) => e.message).join('; ') : String(error);
      this.logger.error('reload refused, the running configuration is kept', { error: message });
      this.events.emit('config-reload-failed', { error: message });
      throw error;
    }
    const { config, restartRequired } = planReload(this.config, next);
    this.config = config;
    this.logger.setLevel(config.settings.log.level);
    // In start order: the collectors' new set is in place before the detectors publish groups.
    for (const subsystem of this.subsystems) subsystem.reload?.(config);
    for (const warning of config.warnings) this.logger.warn(`config: ${warning}`);
    if (restartRequired.length)
      this.logger.warn('changed settings need a restart to apply', { keys: restartRequired.join(',') });
    this.events.emit('config-reloaded', { warnings: config.warnings });
    this.logger.info('configuration reloaded', {
      files: config.files.length,
      definitions: config.definitions.length,
    });
    return { reloaded: true, warnings: config.warnings, restart_required: restartRequired };
  }

  info(): AgentInfo {
    const subsystems: Record<string, SubsystemState> = {
      config: this.config.warnings.length
        ? { status: 'ok', message: `${this.config.warnings.length} warning(s)` }
        : { status: 'ok' },
    };
    // Shown once the log output has fallen behind (a stdout pipe nobody reads): lines were lost.
    const droppedLines = this.logger.droppedLines;
    if (droppedLines)
      subsystems.log = {
        status: 'ok',
        message: `${droppedLines} log lines dropped: the output did not keep up`,
      };
    for (const subsystem of this.subsystems) subsystems[subsystem.name] = subsystem.state();
    const tcp = this.api.tcpAddress;
    const { settings } = this;
    return agentInfo({
      name: settings.node_name || hostname(),
      id: this.dataDir.nodeId,
      datacenter: settings.datacenter,
      groups: this.detectors.nodeGroups(),
      startedAt: this.startedAt,
      apiPort: tcp?.port ?? settings.api.port,
      api: {
        tcp: `${tcp?.address ?? settings.api.bind}:${tcp?.port ?? settings.api.port}`,
        socket: settings.api.socket ? this.dataDir.apiSocket : undefined,
        auth: settings.auth.tokens.length > 0,
        local_token: join(this.dataDir.path, LOCAL_TOKEN_FILE),
      },
      gossip: {
        ports: {
          ...this.gossip.ports(),
          ...(this.dns.port !== undefined ? { dns: this.dns.port } : {}),
          ...this.metrics.listeningPorts,
        },
        cluster: this.gossip.cluster(),
        members: this.gossip.memberCounts(),
        encrypted: this.gossip.encryptionEnabled,
        primaryFingerprint: this.gossip.primaryFingerprint(),
      },
      subsystems,
      state: (states) => this.lifecycle.overall(states, this.gossip.hasLeft),
      config: {
        dir: this.config.configDir,
        files: this.config.files,
        definitions: this.config.definitions.length,
        warnings: this.config.warnings,
      },
      dataDir: this.dataDir.path,
    });
  }
}

export async function startAgent(options: StartOptions): Promise<number> {
  const configDir = resolve(options.configDir ?? defaultConfigDir());
  let config: LoadedConfig;
  try {
    config = loadAgentConfig(configDir);
  } catch (error) {
    if (!(error instanceof ConfigErrors)) throw error;
    return fail(
      [
        ...error.errors.map((e) => `config error: ${e.message}`),
        ...error.warnings.map((warning) => `config warning: ${warning}`),
      ],
      options.report,
    );
  }
  const { settings } = config;
  const dataDirPath = resolve(options.dataDir ?? (settings.data_dir || defaultDataDir()));

  if (options.daemon) {
    const waiting = options.showWaiting?.('starting the agent in the background');
    const outcome = await launchDaemon({
      args: [
        'agent',
        'start',
        '--config-dir',
        configDir,
        '--data-dir',
        dataDirPath,
        ...(options.autoDetect ? ['--auto-detect'] : []),
      ],
      logFile: resolve(dataDirPath, 'logs', 'opsbro.log'),
      stderrMaxBytes: settings.log.max_size_mb * 1024 * 1024,
    });
    waiting?.stop();
    if (outcome.type === 'failed') return fail([outcome.error], options.report);
    const logFile = resolve(dataDirPath, 'logs', 'opsbro.log');
    if (options.report) options.report.daemonStarted(outcome.pid, logFile);
    else process.stdout.write(`agent started in the background (pid ${outcome.pid}); logs: ${logFile}\n`);
    return 0;
  }

  let dataDir: DataDir;
  try {
    dataDir = await openDataDir(dataDirPath);
  } catch (error) {
    return fail([messageOf(error)], options.report);
  }

  const logFile = isDaemonChild()
    ? new RotatingFile(dataDir.logFile, settings.log.max_size_mb * 1024 * 1024, settings.log.keep_files)
    : undefined;
  // The daemon's stderr file (Node's last words on a crash) stays under the log's size limit too.
  if (logFile)
    new StderrFileCap({
      path: stderrFileOf(dataDir.logFile),
      maxBytes: settings.log.max_size_mb * 1024 * 1024,
    }).start();
  const logger = Logger.create({
    level: settings.log.level,
    format: (!logFile && options.logFormat) || settings.log.format,
    sink: logFile ? { kind: 'file', file: logFile } : { kind: 'fd', fd: 1 },
  });
  // Lines are queued and written asynchronously: every exit path (process.exit included) writes
  // what is left, so the lines that explain a stop or a crash are not lost.
  process.on('exit', () => logger.flushSync());
  for (const warning of config.warnings) logger.warn(`config: ${warning}`);
  if (dataDir.lock.stalePid)
    logger.warn('the previous agent on this data dir did not stop cleanly', { pid: dataDir.lock.stalePid });

  let store: Store;
  try {
    store = await openStore(dataDir.path);
  } catch (error) {
    dataDir.lock.release();
    logger.error('agent failed to start', { error: messageOf(error) });
    return fail([messageOf(error)], options.report);
  }
  const agent = new Agent(config, dataDir, logger, store, { autoDetect: options.autoDetect });
  // Before anything listens: a SIGTERM that arrives mid-start must still stop cleanly.
  installSignalHandlers(agent, logger);
  try {
    await agent.start();
  } catch (error) {
    await store.close().catch(() => undefined);
    dataDir.lock.release();
    logger.error('agent failed to start', { error });
    return fail([messageOf(error)], options.report);
  }
  // The launcher returns as soon as it hears: the log file should already say 'agent started'.
  logger.flushSync();
  reportToLauncher({ type: 'ready', pid: process.pid });
  return new Promise<number>(() => undefined);
}

/** The checks' switched-off set as one KV key (checks may not import the KV: it is wired here). */
function kvSwitchStore(kv: () => KvSubsystem): SwitchStore {
  const execute = (action: KvAction): Promise<KvActionResult> => kv().execute(action);
  return {
    async read() {
      const { record, index } = await execute({ action: 'get', key: DISABLED_CHECKS_KEY, consistent: true });
      // Absent (0 for compare-and-set), or deleted: the delete's index is the last change.
      if (!record) return { names: [], index: 0, changeIndex: index };
      let names: unknown;
      try {
        names = JSON.parse(Buffer.from(record.value).toString('utf8'));
      } catch {
        names = [];
      }
      return {
        names: Array.isArray(names) ? names.filter((name): name is string => typeof name === 'string') : [],
        index: indexOf(record.version),
      };
    },
    async write(names, index) {
      const value = Buffer.from(JSON.stringify(names));
      const written = await execute({ action: 'put', key: DISABLED_CHECKS_KEY, value, flags: 0, cas: index });
      return written.ok ? written.index : undefined;
    },
  };
}

/** News of the disabled-checks set: the indexes members announce, and this node's replica of the key. */
function gossipSwitchNews(gossip: () => GossipSubsystem, events: EventBus): SwitchNews {
  let applied = 0;
  return {
    highest: () => Math.max(applied, gossip().highestCheckSwitches()),
    announce: (index) => gossip().announceCheckSwitches(index),
    subscribe(listener) {
      const unsubscribes = [
        events.on('node-join', listener),
        events.on('node-update', listener),
        // A write that reached the key's replicas by any path (the Consul API too) is heard here.
        events.on('kv-change', ({ key, modify_index }) => {
          if (key !== DISABLED_CHECKS_KEY || modify_index <= applied) return;
          applied = modify_index;
          listener();
        }),
      ];
      return () => {
        for (const unsubscribe of unsubscribes) unsubscribe();
      };
    },
  };
}

function fail(lines: string[], report?: StartReport): number {
  const message = lines.join('\n');
  if (isDaemonChild()) reportToLauncher({ type: 'failed', error: message });
  else if (report) report.failed(lines);
  else for (const line of lines) process.stderr.write(`opsbro: ${line}\n`);
  return 1;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());
